/** Standard base64 both ways (shared/crypto/bytes.ts): the decoder accepts exactly what the encoder writes. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromBase64, toBase64 } from '../../shared/crypto/bytes.ts';

describe('base64', () => {
  it('round-trips every byte string and matches the RFC 4648 test vectors', () => {
    const rfc: [string, string][] = [['', ''], ['f', 'Zg=='], ['fo', 'Zm8='], ['foo', 'Zm9v'], ['foob', 'Zm9vYg=='], ['fooba', 'Zm9vYmE='], ['foobar', 'Zm9vYmFy']];
    for (const [plain, b64] of rfc) {
      expect(toBase64(new TextEncoder().encode(plain))).toBe(b64);
      expect(new TextDecoder().decode(fromBase64(b64)!)).toBe(plain);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        expect(fromBase64(toBase64(b))).toEqual(b);
      }),
    );
  });

  it('refuses every other spelling: no padding, URL alphabet, whitespace, set unused bits', () => {
    for (const bad of ['Zg', 'Zg=', 'Zm8', 'Z===', '-_8=', 'Zm9v\n', ' Zm9v', 'Zh==', 'Zm9=', 'Zm9v=']) expect(fromBase64(bad), bad).toBeNull();
  });
});
