#!/usr/bin/env python3
"""Independent reference for Gatekeeper's sticky bucketing (docs/bucketing.md, version 1).

Pure-Python SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012), checked
on import against the paper's Appendix A vector, and BLAKE2b from hashlib for the default salt.
Nothing here shares code with gatekeeper/bucket.c.

    python3 tests/support/bucket_reference.py            # print the vector table (Markdown)
    python3 tests/support/bucket_reference.py --c        # print the vectors as a C array
    python3 tests/support/bucket_reference.py FLAG VALUE # bucket of VALUE under FLAG's default salt
"""
import hashlib
import sys

MASK = (1 << 64) - 1
SCALE = 100000
DEFAULT_SALT_PREFIX = b"gatekeeper.bucket.v1:"


def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & MASK


def _sipround(v0, v1, v2, v3):
    v0 = (v0 + v1) & MASK
    v1 = _rotl(v1, 13)
    v1 ^= v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & MASK
    v3 = _rotl(v3, 16)
    v3 ^= v2
    v0 = (v0 + v3) & MASK
    v3 = _rotl(v3, 21)
    v3 ^= v0
    v2 = (v2 + v1) & MASK
    v1 = _rotl(v1, 17)
    v1 ^= v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash24(key: bytes, msg: bytes) -> bytes:
    """SipHash-2-4 of msg under a 16-byte key; 8 output bytes (little-endian encoding of the tag)."""
    assert len(key) == 16
    k0 = int.from_bytes(key[:8], "little")
    k1 = int.from_bytes(key[8:], "little")
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573
    n = len(msg)
    end = n - (n % 8)
    for i in range(0, end, 8):
        m = int.from_bytes(msg[i:i + 8], "little")
        v3 ^= m
        for _ in range(2):
            v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        v0 ^= m
    last = (n & 0xFF) << 56
    last |= int.from_bytes(msg[end:], "little")
    v3 ^= last
    for _ in range(2):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    v0 ^= last
    v2 ^= 0xFF
    for _ in range(4):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return ((v0 ^ v1 ^ v2 ^ v3) & MASK).to_bytes(8, "little")


def _self_check():
    # SipHash paper, Appendix A: key 00 01 .. 0f, message 00 01 .. 0e (15 bytes). The paper prints
    # the tag as the 64-bit number a129ca6149be45e5; as bytes (the reference implementation and
    # libsodium store it little-endian) that is e5 45 be 49 61 ca 29 a1.
    got = siphash24(bytes(range(16)), bytes(range(15)))
    if int.from_bytes(got, "little") != 0xA129CA6149BE45E5 or got.hex() != "e545be4961ca29a1":
        raise SystemExit("siphash24 self-check failed: got %s" % got.hex())


_self_check()


def default_salt(flag_key: str) -> bytes:
    """First 16 bytes of unkeyed BLAKE2b-256("gatekeeper.bucket.v1:" + flag key)."""
    return hashlib.blake2b(DEFAULT_SALT_PREFIX + flag_key.encode("utf-8"), digest_size=32).digest()[:16]


def bucket(salt: bytes, value: bytes) -> int:
    h = int.from_bytes(siphash24(salt, value), "little")
    h32 = h >> 32
    return (h32 * SCALE) >> 32


def pick(weights, b):
    end = 0
    for i, w in enumerate(weights):
        end += w
        if b < end:
            return i
    return len(weights) - 1


# (salt description, salt bytes, value bytes)
def vectors():
    zero = bytes(16)
    seq = bytes(range(16))
    doc = bytes.fromhex("00112233445566778899aabbccddeeff")
    dflt = default_salt("orders.read_v2")
    rows = []
    for name, salt in (("00 x16", zero), ("00 01 .. 0f", seq), ("0011..eeff", doc),
                       ('default("orders.read_v2")', dflt)):
        for value in (b"", b"tenant-42", "Zürich-東京".encode("utf-8"), b"12345"):
            rows.append((name, salt, value))
    rows.append(('default("checkout.new_ui")', default_salt("checkout.new_ui"), b"user-1"))
    return rows


def main(argv):
    if len(argv) == 3:
        print(bucket(default_salt(argv[1]), argv[2].encode("utf-8")))
        return 0
    as_c = len(argv) == 2 and argv[1] == "--c"
    if not as_c:
        print("| salt | salt bytes (hex) | value | value bytes (hex) | SipHash-2-4 output (hex) | h32 | bucket |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, salt, value in vectors():
        out = siphash24(salt, value)
        h32 = int.from_bytes(out, "little") >> 32
        b = bucket(salt, value)
        if as_c:
            cval = "".join("\\x%02x" % c for c in value)
            print('    {"%s", "%s", %d, 0x%08xu, %du},' % (salt.hex(), cval, len(value), h32, b))
        else:
            shown = value.decode("utf-8")
            print("| %s | `%s` | `\"%s\"` | `%s` | `%s` | %d | %d |"
                  % (name, salt.hex(), shown, value.hex() or "(none)", out.hex(), h32, b))
    if not as_c:
        print()
        for key in ("orders.read_v2", "checkout.new_ui"):
            print("default salt of `%s`: `%s`" % (key, default_salt(key).hex()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
