// Verify gantry's Sigstore bundles with an independent implementation: npm @sigstore/verify.
//
// usage: node sigstore_verify.js PUBLIC_KEY.pem BUNDLE.json...
// Prints one JSON line per bundle: {"file", "ok", "error"?}. Offline and keyed: the trust
// material has no CA, no transparency log, no TSA, only the public key under its hint (the hex
// SHA-256 of its DER SubjectPublicKeyInfo, computed here independently), and the Verifier is told
// to expect 0 tlog entries, 0 timestamps and 0 SCTs — the library's own keyed-verification path
// (verifySigningKey 'public-key' → trustMaterial.publicKey(hint); DSSE PAE signature check).
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const { bundleFromJSON } = require('@sigstore/bundle');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

const [pemFile, ...files] = process.argv.slice(2);
const pub = crypto.createPublicKey(fs.readFileSync(pemFile));
const der = pub.export({ type: 'spki', format: 'der' });
const hint = crypto.createHash('sha256').update(der).digest('hex');
const trust = toTrustMaterial(
  { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [] },
  { [hint]: { rawBytes: der } },
);
const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
let bad = 0;
for (const file of files) {
  try {
    const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(file, 'utf8')));
    verifier.verify(toSignedEntity(bundle));
    console.log(JSON.stringify({ file, ok: true }));
  } catch (err) {
    bad += 1;
    console.log(JSON.stringify({ file, ok: false, error: `${err.name}: ${err.code || ''} ${err.message}` }));
  }
}
process.exitCode = bad ? 1 : 0;
