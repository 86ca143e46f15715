// One valid command of every type at every level, for error, encode-refusal and fuzz tests.
import { encodeCommand } from '../../src/protocol/command-codec.ts';
import type { OdetteCommand, ProtocolLevel } from '../../src/protocol/command-types.ts';

const utf8 = new TextEncoder();
const none = () => new Uint8Array(0);

/** A valid command of every type that exists at `level`, with the level's neutral values. */
export function sampleCommands(level: ProtocolLevel): OdetteCommand[] {
  const v5 = level === 5;
  const stamps = level >= 4 ? { date: '20240229', time: '1430150007' } : { date: '20240229', time: '1430150000' };
  const commands: OdetteCommand[] = [
    { cmd: 'SSRM' },
    {
      cmd: 'SSID',
      level,
      identificationCode: 'O0013000000ACME    PLANT1',
      password: 'SECRET',
      exchangeBufferSize: 4096,
      sendReceive: 'B',
      bufferCompression: true,
      restart: true,
      specialLogic: false,
      credit: 99,
      secureAuthentication: v5,
      userData: 'USER01',
    },
    {
      cmd: 'SFID',
      datasetName: 'INVOICES.2024',
      ...stamps,
      userData: 'REF42',
      destination: 'O0013000000BUYER',
      originator: 'O0013000000SUPPLIER',
      format: 'V',
      maxRecordSize: 512,
      fileSize: 1234,
      originalFileSize: v5 ? 4321 : 0,
      restartPosition: 42,
      securityLevel: v5 ? 3 : 0,
      cipherSuite: v5 ? 2 : 0,
      compression: v5 ? 1 : 0,
      envelope: v5 ? 1 : 0,
      signedReceipt: v5,
      description: v5 ? 'Prüfbericht' : '',
    },
    { cmd: 'SFPA', answerCount: 42 },
    { cmd: 'SFNA', reason: 13, retry: false, reasonText: v5 ? 'Duplicate file' : '' },
    { cmd: 'DATA', payload: utf8.encode('\x85HELLO') },
    { cmd: 'CDT' },
    { cmd: 'EFID', recordCount: 100, unitCount: 51200 },
    { cmd: 'EFPA', changeDirection: true },
    { cmd: 'EFNA', reason: 11, reasonText: v5 ? 'Invalid byte count' : '' },
    { cmd: 'ESID', reason: 3, reasonText: v5 ? 'User code not known' : '' },
    { cmd: 'CD' },
    {
      cmd: 'EERP',
      datasetName: 'INVOICES.2024',
      ...stamps,
      userData: '',
      destination: 'O0013000000SUPPLIER',
      originator: 'O0013000000BUYER',
      fileHash: v5 ? Uint8Array.from({ length: 20 }, (_, i) => i) : none(),
      signature: v5 ? Uint8Array.from({ length: 30 }, (_, i) => 255 - i) : none(),
    },
    { cmd: 'RTR' },
  ];
  if (level >= 4) {
    commands.push({
      cmd: 'NERP',
      datasetName: 'INVOICES.2024',
      ...stamps,
      destination: 'O0013000000SUPPLIER',
      originator: 'O0013000000BUYER',
      creator: 'O0013000000HUB',
      reason: 23,
      reasonText: v5 ? 'Duplicate file' : '',
      fileHash: v5 ? Uint8Array.from({ length: 32 }, (_, i) => i) : none(),
      signature: v5 ? Uint8Array.from({ length: 7 }, (_, i) => i) : none(),
    });
  }
  if (v5) {
    commands.push(
      { cmd: 'SECD' },
      { cmd: 'AUCH', challenge: Uint8Array.from({ length: 64 }, (_, i) => i * 3) },
      { cmd: 'AURP', response: Uint8Array.from({ length: 20 }, (_, i) => i + 100) },
    );
  }
  return commands;
}

/** The sample of one command at a level. */
export function sample<C extends OdetteCommand['cmd']>(cmd: C, level: ProtocolLevel): Extract<OdetteCommand, { cmd: C }> {
  const found = sampleCommands(level).find((c) => c.cmd === cmd);
  if (found === undefined) throw new Error(`no sample ${cmd} at level ${level}`);
  return found as Extract<OdetteCommand, { cmd: C }>;
}

/** The encoded sample of one command at a level. */
export function sampleBytes(cmd: OdetteCommand['cmd'], level: ProtocolLevel): Uint8Array {
  return encodeCommand(sample(cmd, level), level);
}

/** A copy of `bytes` with `replacement` written at `offset` (strings as Latin-1 octets). */
export function patch(bytes: Uint8Array, offset: number, replacement: string | readonly number[]): Uint8Array {
  const out = bytes.slice();
  const octets = typeof replacement === 'string' ? Array.from(replacement, (c) => c.charCodeAt(0)) : replacement;
  out.set(octets, offset);
  return out;
}
