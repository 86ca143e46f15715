// Secure authentication (RFC 5024 §4.2.3, §5.3.17–18): the challenger sends AUCH, a CMS EnvelopedData
// of 20 random octets encrypted to the partner's certificate; the partner decrypts it with its
// private key (through its PrivateKeyHandle) and returns the 20 octets in AURP; the challenger
// compares them with what it sent (a mismatch ends the session with ESID 11, the session's job).

import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { PrivateKeyHandle } from '../../keystore/key-store.ts';
import type { CipherSuite } from '../cipher-suites.ts';
import { decryptData, encryptData } from './enveloped-data.ts';
import { CmsError } from './errors.ts';

export const CHALLENGE_LENGTH = 20;

export interface Challenge {
  /** AUCHCHAL: DER ContentInfo(EnvelopedData) of the random octets. */
  auch: Uint8Array;
  /** The random octets the AURP must carry. */
  expected: Uint8Array;
}

/** Makes an AUCH challenge for the partner's certificate (DER), encrypted with the suite's cipher. */
export function makeChallenge(recipientCertificate: Uint8Array, suite: CipherSuite | number): Challenge {
  const expected = new Uint8Array(randomBytes(CHALLENGE_LENGTH));
  return { auch: encryptData(expected, { suite, recipients: [recipientCertificate] }), expected };
}

/** Decrypts a received AUCH with our key: the 20 octets for AURPRSP. CmsError('challenge') otherwise. */
export async function answerChallenge(auch: Uint8Array, key: PrivateKeyHandle): Promise<Uint8Array> {
  let answer: Uint8Array;
  try {
    answer = await decryptData(auch, { key, limits: { maxElement: 1 << 16 } });
  } catch (error) {
    if (error instanceof CmsError) throw new CmsError('challenge', `AUCH: ${error.message}`, { cause: error });
    throw error;
  }
  if (answer.length !== CHALLENGE_LENGTH) {
    throw new CmsError('challenge', `AUCH: the challenge has ${answer.length} octets, not ${CHALLENGE_LENGTH}`);
  }
  return answer;
}

/** Compares an AURP response with the challenge sent, in constant time. */
export function challengeAnswered(challenge: Challenge, response: Uint8Array): boolean {
  return response.length === challenge.expected.length && timingSafeEqual(response, challenge.expected);
}
