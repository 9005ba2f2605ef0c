/**
 * Who a client request is charged to, for the per-client rate limit of the write routes.
 *
 * Never a value the client picks for itself: a header such as `x-sintra-client` would give every new value
 * a fresh bucket. By default the connecting address as the runtime saw it (the adapter supplies it: the
 * socket on Node, `cf-connecting-ip` on Cloudflare, which its edge sets), IPv6 addresses by their /64 (one
 * host usually holds a whole /64). Behind a proxy the operator names the header that proxy sets
 * (`SINTRA_TRUSTED_PROXY_HEADER`); it is read only then, and of a list (x-forwarded-for) the last entry
 * counts: the one the trusted proxy appended. With API keys configured, a request that carries one
 * (`authorization: Bearer <key>`) is charged to its key at the key's quota; `SINTRA_REQUIRE_API_KEY`
 * refuses writes without one.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

export interface ApiKey {
  /** Names the key in logs and errors (never the key itself). */
  readonly id: string;
  /** Lowercase hex SHA-256 of the key as the client sends it. */
  readonly sha256: string;
  /** Requests per second, and burst (default twice the rate). */
  readonly rate: number;
  readonly burst: number;
}

export interface AdmissionConfig {
  readonly apiKeys: readonly ApiKey[];
  readonly requireApiKey: boolean;
  /** Lowercase header name, or null: only the runtime's own view of the peer address counts. */
  readonly trustedProxyHeader: string | null;
}

export const NO_ADMISSION_CONFIG: AdmissionConfig = { apiKeys: [], requireApiKey: false, trustedProxyHeader: null };

/** What a request is charged to: a bucket name and its quota (null: the replica's default per-address quota). */
export type Principal =
  | { readonly ok: true; readonly bucket: string; readonly key: ApiKey | null }
  | { readonly ok: false; readonly status: 401; readonly code: 'api-key-required' | 'bad-api-key'; readonly message: string };

export interface RequestFacts {
  /** The `authorization` header, if any. */
  readonly authorization: string | undefined;
  /** Reads a request header (lowercase name). */
  readonly header: (name: string) => string | undefined;
  /** The peer address the runtime saw, if it tells. */
  readonly runtimeAddress: string | undefined;
}

export function principalOf(config: AdmissionConfig, keysByHash: ReadonlyMap<string, ApiKey>, r: RequestFacts): Principal {
  const auth = r.authorization?.trim();
  if (auth !== undefined && auth !== '') {
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m) return { ok: false, status: 401, code: 'bad-api-key', message: 'the authorization header must be "Bearer <api key>"' };
    const key = keysByHash.get(bytesToHex(sha256(utf8ToBytes(m[1]!))));
    if (!key) return { ok: false, status: 401, code: 'bad-api-key', message: 'unknown API key' };
    return { ok: true, bucket: `key:${key.id}`, key };
  }
  if (config.requireApiKey) return { ok: false, status: 401, code: 'api-key-required', message: 'this replica takes writes only with an API key (authorization: Bearer <key>)' };
  return { ok: true, bucket: `addr:${clientAddress(config, r)}`, key: null };
}

/** The address a request is charged to (see the module comment); 'unknown' when nothing tells. */
export function clientAddress(config: AdmissionConfig, r: Pick<RequestFacts, 'header' | 'runtimeAddress'>): string {
  if (config.trustedProxyHeader) {
    const v = r.header(config.trustedProxyHeader);
    const last = v?.split(',').at(-1)?.trim();
    if (last) return addressBucket(last);
  }
  return r.runtimeAddress ? addressBucket(r.runtimeAddress) : 'unknown';
}

/**
 * An address as its bucket: IPv4 as is (also when IPv4-mapped in IPv6), IPv6 by its first 64 bits in
 * canonical form, anything else (a proxy that wrote a name) lowercased and cut to 64 characters.
 */
export function addressBucket(address: string): string {
  let a = address.trim().toLowerCase();
  if (a.startsWith('[')) a = a.slice(1, a.indexOf(']') > 0 ? a.indexOf(']') : undefined);
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(a);
  if (mapped) return mapped[1]!;
  if (/^\d{1,3}(?:\.\d{1,3}){3}$/.test(a)) return a;
  const groups = ipv6Groups(a);
  if (groups) return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
  return a.slice(0, 64);
}

/** The eight 16-bit groups of an IPv6 address, or null if it is not one. */
function ipv6Groups(a: string): number[] | null {
  if (!/^[0-9a-f:.]+$/.test(a) || !a.includes(':')) return null;
  const halves = a.split('::');
  if (halves.length > 2) return null;
  const parse = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const part of s.split(':')) {
      if (/^\d{1,3}(?:\.\d{1,3}){3}$/.test(part)) {
        const o = part.split('.').map(Number);
        if (o.some((x) => x > 255)) return null;
        out.push((o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!);
      } else if (/^[0-9a-f]{1,4}$/.test(part)) out.push(parseInt(part, 16));
      else return null;
    }
    return out;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !tail) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const fill = 8 - head.length - tail.length;
  if (fill < 1) return null;
  return [...head, ...new Array<number>(fill).fill(0), ...tail];
}

export class AdmissionConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/**
 * Reads SINTRA_API_KEYS (JSON: [{"id", "sha256", "rate", "burst"?}], the hex SHA-256 of each key, so the
 * configuration does not hold the keys themselves), SINTRA_REQUIRE_API_KEY ("1"/"true") and
 * SINTRA_TRUSTED_PROXY_HEADER (a header name).
 */
export function admissionFromEnv(env: Readonly<Record<string, string | undefined>>): AdmissionConfig {
  const apiKeys: ApiKey[] = [];
  const raw = env['SINTRA_API_KEYS'];
  if (raw !== undefined && raw.trim() !== '') {
    let list: unknown;
    try {
      list = JSON.parse(raw);
    } catch {
      throw new AdmissionConfigError('SINTRA_API_KEYS', 'not JSON; expected [{"id": "...", "sha256": "<64 hex>", "rate": <requests per second>}]');
    }
    if (!Array.isArray(list)) throw new AdmissionConfigError('SINTRA_API_KEYS', 'expected a JSON array');
    const ids = new Set<string>();
    const hashes = new Set<string>();
    list.forEach((k: unknown, i) => {
      const at = `SINTRA_API_KEYS[${i}]`;
      if (typeof k !== 'object' || k === null || Array.isArray(k)) throw new AdmissionConfigError(at, 'expected an object');
      const o = k as Record<string, unknown>;
      const extra = Object.keys(o).filter((f) => !['id', 'sha256', 'rate', 'burst'].includes(f));
      if (extra.length > 0) throw new AdmissionConfigError(at, `unknown field ${extra[0]}`);
      if (typeof o['id'] !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(o['id'])) throw new AdmissionConfigError(`${at}.id`, 'expected 1-64 characters of A-Z a-z 0-9 . _ -');
      if (typeof o['sha256'] !== 'string' || !/^[0-9a-f]{64}$/.test(o['sha256'])) throw new AdmissionConfigError(`${at}.sha256`, 'expected the lowercase hex SHA-256 of the key (64 characters)');
      const rate = o['rate'];
      if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) throw new AdmissionConfigError(`${at}.rate`, 'expected a positive number (requests per second)');
      const burst = o['burst'] ?? rate * 2;
      if (typeof burst !== 'number' || !Number.isFinite(burst) || burst < 1) throw new AdmissionConfigError(`${at}.burst`, 'expected a number of at least 1');
      if (ids.has(o['id'])) throw new AdmissionConfigError(`${at}.id`, `duplicate id ${o['id']}`);
      if (hashes.has(o['sha256'])) throw new AdmissionConfigError(`${at}.sha256`, 'the same key is listed twice');
      ids.add(o['id']);
      hashes.add(o['sha256']);
      apiKeys.push({ id: o['id'], sha256: o['sha256'], rate, burst });
    });
  }
  const req = env['SINTRA_REQUIRE_API_KEY'];
  let requireApiKey = false;
  if (req !== undefined && req !== '') {
    if (!['1', 'true', '0', 'false'].includes(req)) throw new AdmissionConfigError('SINTRA_REQUIRE_API_KEY', 'expected 1, true, 0 or false');
    requireApiKey = req === '1' || req === 'true';
    if (requireApiKey && apiKeys.length === 0) throw new AdmissionConfigError('SINTRA_REQUIRE_API_KEY', 'no API key is configured (SINTRA_API_KEYS), so every write would be refused');
  }
  const h = env['SINTRA_TRUSTED_PROXY_HEADER']?.trim().toLowerCase();
  if (h !== undefined && h !== '' && !/^[a-z0-9-]{1,64}$/.test(h)) throw new AdmissionConfigError('SINTRA_TRUSTED_PROXY_HEADER', 'expected a header name such as x-forwarded-for');
  return { apiKeys, requireApiKey, trustedProxyHeader: h ? h : null };
}
