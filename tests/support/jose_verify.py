#!/usr/bin/python3
"""Verify a Gatekeeper decision token with an independent, standard JOSE library (jwcrypto).

usage: jose_verify.py JWKS_FILE TOKEN
Picks the key by the token's "kid" from the JWKS, verifies the EdDSA signature (RFC 7515, RFC 8037),
checks exp > now >= iat - 60, prints the claims as JSON and exits 0; exits 1 when the token does not
verify or has expired.
"""
import json
import sys
import time

from jwcrypto import jwk, jws
from jwcrypto.common import base64url_decode


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        keyset = jwk.JWKSet.from_json(f.read())
    token = sys.argv[2].strip()
    header = json.loads(base64url_decode(token.split(".")[0]))
    if header.get("alg") != "EdDSA":
        print("refused: alg is %r, not EdDSA" % header.get("alg"), file=sys.stderr)
        return 1
    key = keyset.get_key(header.get("kid"))
    if key is None:
        print("refused: no key %r in the JWKS" % header.get("kid"), file=sys.stderr)
        return 1
    obj = jws.JWS()
    obj.deserialize(token)
    try:
        obj.verify(key, alg="EdDSA")
    except Exception as err:  # jwcrypto raises InvalidJWSSignature and friends
        print("refused: %s" % err, file=sys.stderr)
        return 1
    claims = json.loads(obj.payload)
    now = time.time()
    if not claims["exp"] > now >= claims["iat"] - 60:
        print("refused: token expired or not yet valid", file=sys.stderr)
        return 1
    print(json.dumps(claims, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
