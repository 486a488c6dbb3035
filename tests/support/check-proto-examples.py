#!/usr/bin/python3
"""Check the wire contract in proto/: every example validates against its schema.

Usage: check-proto-examples.py PROTO_DIR

For each proto/examples/NAME.json there must be proto/schemas/NAME.schema.json and the other way
round. Each schema must be a valid draft 2020-12 schema, its example must validate, and the schema
must reject at least one mutation of the example (a member dropped or given a wrong type), so a
schema that accepts anything fails the check. When jwcrypto is available, the token in
token-reply.json must also verify against jwks.json and carry decision-claims.json as its
payload, so the examples cannot drift apart.

Prints one line per file and exits non-zero on any failure.
"""
import copy
import json
import os
import sys

from jsonschema import Draft202012Validator

DRAFT = "https://json-schema.org/draft/2020-12/schema"
WRONG = object()  # marker: "replace with a value of another type"


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def wrong_type(value):
    """A value of a different JSON type than `value`."""
    if isinstance(value, bool):
        return "true"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return {"not": "a list"}
    if isinstance(value, dict):
        return ["not", "an", "object"]
    return 0


def mutations(example):
    """(description, mutated document) pairs derived from an example."""
    yield "root replaced by an array", [example]
    if not isinstance(example, dict):
        return
    for key in example:
        dropped = copy.deepcopy(example)
        del dropped[key]
        yield "without %r" % key, dropped
        changed = copy.deepcopy(example)
        changed[key] = wrong_type(example[key])
        yield "%r of the wrong type" % key, changed
        if isinstance(example[key], list) and example[key] and isinstance(example[key][0], dict):
            for inner in example[key][0]:
                nested = copy.deepcopy(example)
                del nested[key][0][inner]
                yield "%r[0] without %r" % (key, inner), nested


def check_pair(name, schema_path, example_path):
    """(failure messages, number of mutations rejected) for one schema/example pair."""
    errors = []
    schema = load(schema_path)
    example = load(example_path)
    if schema.get("$schema") != DRAFT:
        errors.append("$schema is not %s" % DRAFT)
    try:
        Draft202012Validator.check_schema(schema)
    except Exception as e:  # jsonschema.SchemaError
        return errors + ["invalid schema: %s" % getattr(e, "message", e)], 0
    validator = Draft202012Validator(schema)
    for err in validator.iter_errors(example):
        errors.append("example invalid at /%s: %s"
                      % ("/".join(str(p) for p in err.absolute_path), err.message))
    rejected = [desc for desc, doc in mutations(example) if not validator.is_valid(doc)]
    if not rejected:
        errors.append("schema accepts every mutation of the example")
    return errors, len(rejected)


def check_token(examples):
    """The example token verifies with the example JWKS and carries the example claims."""
    try:
        from jwcrypto import jwk, jws
    except ImportError:
        print("SKIP token-reply.json signature: python3-jwcrypto is not installed")
        return True
    names = ("token-reply.json", "jwks.json", "decision-claims.json")
    if not all(os.path.exists(os.path.join(examples, n)) for n in names):
        print("FAIL token-reply.json signature: needs %s" % ", ".join(names))
        return False
    token = load(os.path.join(examples, names[0]))["token"]
    keyset = jwk.JWKSet.from_json(json.dumps(load(os.path.join(examples, names[1]))))
    claims = load(os.path.join(examples, names[2]))
    try:
        obj = jws.JWS()
        obj.deserialize(token)
        header = obj.jose_header
        obj.verify(keyset.get_key(header["kid"]), alg="EdDSA")
        payload = json.loads(obj.payload)
    except Exception as e:
        print("FAIL token-reply.json signature: %s" % e)
        return False
    if header.get("alg") != "EdDSA" or header.get("typ") != "JWT" or payload != claims:
        print("FAIL token-reply.json signature: header %s or payload differs from "
              "decision-claims.json" % header)
        return False
    print("ok   token-reply.json: EdDSA signature verifies with jwks.json (kid %s), payload is "
          "decision-claims.json" % header["kid"])
    return True


def main(argv):
    if len(argv) != 2:
        print("usage: check-proto-examples.py PROTO_DIR", file=sys.stderr)
        return 2
    schemas = os.path.join(argv[1], "schemas")
    examples = os.path.join(argv[1], "examples")
    schema_names = {f[: -len(".schema.json")] for f in os.listdir(schemas)
                    if f.endswith(".schema.json")}
    example_names = {f[: -len(".json")] for f in os.listdir(examples) if f.endswith(".json")}
    ok = True
    if not schema_names:
        print("FAIL %s: no schemas" % schemas)
        ok = False
    for name in sorted(schema_names | example_names):
        schema_path = os.path.join(schemas, name + ".schema.json")
        example_path = os.path.join(examples, name + ".json")
        if name not in example_names:
            print("FAIL %s: no example %s" % (schema_path, example_path))
            ok = False
            continue
        if name not in schema_names:
            print("FAIL %s: no schema %s" % (example_path, schema_path))
            ok = False
            continue
        try:
            errors, nrejected = check_pair(name, schema_path, example_path)
        except (OSError, ValueError) as e:
            errors, nrejected = ["cannot read: %s" % e], 0
        if errors:
            ok = False
            for e in errors:
                print("FAIL %s.json: %s" % (name, e))
        else:
            print("ok   %s.json: valid against %s.schema.json; %d mutations rejected"
                  % (name, name, nrejected))
    if not check_token(examples):
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
