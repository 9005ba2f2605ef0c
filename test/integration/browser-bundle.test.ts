/**
 * The SDK in a browser (issue 17): esbuild bundles the package's main entry (shared/entry/index.ts, the
 * `sintra-edge` export: the client and every offline verifier) for platform "browser", with no Node
 * built-in allowed (esbuild refuses to resolve `node:*` there, and nothing is marked external), and the
 * bundle verifies a real receipt (the docs/formats.md vector, signed by the vectors' group) inside a node:vm
 * context: a fresh V8 realm that has the language built-ins and, given to it here, only the Web APIs a
 * browser has and the SDK uses (TextEncoder, TextDecoder, crypto.getRandomValues); no process, Buffer,
 * require or module. A receipt with a changed entry or signature does not verify there.
 */
import { webcrypto } from 'node:crypto';
import { resolve } from 'node:path';
import { runInContext, createContext } from 'node:vm';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { tamperedReceipt, vectorReceipt } from '../helpers/format-vectors.ts';

const ROOT = resolve(import.meta.dirname, '../..');

let bundle: { code: string; bytes: number; inputs: string[] };

beforeAll(async () => {
  const out = await build({
    entryPoints: [resolve(ROOT, 'shared/entry/index.ts')],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'Sintra',
    target: 'es2022',
    minify: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const code = out.outputFiles[0]!.text;
  bundle = { code, bytes: Buffer.byteLength(code), inputs: Object.keys(out.metafile.inputs) };
});

/** A browser-like realm with the bundle loaded (global `Sintra`). */
function browserRealm(): (script: string, globals?: Record<string, string>) => unknown {
  // Web APIs whose results must be this realm's own objects (the SDK checks `instanceof Uint8Array`).
  const context = createContext({});
  const U8 = runInContext('Uint8Array', context) as Uint8ArrayConstructor;
  const encoder = new TextEncoder();
  Object.assign(context, {
    TextEncoder: class {
      readonly encoding = 'utf-8';
      encode(s = ''): Uint8Array {
        return new U8(encoder.encode(s));
      }
    },
    TextDecoder,
    crypto: { getRandomValues: <T extends ArrayBufferView>(a: T): T => webcrypto.getRandomValues(a as unknown as Uint8Array) as unknown as T },
  });
  runInContext(bundle.code, context, { filename: 'sintra-browser.js' });
  return (script, globals = {}) => {
    Object.assign(context, globals);
    return runInContext(script, context);
  };
}

describe('the SDK bundled for the browser', () => {
  it('bundles with no Node built-ins and no dev-only code', () => {
    expect(bundle.inputs.filter((f) => f.startsWith('node:') || /(^|\/)(workers|infra)\//.test(f))).toEqual([]);
    expect(bundle.inputs.some((f) => f.includes('@noble/curves'))).toBe(true);
    // A check on size, not a budget: the BLS12-381 arithmetic of @noble/curves is most of it.
    expect(bundle.bytes).toBeLessThan(400_000);
  });

  it('verifies a real receipt in a realm without Node globals; a changed entry or signature does not verify', () => {
    const run = browserRealm();
    expect(run('[typeof process, typeof Buffer, typeof require, typeof module, typeof setTimeout].join()')).toBe('undefined,undefined,undefined,undefined,undefined');
    const { groupJson, receiptJson } = vectorReceipt();
    const check = (receipt: string) =>
      JSON.parse(
        run('JSON.stringify(Sintra.checkReceipt(JSON.parse(receiptText), Sintra.parseGroup(JSON.parse(groupText))), (k, v) => (k === "receipt" || k === "json" ? undefined : v))', {
          receiptText: receipt,
          groupText: groupJson,
        }) as string,
      ) as { ok: boolean; reason?: string; summary?: { index: number; entry: { text: string }; checkpoint: { size: number } } };

    const good = check(receiptJson);
    expect(good).toMatchObject({ ok: true, summary: { index: 1, checkpoint: { size: 8 } } });
    expect(good.summary!.entry.text).toMatch(/^\{"app":"notary","op":"stamp"/);
    expect(check(tamperedReceipt(receiptJson, 'entry'))).toMatchObject({ ok: false, reason: expect.stringMatching(/inclusion proof/) });
    expect(check(tamperedReceipt(receiptJson, 'signature'))).toMatchObject({ ok: false });
    // The SDK's own entry points are there too (the client needs fetch and sleep injected, nothing else).
    expect(run('[typeof Sintra.SintraClient, typeof Sintra.verifyStampReceipt, typeof Sintra.verifyDirectoryStatement].join()')).toBe('function,function,function');
  });
});
