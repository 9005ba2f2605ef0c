/**
 * PEM text armor (RFC 7468) of one DER object, in the one spelling this project writes: the label line,
 * standard padded base64 in lines of 64 characters, the end line, each ending in a single "\n". The reader
 * takes only that spelling (RFC 7468's "strict" form, LF line ends), so one certificate has one text and a
 * copy kept in JSON compares equal byte for byte with the file.
 *
 * No ASN.1 here: x509.ts parses what is inside (with @peculiar/asn1-x509). `derSequenceSpan` only checks
 * the outer DER header, so the group parser (shared/config/group.ts, in every bundle) can refuse junk
 * without loading an ASN.1 library.
 */
import { fromBase64, toBase64 } from './bytes.ts';
import { fail } from './errors.ts';

const LINE = 64;
const LABEL = /^[A-Z0-9]+(?: [A-Z0-9]+)*$/;

/** DER bytes as PEM with `label` (e.g. CERTIFICATE), ending in "\n". */
export function derToPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  if (!LABEL.test(label)) fail('bad-encoding', `PEM: bad label ${JSON.stringify(label)}`);
  if (!(der instanceof Uint8Array) || der.length === 0) fail('bad-length', 'PEM: no bytes to armor');
  const b64 = toBase64(der);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += LINE) lines.push(b64.slice(i, i + LINE));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The DER bytes of a PEM text written as derToPem writes it, with this `label`; anything else is refused. */
export function pemToDer(text: string, label = 'CERTIFICATE'): Uint8Array {
  if (typeof text !== 'string') fail('bad-encoding', 'PEM: expected a string');
  const begin = `-----BEGIN ${label}-----\n`;
  const end = `-----END ${label}-----\n`;
  if (!text.startsWith(begin)) fail('bad-encoding', `PEM: must start with "-----BEGIN ${label}-----" and a line feed`);
  if (!text.endsWith(end) || text.length < begin.length + end.length + 2) fail('bad-encoding', `PEM: must end with "-----END ${label}-----" and a line feed`);
  const lines = text.slice(begin.length, text.length - end.length - 1).split('\n');
  if (lines.some((l, i) => l.length !== LINE && !(i === lines.length - 1 && l.length > 0 && l.length < LINE))) {
    fail('bad-encoding', `PEM: base64 must be in lines of ${LINE} characters (the last one shorter), LF line ends, nothing else`);
  }
  const der = fromBase64(lines.join(''));
  if (der === null || der.length === 0) fail('bad-encoding', 'PEM: not canonical padded base64');
  return der;
}

/**
 * Checks that `der` is one DER SEQUENCE spanning all its bytes (tag 0x30, definite minimal length);
 * returns the length of its contents. Says nothing about what the sequence holds.
 */
export function derSequenceSpan(der: Uint8Array): number {
  if (!(der instanceof Uint8Array) || der.length < 2 || der[0] !== 0x30) fail('bad-encoding', 'DER: expected a SEQUENCE (tag 0x30)');
  const first = der[1]!;
  let length: number;
  let header: number;
  if (first < 0x80) {
    length = first;
    header = 2;
  } else {
    const count = first & 0x7f;
    if (count === 0 || count > 4 || der.length < 2 + count) fail('bad-encoding', 'DER: indefinite or oversized length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[2 + i]!;
    if (der[2] === 0 || length < 0x80) fail('non-canonical', 'DER: length not in its shortest form');
    header = 2 + count;
  }
  if (header + length !== der.length) fail('bad-length', `DER: the SEQUENCE holds ${length} bytes, but ${der.length - header} follow its header`);
  return length;
}
