/**
 * Which group key a command trusts, and whether its replicas can carry a request.
 *
 * A reply is only as good as the key it is verified with. The key a replica serves at /v1/info is that
 * replica's word: a Byzantine replica serves a key of its own and then "verifies" its own forgeries. So a
 * command that verifies or encrypts needs the group pinned (`--group group.json`, the public file the
 * group's operators publish) or the explicit `--trust-served-group`, which says what it means on stderr.
 *
 * And a request given to fewer replicas than a kernel (a set the structure cannot corrupt whole: t + 1 of
 * a threshold group) may reach only Byzantine ones, which can drop it: a warning says so, also when no
 * group is pinned (then against the structure the replicas serve).
 */
import { parseGroup } from '../../shared/config/group.ts';
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
 *
 * With no pinned group (a plain `sintra submit`, which verifies nothing) the structure is the one the
 * replicas serve at /v1/info: the first group served, counting the replicas that serve that same group.
 * It is used for this warning only, never to verify or encrypt, and the warning says it was not pinned.
 * When no replica serves a group there is nothing to count against, and nothing is said here (the
 * submission itself then reports the replicas that fail).
 */
export async function warnUnlessKernel(group: Group | null, urls: readonly string[], log: (line: string) => void, timeoutMs = 10_000): Promise<void> {
  const infos = await Promise.all(
    urls.map(async (url) => {
      try {
        const res = await fetch(`${url}/v1/info`, { signal: AbortSignal.timeout(timeoutMs) });
        const j = (await res.json()) as { replica?: { index?: unknown }; group?: { groupId?: unknown } };
        return res.ok && typeof j.group?.groupId === 'string' && typeof j.replica?.index === 'number' ? { index: j.replica.index, groupId: j.group.groupId, file: j.group as unknown } : null;
      } catch {
        return null;
      }
    }),
  );
  const answered = infos.filter((i): i is NonNullable<typeof i> => i !== null);
  let against = group;
  if (!against) {
    for (const i of answered) {
      try {
        against = parseGroup(i.file);
        break;
      } catch {
        // not a valid group: try the next replica's
      }
    }
    if (!against) return;
  }
  const want = Buffer.from(against.groupId).toString('hex');
  const warning = notKernelWarning(against, answered.filter((i) => i.groupId === want).map((i) => i.index));
  if (warning) log(`${warning}${group ? '' : " (the group's structure as the replicas serve it: none is pinned)"}. Give more --url/--cluster replicas.`);
}
