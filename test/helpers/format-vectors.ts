/**
 * The published test vectors of docs/formats.md (a line `vector: NAME`, then a fenced block): a real
 * receipt (`receipt`, signed by the vectors' group with threshold BLS, with an RFC 6962 inclusion proof) and
 * that group's group.json (`group-json`), for tests that verify a receipt without dealing a group and
 * running replicas. test/unit/formats.test.ts checks the vectors themselves.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const DOC = resolve(import.meta.dirname, '../../docs/formats.md');

/** The body of vector `name` (the text between its fences). */
export function formatVector(name: string): string {
  const md = readFileSync(DOC, 'utf8');
  const m = new RegExp(`^vector: ${name}\\n\`\`\`[a-z]*\\n([\\s\\S]*?)\\n\`\`\`$`, 'm').exec(md);
  if (!m) throw new Error(`docs/formats.md has no vector ${name}`);
  return m[1]!;
}

/** The receipt vector and its group, as the JSON text of the files a user keeps. */
export function vectorReceipt(): { groupJson: string; receiptJson: string } {
  return { groupJson: formatVector('group-json'), receiptJson: formatVector('receipt') };
}

/** The receipt with one hex digit of `field` (a top-level hex string, or the checkpoint's signature) changed. */
export function tamperedReceipt(receiptJson: string, field: 'entry' | 'signature'): string {
  const r = JSON.parse(receiptJson) as { entry: string; checkpoint: { signature: string } };
  const flip = (hex: string) => hex.slice(0, -1) + (hex.endsWith('0') ? '1' : '0');
  if (field === 'entry') r.entry = flip(r.entry);
  else r.checkpoint.signature = flip(r.checkpoint.signature);
  return JSON.stringify(r, null, 2);
}
