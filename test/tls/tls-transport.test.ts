// The TLS transport (src/transports/tls.ts) with the per-partner trust (src/security/certificates-tls.ts),
// on 127.0.0.1 with a PKI made by openssl. Each refusal is its own test and must name a cause an operator
// can act on: protocol version, unknown CA, expiry, key usage, extended key usage, pinned fingerprint,
// missing client certificate, revocation, cipher suites. Both sides are covered: our server refusing a
// client, and our client (connectTls) refusing a server.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as connectNet, createServer as createNetServer } from 'node:net';
import { after, before, test } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { connectTls, TlsError } from '../../src/transports/tls.ts';
import { contextOf, partnerTrust, rawClient, startServer, trustOf } from './helpers.ts';
import { type Issued, TestPki } from './pki.ts';

const ACME_ID = 'O0013000000ACME';
const BETA_ID = 'O0013000000BETA';

let pki: TestPki;
let caOurs: Issued;
let caAcme: Issued;
let caOther: Issued;
let station: Issued;
let acme: Issued;
let acmeExpired: Issued;
let acmeNotYet: Issued;
let acmeNoDigitalSignature: Issued;
let acmeServerAuthOnly: Issued;
let acmeSelfSigned: Issued;
let acmeFromOtherCa: Issued;
let beta: Issued;
let crlRevokingAcme: string;
let acmeIssuing: Issued;
let acmeViaIntermediate: Issued;

before(() => {
  pki = new TestPki('oftp-tls-transport-');
  caOurs = pki.rootCa('ours', 'Our CA');
  caAcme = pki.rootCa('acme-ca', 'ACME CA');
  caOther = pki.rootCa('other-ca', 'Other CA');
  station = pki.issue('station', caOurs, { cn: 'O0013000000STATION', extendedKeyUsage: 'serverAuth,clientAuth' });
  acme = pki.issue('acme', caAcme, { cn: ACME_ID, extendedKeyUsage: 'clientAuth,serverAuth' });
  acmeExpired = pki.issue('acme-expired', caAcme, { cn: ACME_ID, keyOf: acme, notBefore: new Date('2025-01-01T00:00:00Z'), notAfter: new Date('2026-01-01T00:00:00Z') });
  acmeNotYet = pki.issue('acme-notyet', caAcme, { cn: ACME_ID, keyOf: acme, notBefore: new Date(Date.now() + 10 * 86_400_000), days: 400 });
  acmeNoDigitalSignature = pki.issue('acme-noku', caAcme, { cn: ACME_ID, keyOf: acme, keyUsage: 'critical,keyEncipherment' });
  acmeServerAuthOnly = pki.issue('acme-serveronly', caAcme, { cn: ACME_ID, keyOf: acme, extendedKeyUsage: 'serverAuth' });
  acmeSelfSigned = pki.issue('acme-self', 'self', { cn: ACME_ID, keyOf: acme });
  acmeFromOtherCa = pki.issue('acme-other', caOther, { cn: ACME_ID, keyOf: acme });
  beta = pki.issue('beta', caAcme, { cn: BETA_ID, keyOf: acme });
  crlRevokingAcme = pki.crl('acme', caAcme, [acme]);
  acmeIssuing = pki.issue('acme-issuing', caAcme, { cn: 'ACME Issuing CA', ca: true });
  acmeViaIntermediate = pki.issue('acme-via', acmeIssuing, { cn: ACME_ID, keyOf: acme });
});
after(() => pki.remove());

/** Our server trusts acme through ACME CA only. */
const acmeByCa = () => trustOf(partnerTrust('acme', ACME_ID, { cas: [caAcme] }));

async function refusedClient(t: Parameters<typeof startServer>[0], client: Issued | undefined, trust = acmeByCa(), clientOptions = {}) {
  const server = await startServer(t, station, trust);
  const outcome = await rawClient(t, server.port, contextOf(client, clientOptions));
  const event = await server.next();
  assert.ok('refused' in event, `the server refused the connection (${'binding' in event ? event.binding.how : ''})`);
  const err = event.refused;
  assert.ok(err instanceof TlsError);
  assert.equal(err.code, 'OFTP_ERR_TLS');
  if (outcome.ok) assert.equal(await outcome.data, '', 'the refused client got no byte of ODETTE-FTP');
  return { err, outcome };
}

test('a trusted client is accepted over TLS 1.3 and bound to its partner', async (t) => {
  const server = await startServer(t, station, acmeByCa());
  const client = await rawClient(t, server.port, contextOf(acme));
  assert.ok(client.ok);
  const event = await server.next();
  assert.ok('binding' in event);
  assert.deepEqual([...event.binding.partners], ['acme']);
  assert.equal(event.binding.certificate?.sha256, acme.sha256);
  assert.equal(client.socket.getProtocol(), 'TLSv1.3');
  assert.equal(await client.data, 'ok');
});

test('a client sending its intermediate CA beside its certificate validates up to the partner\'s root', async (t) => {
  const server = await startServer(t, station, acmeByCa());
  const client = await rawClient(t, server.port, contextOf(acmeViaIntermediate, {}, [acmeIssuing]));
  assert.ok(client.ok);
  const event = await server.next();
  assert.ok('binding' in event, 'refused' in event ? event.refused.message : '');
  assert.equal(event.binding.how, 'acme: ca');
  // Without the intermediate the chain cannot be built.
  await rawClient(t, server.port, contextOf(acmeViaIntermediate));
  const second = await server.next();
  assert.ok('refused' in second);
  assert.match(second.refused.message, /partner acme: unknown CA: "CN=O0013000000ACME" is issued by "CN=ACME Issuing CA, O=OFTP2 Test"/);
});

test('TLS 1.2: a forward-secret (ECDHE) suite is chosen', async (t) => {
  const server = await startServer(t, station, acmeByCa());
  const client = await rawClient(t, server.port, contextOf(acme, { maxVersion: 'TLSv1.2', ciphers: 'AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384', honorCipherOrder: false }));
  assert.ok(client.ok);
  assert.equal(client.socket.getProtocol(), 'TLSv1.2');
  assert.equal(client.socket.getCipher().name, 'ECDHE-RSA-AES256-GCM-SHA384', 'our order wins (honorCipherOrder), ECDHE first');
  assert.ok('binding' in (await server.next()));
});

test('refused: a TLS 1.1 client ("protocol version" cause, RFC 8996)', async (t) => {
  const { err, outcome } = await refusedClient(t, acme, acmeByCa(), { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' });
  assert.equal(err.reason, 'protocol-version');
  assert.match(err.message, /^TLS handshake from 127\.0\.0\.1:\d+ failed: the client supports only protocol versions below TLSv1\.2 \(TLSv1\.0\/TLSv1\.1 are refused, RFC 8996\)$/);
  assert.equal(outcome.ok, false, 'the client saw the handshake fail');
});

test('refused: our client dialling a server that speaks only TLS 1.1', async (t) => {
  const old = createTlsServer({ key: readFileSync(acme.keyPath), cert: acme.certPem, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' });
  old.on('tlsClientError', () => {});
  await new Promise<void>((r) => old.listen(0, '127.0.0.1', r));
  t.after(() => old.close());
  const port = (old.address() as { port: number }).port;
  const trust = trustOf(partnerTrust('acme', ACME_ID, { cas: [caAcme] }));
  const err = await connectTls({ host: '127.0.0.1', port, partner: 'acme', secureContext: contextOf(station), verify: (c) => trust.checkServer('acme', c) }).then(
    () => assert.fail('connected'),
    (e: TlsError) => e,
  );
  assert.ok(err instanceof TlsError);
  assert.equal(err.reason, 'protocol-version');
  assert.match(err.message, /^partner acme: TLS handshake with 127\.0\.0\.1:\d+ failed: the server supports only protocol versions below TLSv1\.2/);
});

test('refused: a client offering only suites without forward secrecy', async (t) => {
  const { err } = await refusedClient(t, acme, acmeByCa(), { maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256:AES256-GCM-SHA384' });
  assert.equal(err.reason, 'cipher');
  assert.match(err.message, /no cipher suite or signature algorithm in common with the client/);
});

test('refused: wrong CA ("unknown CA" naming the issuer)', async (t) => {
  const { err } = await refusedClient(t, acmeFromOtherCa);
  assert.equal(err.reason, 'certificate');
  assert.match(err.message, /refused: partner acme: unknown CA: "CN=O0013000000ACME" is issued by "CN=Other CA, O=OFTP2 Test", which is not a trusted CA for it$/);
});

test('refused: expired certificate ("expired on 2026-01-01")', async (t) => {
  const { err } = await refusedClient(t, acmeExpired);
  assert.match(err.message, /refused: partner acme: certificate "CN=O0013000000ACME" expired on 2026-01-01$/);
});

test('refused: certificate not valid yet', async (t) => {
  const { err } = await refusedClient(t, acmeNotYet);
  assert.match(err.message, /partner acme: certificate "CN=O0013000000ACME" is not valid before \d{4}-\d\d-\d\d$/);
});

test('refused: certificate without the key usage TLS needs (digitalSignature)', async (t) => {
  const { err } = await refusedClient(t, acmeNoDigitalSignature);
  assert.match(err.message, /partner acme: certificate "CN=O0013000000ACME" lacks key usage digitalSignature needed for TLS \(it has: keyEncipherment\)$/);
});

test('refused: a client certificate whose extended key usage is serverAuth only', async (t) => {
  const { err } = await refusedClient(t, acmeServerAuthOnly);
  assert.match(err.message, /partner acme: certificate "CN=O0013000000ACME" is not for clientAuth \(extended key usage: serverAuth\)$/);
});

test('refused: pinned fingerprint mismatch', async (t) => {
  const { err } = await refusedClient(t, acmeSelfSigned, trustOf(partnerTrust('acme', ACME_ID, { pins: [acme.sha256] })));
  assert.match(err.message, new RegExp(`partner acme: certificate "CN=O0013000000ACME" has SHA-256 fingerprint ${acmeSelfSigned.sha256}, which matches none pinned for it$`));
});

test('accepted: a pinned self-signed certificate (no CA needed)', async (t) => {
  const server = await startServer(t, station, trustOf(partnerTrust('acme', ACME_ID, { pins: [acmeSelfSigned.sha256] })));
  assert.ok((await rawClient(t, server.port, contextOf(acmeSelfSigned))).ok);
  const event = await server.next();
  assert.ok('binding' in event);
  assert.equal(event.binding.how, 'acme: pinned');
});

test('refused: an expired certificate even when pinned', async (t) => {
  const { err } = await refusedClient(t, acmeExpired, trustOf(partnerTrust('acme', ACME_ID, { pins: [acmeExpired.sha256] })));
  assert.match(err.message, /expired on 2026-01-01$/);
});

test('refused: revoked by the CA\'s CRL', async (t) => {
  const { err } = await refusedClient(t, acme, trustOf(partnerTrust('acme', ACME_ID, { cas: [caAcme], crls: [crlRevokingAcme] })));
  assert.match(err.message, /partner acme: certificate "CN=O0013000000ACME" \(serial \w+\) was revoked on \d{4}-\d\d-\d\d/);
});

test('refused: no client certificate; accepted without one for a partner that does not require it', async (t) => {
  const { err } = await refusedClient(t, undefined);
  assert.equal(err.reason, 'no-certificate');
  assert.match(err.message, /no client certificate was presented, and every partner requires one$/);

  const lenient = trustOf(partnerTrust('acme', ACME_ID, { cas: [caAcme] }), partnerTrust('hub-member', BETA_ID, { requireClientCertificate: false }));
  const server = await startServer(t, station, lenient);
  assert.ok((await rawClient(t, server.port, contextOf(undefined))).ok);
  const event = await server.next();
  assert.ok('binding' in event);
  assert.deepEqual([...event.binding.partners], ['hub-member']);
  assert.equal(event.binding.certificate, undefined);
});

test('several partners: each is checked against its own CAs; the refusal lists each cause', async (t) => {
  const trust = trustOf(partnerTrust('acme', ACME_ID, { cas: [caAcme] }), partnerTrust('other', 'O0013000000OTHER', { cas: [caOurs] }));
  const server = await startServer(t, station, trust);
  assert.ok((await rawClient(t, server.port, contextOf(acme))).ok);
  const first = await server.next();
  assert.ok('binding' in first);
  assert.deepEqual([...first.binding.partners], ['acme'], 'ACME CA is trusted for acme only');
  // A certificate from Other CA is trusted by neither; it names acme's ID, so acme's cause is given.
  await rawClient(t, server.port, contextOf(acmeFromOtherCa));
  const second = await server.next();
  assert.ok('refused' in second);
  assert.match(second.refused.message, /refused: partner acme: unknown CA/);
});

test('a CA shared by two partners: the Odette ID in the certificate narrows the binding', async (t) => {
  const trust = trustOf(partnerTrust('acme', ACME_ID, { cas: [caAcme] }), partnerTrust('beta', BETA_ID, { cas: [caAcme] }));
  const server = await startServer(t, station, trust);
  await rawClient(t, server.port, contextOf(beta));
  const event = await server.next();
  assert.ok('binding' in event);
  assert.deepEqual([...event.binding.partners], ['beta']);
});

test('our client refuses a server whose certificate its partner\'s trust does not accept', async (t) => {
  // The server presents acme's certificate from Other CA; we trust acme through ACME CA.
  const server = await startServer(t, acmeFromOtherCa, trustOf(partnerTrust('station', 'O0013000000STATION', { cas: [caOurs] })));
  const trust = acmeByCa();
  const err = await connectTls({ host: '127.0.0.1', port: server.port, partner: 'acme', secureContext: contextOf(station), verify: (c) => trust.checkServer('acme', c) }).then(
    () => assert.fail('connected'),
    (e: TlsError) => e,
  );
  assert.equal(err.code, 'OFTP_ERR_TLS');
  assert.equal(err.reason, 'certificate');
  assert.match(err.message, /^partner acme: unknown CA: "CN=O0013000000ACME" is issued by "CN=Other CA, O=OFTP2 Test"/);

  const ok = await connectTls({ host: '127.0.0.1', port: (await startServer(t, acme, trustOf(partnerTrust('station', 'O0013000000STATION', { cas: [caOurs] })))).port, partner: 'acme', secureContext: contextOf(station), verify: (c) => trust.checkServer('acme', c) });
  t.after(() => ok.socket.destroy());
  assert.equal(ok.info.protocol, 'TLSv1.3');
  assert.deepEqual([...ok.binding.partners], ['acme']);
});

test('not TLS: our client dialling a plain ODETTE-FTP port, and a plain caller on our TLS port', async (t) => {
  // A plain responder speaks first: its SSRM is no TLS record.
  const plain = createNetServer((s) => {
    s.on('error', () => {});
    s.end(Buffer.from('\x10\x00\x00\x18IODETTE FTP READY \r', 'latin1'));
  });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  t.after(() => plain.close());
  const trust = acmeByCa();
  const err = await connectTls({ host: '127.0.0.1', port: (plain.address() as { port: number }).port, partner: 'acme', secureContext: contextOf(station), verify: (c) => trust.checkServer('acme', c) }).then(
    () => assert.fail('connected'),
    (e: TlsError) => e,
  );
  assert.equal(err.reason, 'not-tls');
  assert.match(err.message, /^partner acme: TLS handshake with 127\.0\.0\.1:\d+ failed: the server does not speak TLS \(is this its TLS port\? ODETTE-FTP over TLS listens on 6619, plain on 3305\)$/);

  const server = await startServer(t, station, trust);
  const caller = connectNet(server.port, '127.0.0.1', () => caller.write(Buffer.from('\x10\x00\x00\x18XODETTE FTP READY \r', 'latin1')));
  caller.on('error', () => {});
  t.after(() => caller.destroy());
  const event = await server.next();
  assert.ok('refused' in event);
  assert.equal(event.refused.reason, 'not-tls');
  assert.match(event.refused.message, /the client does not speak TLS \(plain ODETTE-FTP goes to port 3305; this port is for TLS\)$/);
});

test('our client: nothing listening is a transport error, not a TLS one', async () => {
  const trust = acmeByCa();
  const err = await connectTls({ host: '127.0.0.1', port: 1, partner: 'acme', secureContext: contextOf(station), verify: (c) => trust.checkServer('acme', c) }).then(
    () => assert.fail('connected'),
    (e: TlsError) => e,
  );
  assert.equal(err.code, 'OFTP_ERR_TRANSPORT');
  assert.match(err.message, /cannot connect to 127\.0\.0\.1:1: ECONNREFUSED/);
});
