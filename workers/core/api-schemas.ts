/**
 * Schemas of the replica API (docs/api.md) that several route modules share: the Error body, checkpoints,
 * receipts, request bodies and answers. Named ones (component) appear once in the OpenAPI document, under
 * #/components/schemas. A leaf: it imports only schema.ts.
 */
import { coded, component } from './schema.ts';
import type { Schema } from './schema.ts';

export const ERROR_SCHEMA = component('Error', {
  type: 'object',
  description: 'Every error answer: a stable code (docs/api.md, "Error codes") and a message for humans.',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      properties: { code: { type: 'string', description: 'stable error code (docs/api.md)' }, message: { type: 'string' } },
    },
  },
} as const satisfies Schema);

/** `n` bytes as lower-case hex. */
export const hex = (bytes: number, description?: string): Schema => ({ type: 'string', pattern: `^[0-9a-f]{${bytes * 2}}$`, ...(description ? { description } : {}) });
/** Any number of bytes as lower-case hex. */
export const HEX_BYTES: Schema = { type: 'string', pattern: '^([0-9a-f]{2})*$' };
export const NAT: Schema = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
export const BASE64: Schema = { type: 'string', contentEncoding: 'base64' };
export const BINARY: Schema = { type: 'string', format: 'binary' };
export const TEXT: Schema = { type: 'string' };
export const REPLICA_ID: Schema = { type: 'string', description: 'the replica id of group.json' };

export const nullable = (s: Schema): Schema => ({ anyOf: [s, { type: 'null' }] });
/** An object with exactly these fields, `optional` ones aside. */
export function exact(properties: Readonly<Record<string, Schema>>, optional: readonly string[] = [], description?: string): Schema {
  return {
    type: 'object',
    ...(description ? { description } : {}),
    required: Object.keys(properties).filter((k) => !optional.includes(k)),
    additionalProperties: false,
    properties,
  };
}

export const REQUEST_ID = hex(32, 'hex SHA-256 of the request (or of its ciphertext)');

export const CHECKPOINT_SCHEMA = component(
  'Checkpoint',
  exact(
    {
      size: NAT,
      root: hex(32),
      epoch: NAT,
      stateDigest: hex(32),
      time: { ...NAT, description: "the epoch's agreed time, ms since 1970-01-01T00:00:00Z (payload version 2; absent in version 1)" },
      timeChain: hex(32, 'hash chain over the (epoch, time) of the epochs that appended entries (payload version 2)'),
      signature: hex(48, 'BLS12-381 G1 signature by the kernel group key (docs/formats.md)'),
    },
    ['time', 'timeChain'],
    'A group-signed checkpoint (docs/formats.md, section 6).',
  ),
);

export const RECEIPT_SCHEMA = component(
  'Receipt',
  exact(
    {
      format: { type: 'string', const: 'sintra-edge/receipt@1' },
      groupId: hex(32),
      entry: HEX_BYTES,
      index: NAT,
      proof: { type: 'array', maxItems: 64, items: hex(32) },
      checkpoint: CHECKPOINT_SCHEMA,
    },
    [],
    'A receipt: entry, RFC 6962 inclusion proof and group-signed checkpoint, verifiable offline with group.json (docs/formats.md, section 8).',
  ),
);

/** One client request as a JSON object: exactly one of text, data or ciphertext (POST /v1/requests, batch items). */
export const REQUEST_OBJECT = component(
  'RequestObject',
  coded(
    {
      description: 'A request: its text (UTF-8), its bytes (base64), or a TDH2 ciphertext of it (base64). Not empty.',
      oneOf: [
        exact({ text: { type: 'string', minLength: 1 } }),
        exact({ data: { ...BASE64, minLength: 1 } }),
        exact({ ciphertext: { ...BASE64, minLength: 1, description: 'a TDH2 ciphertext (shared/client/encrypt.ts)' } }),
      ],
    } satisfies Schema,
    'bad-request',
    'expected exactly one field: "data" (base64), "text" (string) or "ciphertext" (base64 TDH2 ciphertext)',
  ),
);

export const SUBMIT_STATUS: Schema = { type: 'string', enum: ['pending', 'ordered'] };

/** The answer to a submission (POST /v1/requests). */
export const SUBMITTED_SCHEMA = component(
  'Submitted',
  exact({ id: REQUEST_ID, status: SUBMIT_STATUS, index: NAT, encrypted: { type: 'boolean', const: true }, replica: REPLICA_ID }, ['index', 'encrypted']),
);

export const REQUEST_STATUS_SCHEMA = component('RequestStatus', {
  oneOf: [
    exact({ id: REQUEST_ID, status: { type: 'string', enum: ['pending', 'decrypting', 'skipped'] } }),
    exact(
      { id: REQUEST_ID, status: { type: 'string', enum: ['ordered', 'certified'] }, index: NAT, epoch: NAT, plaintextId: REQUEST_ID, checkpoint: nullable(CHECKPOINT_SCHEMA) },
      ['plaintextId'],
    ),
  ],
} satisfies Schema);

/** Health: the 503 answer carries the error and the replica's state. */
export const HEALTH_DOWN_SCHEMA: Schema = {
  allOf: [ERROR_SCHEMA, { type: 'object', properties: { ok: { type: 'boolean', const: false }, replica: REPLICA_ID, logSize: NAT } }],
};

/** Errors every write route answers (admission, body limit, the host's queue and memory budget). */
export const WRITE_ERRORS = {
  '401': 'API key missing (when the replica requires one) or unknown',
  '413': 'too large',
  '429': 'rate limited',
  '503': 'overloaded (queue full) or memory-full (state at the memory budget)',
} as const;
