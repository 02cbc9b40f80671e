"""Signed evidence for images: in-toto statements in DSSE envelopes, as keyed Sigstore bundles.

``statement`` builds the three statements (SLSA provenance v1, CycloneDX SBOM, gantry's gate
verdict), ``dsse`` the pre-authentication encoding, ``keys``/``kms`` the ECDSA P-256 signers,
``bundle`` the Sigstore bundle v0.3 JSON, ``verify`` the checks a deploy runs before any write.
"""
