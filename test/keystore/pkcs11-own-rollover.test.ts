// Our own signing rollover with both keys on a PKCS#11 token (SoftHSM2): `oftp2 cert import --own --next`
// takes a token key by its station.pkcs11 name and checks the certificate by a signature the token
// makes; while the next one is configured, receipts and files carry two signatures, each verifying
// with its certificate alone; `promote` makes the token's next key current (the old one stays on the
// token). A certificate of the other token key is refused with OFTP_ERR_CERTIFICATE.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { signReceipt, verifyReceipt } from '../../src/security/cms/receipts.ts';
import { verifySignedData } from '../../src/security/cms/signed-data.ts';
import { sealFile } from '../../src/station/outgoing-envelope.ts';
import { OwnKeys } from '../../src/station/station-security.ts';
import { StationStore } from '../../src/store/station-store.ts';
import { runCertIn } from '../tls/cert-run.ts';
import { type Issued, openssl, TestPki } from '../tls/pki.ts';
import { createSoftHsm, type SoftHsm, softHsmMissing } from './helpers/softhsm.ts';

const skip = softHsmMissing();
const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');
const PLANT = 'O0013000000PLANT';
const TOKEN = 'rollover';

describe('our signing rollover with token keys', { skip }, () => {
  let hsm: SoftHsm;
  let pki: TestPki;
  let ca: Issued;
  let pinFile: string;
  let root: string;
  let dir: string;
  const certs: Record<string, string> = {};
  let serial = 10;

  /** A key pair on the token and a certificate for it from the test CA (through `oftp2 keys csr`). */
  function tokenKey(label: string): string {
    const base = ['--module', hsm.module, '--token', TOKEN, '--pin-file', pinFile, '--label', label];
    const csr = pki.path(`${label}.csr`);
    for (const args of [['generate', ...base], ['csr', ...base, '--subject', `CN=${PLANT},O=OFTP2 Test`, '--out', csr]]) {
      const r = spawnSync(process.execPath, [MAIN, 'keys', ...args], { encoding: 'utf8', env: hsm.env });
      assert.equal(r.status, 0, `oftp2 keys ${args[0]}: ${r.stderr}`);
    }
    const ext = pki.path(`${label}.ext`);
    writeFileSync(ext, '[v3]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n');
    const cert = pki.path(`${label}.pem`);
    openssl(['x509', '-req', '-in', csr, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-set_serial', String(serial++), '-days', '30', '-sha256', '-extfile', ext, '-extensions', 'v3', '-out', cert]);
    return cert;
  }

  const cert = (...args: string[]) => runCertIn(dir, args);

  before(async () => {
    hsm = createSoftHsm();
    pki = new TestPki('oftp-hsm-rollover-');
    ca = pki.rootCa('ca', 'Plant CA');
    pinFile = hsm.pinFile('1234');
    hsm.initToken(TOKEN);
    certs.signing = tokenKey('signing');
    certs.next = tokenKey('signing-2027');
    root = await mkdtemp(join(tmpdir(), 'oftp-hsm-rollover-st-'));
    dir = join(root, 'station');
    await StationStore.init(dir, {
      odetteId: PLANT,
      certificates: { signing: { certificate: certs.signing, key: 'sign' } },
      pkcs11: { module: hsm.module, token: { label: TOKEN }, pin: { file: pinFile }, keys: { sign: { label: 'signing' }, 'sign-2027': { label: 'signing-2027' } } },
    });
  });
  after(async () => {
    pki?.remove();
    hsm?.cleanup();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('import --own --next takes a token key; both token keys sign; promote makes the next one current', async () => {
    const wrong = await cert('import', '--own', '--next', '--role', 'signing', '--key', 'sign-2027', certs.signing!);
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /our next signing certificate "CN=O0013000000PLANT[^"]*" does not belong to key "sign-2027" \(pkcs11:.*\): .*not imported \[OFTP_ERR_CERTIFICATE\]/);

    const imported = await cert('import', '--own', '--next', '--role', 'signing', '--key', 'sign-2027', certs.next!);
    assert.equal(imported.code, 0, imported.err);
    let store = await StationStore.open(dir);
    assert.deepEqual(store.config.station.certificates?.next, { signing: { certificate: 'certs/own/signing-next.pem', key: 'sign-2027' } });
    assert.equal(store.config.station.keys, undefined, 'a token key needs no station.keys entry');

    const keys = new OwnKeys(store.config, dir);
    try {
      const signers = await keys.signers();
      assert.equal(signers.length, 2);
      for (const s of signers) assert.match(s.id, /^pkcs11:/);
      const fields = new TextEncoder().encode('EERP fields signed by two token keys');
      const signature = await signReceipt(fields, signers, 4);
      const work = join(root, 'work');
      await mkdir(work, { recursive: true });
      const input = join(work, 'file.txt');
      writeFileSync(input, 'a file signed by two token keys\n'.repeat(1000));
      const sealed = await sealFile({ path: input, format: 'U', cipherSuite: 4, sign: signers, compress: false, hashForReceipt: false }, work);
      const message = await readFile(sealed.path);
      for (const known of [certs.signing!, certs.next!]) {
        const der = new Uint8Array(openssl(['x509', '-in', known, '-outform', 'DER']));
        const report = await verifyReceipt(signature, fields, [der]);
        assert.equal(report.signers.length, 2);
        const file = await verifySignedData(message, { certificates: [der] });
        assert.equal(file.report.signers.length, 2);
        assert.deepEqual(Buffer.from(file.report.verified.certificate!), Buffer.from(der));
      }
    } finally {
      await keys.close();
    }

    const promoted = await cert('promote', '--own', '--role', 'signing');
    assert.equal(promoted.code, 0, promoted.err);
    assert.match(promoted.out, /key "sign-2027"/);
    assert.match(promoted.out, /note: the old key "sign" is no longer used; it stays on the token until you delete it there/);
    store = await StationStore.open(dir);
    assert.deepEqual(store.config.station.certificates?.signing, { certificate: 'certs/own/signing.pem', key: 'sign-2027' });
    assert.equal(store.config.station.certificates?.next, undefined);
    const after = new OwnKeys(store.config, dir);
    try {
      assert.equal((await after.signers()).length, 1);
    } finally {
      await after.close();
    }
  });
});
