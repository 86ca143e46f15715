// The security settings of station.json: per partner secureAuthentication and the file services
// agreement (defaults filled by fileServicesOf), station.pkcs11 and which store a role's key comes from.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { FILE_SERVICES_DEFAULTS, fileServicesOf, type PartnerConfig, secureAuthenticationOf, validateStationConfig } from '../../src/store/station-config.ts';

const PARTNER = { name: 'acme', odetteId: 'O0013000000ACME', passwordToSend: 'A', passwordExpected: 'B' };
const config = (station: object = {}, partner: object = {}) => ({ version: 1, station: { odetteId: 'O0013000000PLANT', ...station }, partners: [{ ...PARTNER, ...partner }] });
const PKCS11 = { module: '/usr/lib/softhsm/libsofthsm2.so', token: { label: 'plant' }, pin: { file: 'pin' }, keys: { sign: { label: 'signing' } } };

test('defaults: secure authentication off, no file services sent, every service we implement accepted', () => {
  const partner = validateStationConfig(config(), 'test').partners[0]!;
  assert.equal(partner.secureAuthentication, undefined, 'defaults are not written into the stored config');
  assert.equal(secureAuthenticationOf(partner), 'off');
  assert.deepEqual(fileServicesOf(partner), {
    send: { securityLevel: 0, cipherSuite: 2, compression: false, signedReceipt: false },
    receive: { cipherSuites: [1, 2, 3, 4, 5, 6], encryption: 'allowed', signature: 'allowed', compression: 'allowed', signedReceipts: 'allowed', certificateExchange: 'allowed' },
  });
  // Each partner's list is its own (no shared default array to mutate).
  fileServicesOf(partner).receive.cipherSuites.push(9);
  assert.deepEqual(FILE_SERVICES_DEFAULTS.receive.cipherSuites, [1, 2, 3, 4, 5, 6]);
});

test('a partial agreement keeps the defaults for what it does not say', () => {
  const partner = validateStationConfig(config({}, { secureAuthentication: 'optional', fileServices: { send: { securityLevel: 3 }, receive: { encryption: 'required' } } }), 'test').partners[0] as PartnerConfig;
  const f = fileServicesOf(partner);
  assert.equal(secureAuthenticationOf(partner), 'optional');
  assert.equal(f.send.securityLevel, 3);
  assert.equal(f.send.cipherSuite, 2);
  assert.equal(f.receive.encryption, 'required');
  assert.equal(f.receive.signature, 'allowed');
});

test('bad security settings are refused at load, naming the setting', () => {
  const bad: [object, object, RegExp][] = [
    [{}, { secureAuthentication: 'sometimes' }, /secureAuthentication must be equal to one of the allowed values/],
    [{}, { fileServices: { send: { cipherSuite: 7 } } }, /cipherSuite must be equal to one of the allowed values/],
    [{}, { fileServices: { send: { securityLevel: 4 } } }, /securityLevel must be equal to one of the allowed values/],
    [{}, { fileServices: { receive: { cipherSuites: [2, 2] } } }, /cipherSuites must NOT have duplicate items/],
    [{}, { fileServices: { receive: { compression: 'required' } } }, /compression must be equal to one of the allowed values/],
    [{}, { fileServices: { sign: true } }, /must NOT have additional properties/],
    [{ pkcs11: { module: 'x.so' } }, {}, /station\.pkcs11\.token must be an object/],
    [{ certificates: { signing: { certificate: 'c.pem', key: 'sign' } } }, {}, /station\.certificates\.signing\.key names "sign", which is not in station\.keys$/],
    [{ pkcs11: PKCS11, certificates: { signing: { certificate: 'c.pem', key: 'other' } } }, {}, /not in station\.keys nor in station\.pkcs11\.keys/],
    [{ pkcs11: PKCS11, certificates: { tls: { certificate: 'c.pem', key: 'sign' } } }, {}, /the TLS key must be a key file, not a PKCS#11 key/],
  ];
  for (const [station, partner, message] of bad) {
    assert.throws(() => validateStationConfig(config(station, partner), 'test'), (err: unknown) => err instanceof ConfigError && message.test(err.message), JSON.stringify({ station, partner }));
  }
});

test('a role key may be a file key or a token key', () => {
  const ok = validateStationConfig(
    config({
      pkcs11: PKCS11,
      keys: { tls: { file: 'keys/tls.key' } },
      certificates: { tls: { certificate: 'tls.pem', key: 'tls' }, signing: { certificate: 's.pem', key: 'sign' } },
    }),
    'test',
  );
  assert.equal(ok.station.certificates?.signing?.key, 'sign');
  // Without a keys map, any name is a CKA_LABEL on the token.
  const { keys: _, ...byLabel } = PKCS11;
  assert.doesNotThrow(() => validateStationConfig(config({ pkcs11: byLabel, certificates: { encryption: { certificate: 'e.pem', key: 'decrypt' } } }), 'test'));
});
