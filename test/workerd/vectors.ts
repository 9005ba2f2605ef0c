/**
 * Expected outputs of scenario.ts. crypto.node.test.ts recomputes them in Node and crypto.workerd.test.ts
 * recomputes them inside workerd; both must match these bytes exactly. If shared/crypto changes what it
 * produces on purpose (a new DST, a new framing), regenerate them in Node and update this file: the
 * workerd suite then proves the new bytes are the same there.
 */

/** RFC 9380 appendix J.9.1 (BLS12381G1_XMD:SHA-256_SSWU_RO_, msg "abc"), compressed. */
export const HASH_TO_CURVE_ABC = '83567bc5ef9c690c2ab2ecdf6a96ef1c139cc0b2f284dca0a9a7943388a49a3aee664ba5379a7655d3c68900be2f6903';

export const THRESHOLD = {
  groupKey:
    'b01cf59a59610b405c6883e453b77833fd3132f455a9691e7d48735f6f555f9c10e4e0c8f337adea3d88f64dd9df2c020112e23000e6644e27d3db83939727f253e5ee25754e25ef2e6373da121881492ea2f6e26f2cac2b00b2caeb9dbe4c64',
  shares: [
    'aa29e69bef7111d40fa25faba77068c6da37252baf60a6b30b3221fad582dd1d43fe66b51e883c4f8434a45f4bfa5f9a',
    'b801fa7f9f59da9ef6e89e42de1bbe66cef39151dc244640ec854cd8a255b0425d2615329808eaab7c0e0900dfafb148',
    'a3b096230056b2460a1c9e2f9226b500c833144bfbc2e5c96c90aa51ebb83c4609b994da627e196783d8be60c4ff452d',
  ],
  signature: 'b2398dd4e9373c7629183c7e988971a322034393dd5aaf895d209ca8812b30da2392f2cda86019d93db655786bbd5ad3',
  faulty: [1],
  verified: true,
} as const;

export const COIN = {
  valueA: 'efe923f8b713c357a5c48c9591d8b709b069310a2dbfce4d6d6d7b3b510984bc',
  valueB: 'efe923f8b713c357a5c48c9591d8b709b069310a2dbfce4d6d6d7b3b510984bc',
  signature: '8689838f6f8f8738074983e91a8a46bd3dbd71c7ddc4079a2a46bbec4877d631eb6baa9504a167f550417581991b8a08',
  verified: true,
} as const;

/** TDH2 over Shamir (4, 2): ciphertext id, decryption shares of replicas 0 and 2, plaintext (hex). */
export const TDH2 = {
  ciphertextId: '5baffd4e92a8113e07bb3e20d38b6fe7c637ed0f62a05f06696557bdee8b2c02',
  shares: [
    '000000018e9ac049fb744be561572a7bcf0b382c5fb74ba5d70e9b7114347ec818a391211af42354de8fee509adda31684448b8570e2e78619dd958359b982917f7d47bae2544866354b75427b09f5a900faccb66a1cb5bb24392fa439503b16b5bcb2a28ae25981cb495278c31ee0f8614e27bd',
    '00020001a3f90dacae36f2cf67c6cb8692b6f2ba28c7d810951646e4d46f6f19a0c4b566fa64f170e01f4af8dba3cee845de220370040e1c2e330dff6ba9d891b6d5a25dd54d3b250031f7ef360478c07593df8e44ae23fab12709838336af238f3fe9df2ce12023ca5a1d077f5276b5680da315',
  ],
  plaintext: '7365616c6564206269643a2031323334',
  valid: true,
  sharesValid: true,
} as const;

/**
 * x509-scenario.ts: SHA-256 of the root CA and TSA certificates' DER (issued with @peculiar/asn1-x509 and a
 * 1024-bit test key), their key identifier, and a signature combined from two threshold RSA shares.
 */
export const X509 = {
  root: '3245a1628cfe5ff6c4659d52f5b9cd68de29cec331cad2b85d9d32f91dacbd7e',
  tsa: '3f5cf4954c97c325ded2f32a030d92869a003f1950a17bf662d96e7413da4491',
  keyIdentifier: '30b684c601e5c800de327f4165b90a013f1b8d48',
  signature:
    '7b57dacaa9c7c8eb9cc6f9da6dfcf34cb9ededcdc29c9fd4320889ca5a22782d6342cfcf35602082ab8906472f3a9c2484e67305eddbba45c2a86aa3e31a2c75e140450b4140b2b840343741f1bc8b8b849de8a6a4eea97c5e77efc323dc1d40e40eaf8dc65a448a8401a86f59f0cfebbf653de1f17de88ecd03ffc0f0704459',
  verified: true,
} as const;
