/**
 * Which group key a command trusts, and whether its replicas can carry a request.
 *
 * A reply is only as good as the key it is verified with. The key a replica serves at /v1/info is that
 * replica's word: a Byzantine replica serves a key of its own and then "verifies" its own forgeries. So a
 * command that verifies or encrypts needs the group pinned (`--group group.json`, the public file the
 * group's operators publish) or the explicit `--trust-served-group`, which says what it means on stderr.
 *
 * And a request given to fewer replicas than a kernel (a set the structure cannot corrupt whole: t + 1 of
 * a threshold group) may reach only Byzantine ones, which can drop it: a warning says so.
 */
import type { Group } from '../../shared/config/group.ts';
import { notKernelWarning } from '../../shared/client/sdk.ts';
import { UsageError } from './deal.ts';
import { loadGroupFile } from './verify.ts';

export interface TrustOptions {
  group?: string;
  trustServedGroup?: boolean;
}

export const PIN_HELP = "give --group group.json (the group's public keys, as its operators publish them) to pin the key replies are verified with, or --trust-served-group to take the key the replicas serve";

/** Usage checks, before anything is sent: both flags together, or neither when `needed`. */
export function checkTrustUsage(opts: TrustOptions, needed: boolean, what: string): void {
  if (opts.group !== undefined && opts.trustServedGroup) throw new UsageError('give --group or --trust-served-group, not both');
  if (needed && opts.group === undefined && !opts.trustServedGroup) throw new UsageError(`${what} needs the group's key: ${PIN_HELP}`);
}

/** The warning printed when the served group is trusted. */
export function servedTrustWarning(groupId: Uint8Array | string, urls: readonly string[]): string {
  const id = typeof groupId === 'string' ? groupId : Buffer.from(groupId).toString('hex');
  return `warning: --trust-served-group: trusting group ${id.slice(0, 16)}... as served by ${urls.length === 1 ? urls[0] : `${urls.length} replicas`}; a Byzantine replica can serve a key of its own. Pin it with --group group.json.`;
}

/** The pinned group, or (with --trust-served-group) the one `served` fetches; `served` prints servedTrustWarning. */
export async function trustedGroup(opts: TrustOptions, served: () => Promise<Group>): Promise<Group> {
  checkTrustUsage(opts, true, 'this command');
  return opts.group !== undefined ? loadGroupFile(opts.group) : served();
}

/**
 * Warns on stderr when the replicas at `urls` (by the index each reports at /v1/info) are not a kernel of
 * `group`. Replicas that do not answer, or serve another group, do not count.
 */
export async function warnUnlessKernel(group: Group, urls: readonly string[], log: (line: string) => void, timeoutMs = 10_000): Promise<void> {
  const want = Buffer.from(group.groupId).toString('hex');
  const indices = await Promise.all(
    urls.map(async (url) => {
      try {
        const res = await fetch(`${url}/v1/info`, { signal: AbortSignal.timeout(timeoutMs) });
        const j = (await res.json()) as { replica?: { index?: unknown }; group?: { groupId?: unknown } };
        return res.ok && j.group?.groupId === want && typeof j.replica?.index === 'number' ? j.replica.index : null;
      } catch {
        return null;
      }
    }),
  );
  const warning = notKernelWarning(group, indices.filter((i): i is number => i !== null));
  if (warning) log(`${warning}. Give more --url/--cluster replicas.`);
}
