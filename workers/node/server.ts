/**
 * Runs a NodeReplica as an HTTP server on @hono/node-server, and the process around it: configuration from
 * the environment (config.ts), clean shutdown on SIGINT/SIGTERM (stop accepting, finish flushes, close
 * the store and release its lock).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { accessLogOption, logLine } from '../core/log.ts';
import { healthStallOption } from '../core/health.ts';
import { beaconTimersOption } from '../core/beacon.ts';
import { admission, clientRate, corsOrigins, loadGroup, loadSecrets, openStore, parsePeers, storeSpecFromEnv } from './config.ts';
import type { Env, StoreSpec } from './config.ts';
import { hostEnvOptions } from '../core/host.ts';
import { NodeReplica } from './replica.ts';

export interface ServedReplica {
  readonly replica: NodeReplica;
  readonly url: string;
  /** Stops the HTTP server and the replica (its state stays in its store). */
  close(): Promise<void>;
}

export async function serveReplica(replica: NodeReplica, o: { readonly port: number; readonly hostname?: string }): Promise<ServedReplica> {
  const hostname = o.hostname ?? '127.0.0.1';
  const server = createAdaptorServer({ fetch: replica.app.fetch }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, hostname, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  await replica.start();
  let closing: Promise<void> | null = null;
  return {
    replica,
    url: `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`,
    close: () =>
      (closing ??= (async () => {
        const stopped = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        // Requests in progress get a moment to finish; then their connections go too.
        const timer = setTimeout(() => server.closeAllConnections(), 2000);
        await stopped;
        clearTimeout(timer);
        await replica.close();
      })()),
  };
}

export interface NodeReplicaRun {
  readonly env: Env;
  readonly port: number;
  readonly hostname?: string;
  /** Overrides the store chosen from the environment. */
  readonly store?: StoreSpec;
  readonly log?: (line: string) => void;
}

/** Builds the replica from the environment and serves it. */
export async function startNodeReplica(r: NodeReplicaRun): Promise<ServedReplica> {
  const log = r.log ?? ((line: string) => console.error(line));
  const group = loadGroup(r.env);
  const secrets = loadSecrets(r.env, group);
  const peers = parsePeers(r.env['SINTRA_PEERS'], group, secrets.index);
  const spec = r.store ?? storeSpecFromEnv(r.env);
  const store = await openStore(spec, group, secrets, log);
  try {
    const replica = new NodeReplica({ group, secrets, store, peers, clientRate: clientRate(r.env), admission: admission(r.env), corsOrigins: corsOrigins(r.env), host: hostEnvOptions(r.env), accessLog: accessLogOption(r.env['SINTRA_ACCESS_LOG']), ...healthStallOption(r.env['SINTRA_HEALTH_STALL_SECONDS']), ...beaconTimersOption(r.env['SINTRA_BEACON_TIMERS']), log });
    const served = await serveReplica(replica, { port: r.port, ...(r.hostname ? { hostname: r.hostname } : {}) });
    log(logLine('info', secrets.id, 'listening', `replica ${secrets.id} (index ${secrets.index}) on ${served.url}, state in ${spec.kind === 'file' ? spec.dir : `Redis at ${new URL(spec.url).host}`}`, { url: served.url, index: secrets.index }));
    return served;
  } catch (e) {
    await store.close?.();
    throw e;
  }
}

/** Resolves on the first SIGINT or SIGTERM (and stops listening for them). */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(s);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
