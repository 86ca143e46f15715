// Milestone 2: the full secure session of secure-session.test.ts with every OFTP key (authentication,
// signing, decryption) living only on a PKCS#11 token — SoftHSM2, one token per station. The keys are
// generated on the token (`oftp2 keys generate`), the certificates issued by the test CA from CSRs the
// token keys signed (`oftp2 keys csr`), and the stations name the keys in `station.pkcs11`. TLS keeps a
// separate file key (src/keystore/pkcs11-key-store.ts: Node's OpenSSL cannot use a token key for TLS).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type SessionResult, Station } from '../../src/station/station.ts';
import { StationStore } from '../../src/store/station-store.ts';
import { createSoftHsm, type SoftHsm, softHsmMissing, USER_PIN } from '../keystore/helpers/softhsm.ts';
import { type Issued, openssl, TestPki } from '../tls/pki.ts';
import { CapturingLog, ID_A, ID_B, PASSWORD_A, PASSWORD_B, sha256, sha256Of, unstructured, variable, visibleFiles, writeLocal } from './harness.ts';
import { FULL_AGREEMENT } from './secure-helpers.ts';

const skip = softHsmMissing();
const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');
const SETTINGS = { responseTimeoutSeconds: 20, diskReserveBytes: 0, checkpointIntervalBytes: 4096 };
const OFTP_ROLES = { authentication: 'critical,keyEncipherment', signing: 'critical,digitalSignature,nonRepudiation', encryption: 'critical,keyEncipherment' } as const;
type OftpRole = keyof typeof OFTP_ROLES;

interface TokenStation {
  name: string;
  odetteId: string;
  token: string;
  ca: Issued;
  tls: Issued;
  /** Role → certificate issued for the token key (PEM path). */
  certs: Record<OftpRole, string>;
}

describe('a full secure session with the OFTP keys only in SoftHSM', { skip }, () => {
  let hsm: SoftHsm;
  let pki: TestPki;
  let pinFile: string;
  let stationA: TokenStation;
  let stationB: TokenStation;
  let serial = 100;

  function oftp2(args: string[]): string {
    const r = spawnSync(process.execPath, [MAIN, 'keys', ...args], { encoding: 'utf8', env: { ...hsm.env, OFTP2_PKCS11_PIN: undefined } });
    assert.equal(r.status, 0, `oftp2 keys ${args[0]}: ${r.stderr}`);
    return r.stdout;
  }

  /** A CA, a TLS file key, and per OFTP role a key made on the token with a certificate from its CSR. */
  function tokenStation(name: string, odetteId: string): TokenStation {
    const token = `station-${name}`;
    hsm.initToken(token);
    const ca = pki.rootCa(`${name}-ca`, `Station ${name} CA`);
    const tls = pki.issue(`${name}-tls`, ca, { cn: `${odetteId} tls`, extendedKeyUsage: 'serverAuth,clientAuth' });
    const certs = {} as Record<OftpRole, string>;
    for (const [role, keyUsage] of Object.entries(OFTP_ROLES) as [OftpRole, string][]) {
      const base = ['--module', hsm.module, '--token', token, '--pin-file', pinFile, '--label', role];
      assert.match(oftp2(['generate', ...base]), new RegExp(`generated RSA-2048 key pair "${role}"`));
      const csr = pki.path(`${name}-${role}.csr`);
      oftp2(['csr', ...base, '--subject', `CN=${odetteId} ${role},O=OFTP2 Test`, '--out', csr]);
      const ext = pki.path(`${name}-${role}.ext`);
      const cert = pki.path(`${name}-${role}.pem`);
      openssl(['req', '-in', csr, '-verify', '-noout']);
      writeFileSync(ext, `[v3]\nbasicConstraints=CA:FALSE\nkeyUsage=${keyUsage}\n`);
      openssl(['x509', '-req', '-in', csr, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-set_serial', String(serial++), '-days', '30', '-sha256', '-extfile', ext, '-extensions', 'v3', '-out', cert]);
      certs[role] = cert;
    }
    return { name, odetteId, token, ca, tls, certs };
  }

  /** station.keys (TLS only), station.certificates and station.pkcs11 naming the token keys. */
  function stationConfig(s: TokenStation) {
    return {
      odetteId: s.odetteId,
      ...SETTINGS,
      keys: { tls: { file: s.tls.keyPath } },
      certificates: {
        tls: { certificate: s.tls.certPath, key: 'tls' },
        authentication: { certificate: s.certs.authentication, key: 'auth' },
        signing: { certificate: s.certs.signing, key: 'sign' },
        encryption: { certificate: s.certs.encryption, key: 'enc' },
      },
      pkcs11: {
        module: hsm.module,
        token: { label: s.token },
        pin: { file: pinFile },
        keys: { auth: { label: 'authentication' }, sign: { label: 'signing' }, enc: { label: 'encryption' } },
      },
    };
  }

  function partnerOf(s: TokenStation) {
    return { certificates: { ...s.certs }, trust: { caFiles: [s.ca.certPath] } };
  }

  before(() => {
    hsm = createSoftHsm();
    pki = new TestPki('oftp-secure-hsm-');
    pinFile = hsm.pinFile(USER_PIN);
    stationA = tokenStation('a', ID_A);
    stationB = tokenStation('b', ID_B);
  });
  after(() => {
    pki?.remove();
    hsm?.cleanup();
  });

  it('over TLS: authentication, signed + compressed + encrypted files both ways, signed EERPs verified; no private key file for any OFTP role', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'oftp-secure-hsm-pair-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const dirA = join(root, 'a');
    const dirB = join(root, 'b');
    const storeA = await StationStore.init(dirA, stationConfig(stationA));
    await storeA.addPartner({ name: 'b', odetteId: ID_B, passwordToSend: PASSWORD_A, passwordExpected: PASSWORD_B, tls: true, ...partnerOf(stationB), ...FULL_AGREEMENT });
    const logA = new CapturingLog();
    const logB = new CapturingLog();
    const a = await Station.open(dirA, logA);
    const sessionsA: SessionResult[] = [];
    let sessionEnded!: () => void;
    const endedA = new Promise<void>((r) => (sessionEnded = r));
    const server = await a.serveTls(
      (r) => {
        sessionsA.push(r);
        sessionEnded();
      },
      { host: '127.0.0.1', port: 0 },
    );
    const port = (server.address() as { port: number }).port;
    const storeB = await StationStore.init(dirB, stationConfig(stationB));
    await storeB.addPartner({ name: 'a', odetteId: ID_A, host: '127.0.0.1', port, passwordToSend: PASSWORD_B, passwordExpected: PASSWORD_A, tls: true, ...partnerOf(stationA), ...FULL_AGREEMENT });
    const b = await Station.open(dirB, logB);
    t.after(async () => {
      await a.close().catch(() => {});
      await b.close().catch(() => {});
      await new Promise<void>((r) => server.close(() => r()));
    });
    // The OFTP role keys are the token's: the stations' handles name it.
    for (const station of [a, b]) {
      for (const role of ['authentication', 'signing', 'encryption'] as const) {
        assert.match((await station.services.security!.keys.key(role)).id, /^pkcs11:token=station-[ab];object=/, role);
      }
    }

    const fromA = Buffer.from(unstructured(200_000, 5).bytes);
    const fromB = variable(800, 200);
    await a.enqueue('b', { path: await writeLocal(root, 'a.bin', { format: 'U', bytes: fromA, records: 0, units: fromA.length }), datasetName: 'FROM.A' });
    await b.enqueue('a', { path: await writeLocal(root, 'b.v', fromB), datasetName: 'FROM.B', format: 'V' });
    const result = await b.send('a');
    await endedA;
    assert.equal(result.ended.normal, true, result.ended.reasonText);
    assert.equal(sessionsA[0]!.ended.normal, true, sessionsA[0]!.ended.reasonText);
    assert.equal(logA.find('secure authentication: the partner answered our challenge').length, 1);
    assert.equal(logB.find('secure authentication: the partner answered our challenge').length, 1);
    assert.deepEqual(await visibleFiles(join(dirA, 'inbox', 'b')), ['FROM.B']);
    assert.deepEqual(await visibleFiles(join(dirB, 'inbox', 'a')), ['FROM.A']);
    assert.equal(await sha256Of(join(dirA, 'inbox', 'b', 'FROM.B')), sha256(fromB.bytes));
    assert.equal(await sha256Of(join(dirB, 'inbox', 'a', 'FROM.A')), sha256(fromA));
    for (const [station, log] of [[a, logA], [b, logB]] as const) {
      assert.equal(station.services.history.list({ direction: 'out' })[0]?.state, 'delivered');
      assert.equal(log.find('Inbound: EERP signature verified').length, 1);
    }
    // No private key of an OFTP role is a file: the configuration names token keys only.
    const config = JSON.parse(await readFile(join(dirA, 'station.json'), 'utf8'));
    assert.deepEqual(Object.keys(config.station.keys), ['tls']);
  });
});
