/**
 * Builds a replica's protocol context and engine from the dealer's public group.json and the replica's
 * own secrets (shared/config), with the real threshold crypto.
 */
import type { Group, ReplicaSecrets } from '../config/group.ts';
import type { ProtocolContext } from '../protocols/context.ts';
import { realCrypto, realDecryptor } from '../protocols/crypto-suite.ts';
import type { ThresholdDecryptor } from '../protocols/crypto-suite.ts';
import { ReplicaEngine } from './engine.ts';
import type { EngineOptions } from './engine.ts';

/**
 * Largest value a broadcast may carry. It must travel in one link frame (MAX_FRAME_BYTES, 4 MiB, with the
 * message and frame headers): a bigger batch could never reach the peers, and its epoch would stall.
 * Atomic broadcast caps its proposals by these bytes, so batches of big requests are simply shorter.
 */
export const DEFAULT_MAX_VALUE_BYTES = 3 * 1024 * 1024;

export function contextFromConfig(group: Group, secrets: ReplicaSecrets, maxValueBytes = DEFAULT_MAX_VALUE_BYTES): ProtocolContext {
  return {
    me: secrets.index,
    n: group.replicas.length,
    quorum: group.quorumSystem,
    maxValueBytes,
    crypto: realCrypto({
      groupId: group.groupId,
      kernel: group.kernel,
      quorum: group.quorum,
      kernelShare: secrets.kernel,
      quorumShare: secrets.quorum,
      ...(group.echo && secrets.echo ? { echo: { publicKeys: group.echo, seed: secrets.echo } } : {}),
    }),
  };
}

export function decryptorFromConfig(group: Group, secrets: ReplicaSecrets): ThresholdDecryptor {
  return realDecryptor(group.groupId, group.encryption, secrets.encryption);
}

export function engineFromConfig(group: Group, secrets: ReplicaSecrets, options: EngineOptions = {}): ReplicaEngine {
  return new ReplicaEngine(contextFromConfig(group, secrets), options, decryptorFromConfig(group, secrets));
}
