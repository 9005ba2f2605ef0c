/**
 * Free loopback ports for tests that start servers whose addresses must be known in advance (replicas list
 * their peers' URLs before any of them listens). Ports are bound together, then released: a small race
 * with other processes remains, as with any such scheme.
 */
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';

function listen(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(null));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

const close = (servers: (Server | null)[]) => Promise.all(servers.map((s) => s && new Promise<void>((r) => s.close(() => r()))));

/** `count` free ports chosen by the kernel (not consecutive). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => listen(0)));
  const ports = servers.map((s) => (s ? (s.address() as AddressInfo).port : 0));
  await close(servers);
  if (ports.includes(0)) throw new Error('could not bind a loopback port');
  return ports;
}

/**
 * A base port such that base .. base + count - 1 are all free (replica i listens on base + i), picked
 * at random in 20000..32000: every integration test takes its range here, so parallel test files only
 * collide if two pick overlapping ranges between the check and the listen (a small race). Below Linux's
 * ephemeral range (32768..60999): there, the source port of any outgoing connection (replicas fetch from
 * each other all the time, beacon timers every second) could take a chosen port before its server
 * listens, which failed full runs with "address already in use" (twice in three runs).
 */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const servers = await Promise.all(Array.from({ length: count }, (_, i) => listen(base + i)));
    await close(servers);
    if (servers.every((s) => s)) return base;
  }
  throw new Error(`no ${count} consecutive free loopback ports found`);
}
