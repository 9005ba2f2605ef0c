/**
 * `sintra beacon get [ROUND]`: fetch a round of the group's randomness beacon (docs/beacon.md) from the
 * replicas, in the order given, and print the first answer that verifies against the pinned group.json:
 * the round asked for, the signature under keys.beacon, randomness = SHA-256(signature) (the checks
 * drand-client makes, shared/client/beacon.ts). A replica whose answer does not verify is named on stderr
 * and the next one asked. Exit codes: 0 a verified round, 1 none (or the group has no beacon), 2 usage.
 */
import type { Command } from 'commander';
import { toHex } from '../../shared/crypto/bytes.ts';
import { MAX_ROUND } from '../../shared/crypto/beacon.ts';
import { checkBeaconJson } from '../../shared/client/beacon.ts';
import { UsageError } from './deal.ts';
import type { Io } from './deal.ts';
import { baseUrl, collectUrl, HTTP_TIMEOUT_MS, networkReason } from './client.ts';
import { loadGroupFile } from './verify.ts';

export interface BeaconGetOptions {
  cluster?: string[];
  group?: string;
  json?: boolean;
}

function parseRound(text: string | undefined): number | undefined {
  if (text === undefined || text === 'latest') return undefined;
  if (!/^[0-9]{1,16}$/.test(text) || Number(text) < 1 || Number(text) > MAX_ROUND) throw new UsageError(`ROUND must be a positive integer (or latest), got ${JSON.stringify(text)}`);
  return Number(text);
}

export async function beaconGetCommand(roundText: string | undefined, opts: BeaconGetOptions, io: Io): Promise<number> {
  const round = parseRound(roundText);
  if (!opts.cluster || opts.cluster.length === 0) throw new UsageError('give at least one --cluster URL');
  if (opts.group === undefined) throw new UsageError("give --group group.json: rounds are verified with the group's beacon key, never with a key a replica serves");
  const urls = opts.cluster.map(baseUrl);
  const group = await loadGroupFile(opts.group);
  const b = group.beacon;
  if (b === undefined) {
    io.err(`error: ${opts.group} has no beacon key (keys.beacon): the group was dealt without --beacon\n`);
    return 1;
  }
  const chain = toHex(b.chainHash);
  const path = `/${chain}/public/${round ?? 'latest'}`;
  const refused: string[] = [];
  for (const url of urls) {
    let status: number;
    let body: unknown;
    try {
      const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
      status = res.status;
      const text = await res.text();
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
    } catch (e) {
      refused.push(`${url}: ${networkReason(e, HTTP_TIMEOUT_MS).reason}`);
      continue;
    }
    if (status !== 200) {
      const err = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
      refused.push(`${url}: HTTP ${status}${typeof err?.message === 'string' ? ` ${err.message}` : ''}`);
      continue;
    }
    const check = checkBeaconJson(b, body, round);
    if (!check.ok) {
      io.err(`warning: ${url} served a round that does not verify: ${check.reason}\n`);
      refused.push(`${url}: does not verify (${check.reason})`);
      continue;
    }
    const out = { round: check.round, randomness: toHex(check.randomness), signature: toHex(check.signature), chainHash: chain, replica: url, verified: true };
    if (opts.json) io.out(`${JSON.stringify(out)}\n`);
    else io.out([`round ${out.round}`, `  randomness ${out.randomness}`, `  signature  ${out.signature}`, `  verified against ${opts.group} (drand chain ${chain}), from ${url}`].join('\n') + '\n');
    return 0;
  }
  io.err(`error: no replica served a verified round ${round ?? '(latest)'}: ${refused.join('; ')}\n`);
  return 1;
}

export function registerBeaconCommand(program: Command, io: Io, setCode: (code: number) => void): void {
  const beacon = program.command('beacon').description("the group's randomness beacon (drand bls-unchained-g1-rfc9380; docs/beacon.md)");
  beacon
    .command('get')
    .description('fetch a round (default the latest) from the replicas and verify it against the pinned group.json; exit 0 only for a verified round')
    .argument('[round]', 'the round number, or latest (default)')
    .option('--cluster <url>', "a replica's base URL (repeatable; asked in order until one serves a round that verifies)", collectUrl)
    .option('--group <file>', "the group's public group.json (its keys.beacon verifies the round)")
    .option('--json', 'print the round as one JSON object')
    .addHelpText('after', ['', 'Example:', '  sintra beacon get 1 --cluster http://127.0.0.1:8787 --cluster http://127.0.0.1:8788 --group .sintra/keys/group.json'].join('\n'))
    .action(async (round: string | undefined, opts: BeaconGetOptions) => setCode(await beaconGetCommand(round, opts, io)));
}
