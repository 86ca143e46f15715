// Object identifiers of the CMS structures and algorithms used for OFTP2 (RFC 5652, RFC 3274,
// RFC 3370, RFC 3565, RFC 5754, RFC 8017).

export const OID = {
  // Content types (RFC 5652 §4–§6, RFC 3274 §1.1, RFC 5083 §2)
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  compressedData: '1.2.840.113549.1.9.16.1.9',
  authEnvelopedData: '1.2.840.113549.1.9.16.1.23',
  // Signed attributes (RFC 5652 §11)
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  // Compression (RFC 3274 §2)
  zlibCompress: '1.2.840.113549.1.9.16.3.8',
  // Digests (RFC 3370 §2.1, RFC 5754 §2)
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  // RSA (RFC 8017 Appendix C, RFC 5754 §3.2)
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsaesOaep: '1.2.840.113549.1.1.7',
  rsassaPss: '1.2.840.113549.1.1.10',
  sha1WithRSAEncryption: '1.2.840.113549.1.1.5',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  sha384WithRSAEncryption: '1.2.840.113549.1.1.12',
  sha512WithRSAEncryption: '1.2.840.113549.1.1.13',
  // Content encryption (RFC 3370 §5.1, RFC 3565 §4.1)
  desEde3Cbc: '1.2.840.113549.3.7',
  aes128Cbc: '2.16.840.1.101.3.4.1.2',
  aes192Cbc: '2.16.840.1.101.3.4.1.22',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  // X.509 (RFC 5280 §4.2.1.2)
  subjectKeyIdentifier: '2.5.29.14',
} as const;
