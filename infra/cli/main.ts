/**
 * The `sintra` command line (infra/bin/sintra.mjs runs `main(process.argv)` and exits with its result).
 * Library code never calls process.exit: commander runs with exitOverride and its exit codes are returned.
 * Every failure is one line `error: <message>` on stderr: exit code 2 for usage errors, 1 for everything else.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { ConfigError } from '../../shared/config/group.ts';
import { StructureError } from '../../shared/quorum/quorum-system.ts';
import { DealerError, UsageError, dealCommand, verifyCommand } from './deal.ts';
import { DeployError } from '../deploy/deployment.ts';
import type { DeployConfigOptions } from '../deploy/command.ts';
import type { DealOptions, Io, VerifyCommandOptions } from './deal.ts';
import { registerNodeReplicaCommand } from './node-replica.ts';
import { collect, integer } from './options.ts';
import { registerBeaconCommand } from './beacon.ts';
import { registerSignCommands } from './sign.ts';
import { registerStampCommand } from './stamp.ts';
import { registerCaCommand } from './ca.ts';
import type { StartOptions } from './start.ts';
import type { SimulateOptions } from './simulate.ts';
import { collectUrl, seconds } from './client.ts';
import { submitCommand } from './submit.ts';
import type { SubmitOptions } from './submit.ts';
import { verifyReceiptCommand } from './verify.ts';
import type { VerifyReceiptOptions } from './verify.ts';
import { consistencyCommand, registerExportCommand, registerMonitorCommand, verifyArchiveCommand } from './monitor.ts';
import type { ConsistencyCommandOptions } from './monitor.ts';
import { useNativeEd25519 } from '../../workers/core/native-ed25519.ts';
import { useNativeSha256 } from '../../workers/core/native-sha256.ts';

export type { Io };

/**
 * Run from the JavaScript that `npm run build` emits (dist/infra/cli/main.js: the installed package), not
 * from the TypeScript source of a checkout (tsx).
 */
const BUILT = !import.meta.url.endsWith('.ts');

const pkg = JSON.parse(readFileSync(new URL(BUILT ? '../../../package.json' : '../../package.json', import.meta.url), 'utf8')) as { version: string; description: string };

/**
 * The commands that run or bundle replicas from the TypeScript sources with the dev dependencies (esbuild,
 * miniflare and workerd, better-sqlite3) are loaded only when they run, so that the others (verify above
 * all) load none of that; from the installed package, which has neither, they say where they run instead.
 */
async function checkoutOnly<T>(command: string, load: () => Promise<T>): Promise<T> {
  if (BUILT) {
    throw new Error(
      `sintra ${command} runs in a checkout of the repository (npm ci, then npx sintra ${command}): it bundles the replicas' TypeScript sources with the dev dependencies (esbuild, miniflare); the installed package has the SDK, the offline verifiers and the client commands`,
    );
  }
  return load();
}

const processIo: Io = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
};

function count(name: string, min: number) {
  return (value: string): number => {
    if (!/^[0-9]{1,4}$/.test(value) || Number(value) < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return Number(value);
  };
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

export function buildProgram(io: Io, setCode: (code: number) => void): Command {
  const program = new Command('sintra')
    .description(pkg.description)
    .version(pkg.version, '-V, --version', 'print the version')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showSuggestionAfterError(false); // keeps every error on one line

  const deal = program
    .command('deal')
    .description('trusted dealer: generate the group keys, key shares and link keys once, offline')
    .option('--n <count>', 'number of replicas (threshold structure, ids r1..rN)', count('--n', 1))
    .option('--t <count>', 'replicas that may be corrupted (needs n > 3t)', count('--t', 0))
    .option('--structure <file>', 'structure file: replicas with attributes and the adversary (JSON)')
    .option('--out <dir>', 'output directory (must not exist or be empty)')
    .option('--seed <hex>', 'deterministic keys from a seed: TEST KEYS ONLY')
    .option('--json', 'print the public summary as JSON')
    .option('--rsa', 'also deal a threshold RSA key (threshold structures only) and write its root CA and TSA certificates')
    .option('--rsa-bits <bits>', 'with --rsa: modulus size (default 2048; safe primes from node:crypto)', integer('--rsa-bits', 1024, 8192))
    .option('--rsa-primes <file>', 'with --rsa: take the safe primes from {"p": hex, "q": hex} (tests; the file is the whole RSA key)')
    .option('--cert-years <years>', 'with --rsa: the certificates are valid this many years (default 10)', integer('--cert-years', 1, 100))
    .option('--cert-start <time>', 'with --rsa: start of validity, UTC (2026-01-01 or 2026-01-01T12:00:00Z; default now)')
    .option('--cert-name <name>', 'with --rsa: start of the common names (default: 16 hex digits of the group id)')
    .option('--beacon', 'also deal a randomness beacon key (drand bls-unchained-g1-rfc9380; docs/beacon.md)')
    .option('--beacon-period <seconds>', 'with --beacon: seconds between rounds (default 3)', integer('--beacon-period', 1, 4294967295))
    .option('--beacon-genesis <time>', 'with --beacon: when round 1 is due, Unix seconds or UTC (2026-01-01T12:00:00Z; default now)')
    .option('--beacon-id <id>', 'with --beacon: the drand beacon id (default sintra- and 16 hex digits of the group id)')
    .option('--signer-policy <file>', 'also run the signing service with this initial policy (docs/signer.md; sintra signer policy init)')
    .option('--signer-rsa', 'with --signer-policy: also a threshold RSA key of its own for purposes with scheme rsa-pkcs1-sha256 (--rsa-bits sets its size)')
    .option('--signer-rsa-primes <file>', 'with --signer-rsa: take its safe primes from {"p": hex, "q": hex} (tests)')
    .addHelpText(
      'after',
      [
        '',
        'Writes DIR/group.json (public) and DIR/<id>.secrets.json per replica (mode 0600, for `wrangler secret bulk`);',
        'with --rsa also DIR/root-ca.pem and DIR/tsa.pem (public; the same texts are in group.json).',
        'Examples:',
        '  sintra deal --n 4 --t 1 --out keys',
        '  sintra deal --n 4 --t 1 --rsa --out keys',
        '  sintra deal --structure grid.json --out keys',
        '  sintra deal verify keys',
      ].join('\n'),
    )
    .action(async (opts: DealOptions) => setCode(await dealCommand(opts, io)));

  deal
    .command('verify')
    .description("check a dealer's output: strict parsing, Q3, key consistency, every secrets file against its row keys")
    .argument('<dir>', 'directory written by `sintra deal`')
    .option('--json', 'print the report as JSON')
    .option('--allow-missing', 'only check the secrets files that are present')
    .action(async (dir: string, opts: VerifyCommandOptions) => setCode(await verifyCommand(dir, opts, io)));

  program
    .command('simulate')
    .description('run a protocol, or whole replicas (--replica), in the deterministic simulator over a range of seeds (adversarial network, Byzantine replicas)')
    .option('--protocol <name>', 'rbc, cbc, aba, mvba, ab or scab')
    .option('--replica', 'simulate complete replicas (engine, host core, storage) under crashes, storage faults and fuzzed or scripted Byzantine replicas')
    .option('--n <count>', 'number of replicas (threshold structure)', integer('--n', 1, 1000))
    .option('--t <count>', 'replicas that may be corrupted (default: the largest with n > 3t)', integer('--t', 0, 1000))
    .option('--structure <file>', 'structure file (as for `sintra deal --structure`) instead of --n/--t')
    .option('--seeds <count>', 'number of runs (seeds)', integer('--seeds', 1, 100_000_000))
    .option('--seed-start <seed>', 'first seed (default 1)', integer('--seed-start', 0, 0xffffffff))
    .option('--byzantine <kind>', "corrupted replicas' behaviour, 'assorted', 'none' or 'all' (rotates by seed; default)")
    .option('--crypto <mode>', 'insecure (fast stand-in, default), real (threshold BLS, TDH2, Ed25519 echoes) or real-bls (threshold BLS echoes)')
    .option('--corrupt <list>', 'exactly these replicas are corrupted, e.g. 0,1 (may exceed the structure: negative controls)')
    .option('--faulty <count>', 'corrupt only this many of a maximal corruptible set', integer('--faulty', 0, 1000))
    .option('--gst <step>', 'step (with --replica: virtual ms) at which the network turns fair (default: seeded)', integer('--gst', 0, 1_000_000_000))
    .option('--max-steps <steps>', 'stop a run after this many steps', integer('--max-steps', 1, 1_000_000_000))
    .option('--param <k=v>', 'scenario parameter (repeatable), e.g. --param sender=byzantine', collect)
    .option('--json', 'print the summary as one JSON object')
    .addHelpText(
      'after',
      [
        '',
        'Exit code 1 if any run violated safety or liveness; each failed run prints the command that replays it.',
        'Examples:',
        '  sintra simulate --protocol rbc --n 4 --seeds 1000',
        '  sintra simulate --protocol scab --n 7 --seeds 200 --byzantine scab-early',
        '  sintra simulate --protocol rbc --n 4 --seeds 50 --corrupt 0,1 --byzantine rbc-split --param sender=byzantine',
        '  sintra simulate --replica --n 4 --seeds 200 --byzantine fuzz --json',
        '  sintra simulate --replica --n 7 --seeds 50 --byzantine all --param requests=30',
        'With --replica, --byzantine is silent, fuzz (default), twins, aba-split, equivocate, garbage, replay,',
        'bad-shares, vote-both, mixed, assorted, none or all; --param takes requests, requestBytes, burstMs, encrypted,',
        'crashes, sharedRollback, afterGstMs, maxValueBytes, maxBatch.',
      ].join('\n'),
    )
    .action(async (opts: SimulateOptions) => setCode(await (await import('./simulate.ts')).simulateCommand(opts, io)));

  program
    .command('start')
    .description('run a local cluster of Durable Object replicas in Miniflare, served on localhost (no account, no cloud)')
    .option('--n <count>', 'replicas of a new threshold group (default 4)', count('--n', 1))
    .option('--structure <file>', 'structure file for a new group instead of --n')
    .option('--data <dir>', 'data folder: keys and replica state (default .sintra)')
    .option('--port <base>', 'first localhost port; replica i listens on base + i (default 8787)', integer('--port', 1, 65535))
    .option('--json', 'print the ready line as JSON: {"ready": true, "replicas": [...], "group": path}')
    .option('--mixed', 'run half the replicas in Miniflare and half as Node replicas (local file store under DATA/node)')
    .option('--separate', 'each Worker replica in a workerd process of its own, peers over loopback HTTP: uses every core (about 7x the requests/s of one process with one request per POST); a data folder keeps the layout it was first started with')
    .option('--memory-budget-mb <mb>', "each replica's memory budget in MiB: past it, submissions get 503 memory-full (default 64)", integer('--memory-budget-mb', 1, 1 << 20))
    .option('--cors-origins <list>', 'browser origins allowed on the client and read routes (SINTRA_CORS_ORIGINS): * (default), none, or a comma-separated list such as https://dash.example.org,http://localhost:3000')
    .option('--beacon-period <seconds>', 'seconds between rounds of the randomness beacon dealt with new keys (default 3; keys dealt before keep theirs)', integer('--beacon-period', 1, 4294967295))
    .option('--no-rsa', 'deal new keys without the threshold RSA key of the time-stamping authority (POST /v1/tsa) and the CA certificates; saves generating two safe primes (seconds)')
    .addHelpText(
      'after',
      [
        '',
        'Deals keys into DATA/keys on the first start, then reuses them; state persists under DATA/state.',
        'Prints one line `ready URL...` on stdout when every replica answers.',
      ].join('\n'),
    )
    .action(async (opts: StartOptions) => setCode(await (await checkoutOnly('start', () => import('./start.ts'))).startCommand(opts, io)));

  program
    .command('submit')
    .description('submit a request to the replicas; with --wait, wait until it is certified and verify its receipt')
    .argument('[payload]', 'the request as text (or use --file)')
    .option('--url <url>', "a replica's base URL (repeatable; reach a kernel: t + 1 replicas for a threshold group)", collectUrl)
    .option('--file <file>', 'send the raw bytes of FILE instead of PAYLOAD')
    .option('--wait', 'wait until the request is certified, then fetch its receipt and verify it')
    .option('--out <file>', 'save the verified receipt to FILE (implies --wait; never overwritten without --force)')
    .option('--force', 'overwrite the --out file if it exists')
    .option('--group <file>', 'pin the group: refuse replicas serving another group and verify with this group.json')
    .option('--trust-served-group', 'without --group: encrypt to / verify with the group key the replicas serve (a Byzantine replica can serve its own)')
    .option('--encrypt', "encrypt the request to the group's key: no replica sees it before its place in the order is fixed")
    .option('--label <label>', 'with --encrypt: the label bound to the ciphertext (default "sintra-cli")')
    .option('--timeout <seconds>', `give up after this long (default 120)`, seconds)
    .option('--json', 'print the result as one JSON object')
    .addHelpText(
      'after',
      [
        '',
        'Prints the request id (SHA-256 of the request). Progress goes to stderr.',
        'Examples:',
        '  sintra submit --url http://127.0.0.1:8787 --url http://127.0.0.1:8788 hello',
        '  sintra submit --url http://127.0.0.1:8787 --url http://127.0.0.1:8788 --group .sintra/keys/group.json --wait --out receipt.json hello',
        '  sintra submit --url https://r1.example --url https://r2.example --file document.pdf --group keys/group.json --wait --json',
        '  sintra submit --url http://127.0.0.1:8787 --url http://127.0.0.1:8788 --group .sintra/keys/group.json --encrypt --wait "sealed bid: 42"',
      ].join('\n'),
    )
    .action(async (payload: string | undefined, opts: SubmitOptions) => setCode(await submitCommand(payload, opts, io)));

  program
    .command('verify')
    .description('verify a receipt offline with the public group.json (exit code 0 only for a valid receipt); with --consistency, that two saved checkpoints are of one history')
    .argument('<files...>', 'a receipt JSON (from GET /v1/receipts/:id or `sintra submit --out`); with --consistency: OLD NEW, two saved checkpoints (GET /v1/log/checkpoint, or receipts or statements holding one)')
    .option('--group <file>', "the group's public group.json")
    .option('--consistency', 'check that the two checkpoints are consistent (the larger extends the smaller); exit 1 with the evidence on a fork, 3 when undecided')
    .option('--archive', 'check an exported tiles folder (`sintra export`) against its signed checkpoint')
    .option('--cluster <url>', 'with --consistency: a replica to ask for the consistency proof (repeatable; the proof is checked here)', collectUrl)
    .option('--json', 'print the verdict as JSON')
    .action(async (files: string[], opts: VerifyReceiptOptions & ConsistencyCommandOptions & { consistency?: boolean; archive?: boolean }) => {
      if (opts.consistency) return setCode(await consistencyCommand(files, opts, io));
      if (files.length !== 1) throw new UsageError('verify takes one receipt (or --consistency OLD NEW, or --archive DIR)');
      if (opts.archive) return setCode(await verifyArchiveCommand(files[0]!, opts, io));
      setCode(await verifyReceiptCommand(files[0]!, opts, io));
    });

  registerMonitorCommand(program, io, setCode);
  registerExportCommand(program, io, setCode);

  registerNodeReplicaCommand(program, io, setCode);
  registerStampCommand(program, io, setCode);
  registerCaCommand(program, io, setCode);
  registerBeaconCommand(program, io, setCode);
  registerSignCommands(program, io, setCode);

  program
    .command('deploy-config')
    .description('generate one wrangler config per Cloudflare replica (and the Lambda package) from group.json and a deployment file')
    .option('--deployment <file>', 'deployment file: provider, account and URL of every replica (JSON, also read by terraform/)')
    .option('--group <file>', 'group.json (default: "group_file" of the deployment file)')
    .option('--keys <dir>', "directory of the dealer's <id>.secrets.json files (default: the group file's directory)")
    .option('--out <dir>', 'output directory for the configs, deploy.sh and plan.json')
    .option('--group-as <mode>', 'auto (default), var (SINTRA_GROUP variable, 5 KB at most) or module (bundled into the Worker)')
    .option('--lambda-entry <file>', 'Lambda replica module exporting handler and tick (default workers/node/lambda.ts)')
    .option('--json', 'print the plan as JSON')
    .addHelpText('after', ['', 'Example:', '  sintra deploy-config --deployment deployment.json --out deploy', '  sh deploy/deploy.sh r1'].join('\n'))
    .action(async (opts: DeployConfigOptions) => setCode(await (await checkoutOnly('deploy-config', () => import('../deploy/command.ts'))).deployConfigCommand(opts, io)));

  return program;
}

export async function main(argv: readonly string[] = process.argv, io: Io = processIo): Promise<number> {
  useNativeEd25519();
  useNativeSha256(); // the simulator, the dealer and the clients hash as a replica does (same outputs, faster)
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync([...argv]);
    return code;
  } catch (e) {
    // Commander already printed the help, the version or its one-line usage error.
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof UsageError) {
      io.err(`error: ${oneLine(e.message)}\n`);
      return 2;
    }
    if (e instanceof DealerError || e instanceof DeployError || e instanceof ConfigError || e instanceof StructureError || e instanceof CryptoError) {
      io.err(`error: ${oneLine(e.message)}\n`);
      return 1;
    }
    io.err(`error: ${oneLine(e instanceof Error ? e.message : String(e))}\n`);
    if (process.env['SINTRA_DEBUG'] && e instanceof Error && e.stack) io.err(`${e.stack}\n`);
    return 1;
  }
}
