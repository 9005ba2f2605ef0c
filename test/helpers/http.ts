/** HTTP helpers for the integration tests that talk to real replicas on loopback. */

/** Node's fetch may reuse a keep-alive socket workerd already closed: retry once on a socket error. */
export async function http(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch {
    return fetch(url, init);
  }
}

/** GET base + path, with the status and the parsed JSON body. */
export async function getJson(base: string, path: string): Promise<{ status: number; json: any }> {
  const res = await http(`${base}${path}`);
  return { status: res.status, json: await res.json() };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `f` until it returns non-null (errors count as "not yet"); throws after `timeoutMs`. */
export async function waitFor<T>(f: () => Promise<T | null>, what: string, timeoutMs = 60_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => null);
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}
