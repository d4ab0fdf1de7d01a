#!/usr/bin/env python3
"""modp.txt: finite-field DH known answers computed with Python's pow() (independent of libcrypto's
BN_mod_exp) over the RFC 2409/3526 primes as exported by libcrypto (ctypes)."""
import ctypes, ctypes.util, hashlib, os, sys
OUT = sys.argv[1]
lib = ctypes.CDLL(ctypes.util.find_library("crypto"))
lib.BN_bn2hex.restype = ctypes.c_void_p
for n in ("BN_get_rfc2409_prime_1024", "BN_get_rfc3526_prime_2048", "BN_get_rfc3526_prime_1536"):
    getattr(lib, n).restype = ctypes.c_void_p
    getattr(lib, n).argtypes = [ctypes.c_void_p]
lib.BN_bn2hex.argtypes = [ctypes.c_void_p]
def prime(fn):
    bn = getattr(lib, fn)(None)
    return int(ctypes.string_at(lib.BN_bn2hex(bn)).decode(), 16)
recs = []
for gid, fn in (("2", "BN_get_rfc2409_prime_1024"), ("5", "BN_get_rfc3526_prime_1536"), ("14", "BN_get_rfc3526_prime_2048")):
    p = prime(fn)
    n = (p.bit_length() + 7) // 8
    # RFC 2409 section 6 / RFC 3526: p = 2^b - 2^(b-64) - 1 + 2^64 * (floor(2^(b-130) pi) + k)
    assert p >> (p.bit_length() - 64) == 2**64 - 1 and p & (2**64 - 1) == 2**64 - 1
    enc = lambda v: v.to_bytes(n, "big").hex()
    x = int.from_bytes(hashlib.sha256(b"isthmus modp x " + gid.encode()).digest(), "big")
    y = int.from_bytes(hashlib.sha256(b"isthmus modp y " + gid.encode()).digest(), "big")
    gx, gy = pow(2, x, p), pow(2, y, p)
    gxy = pow(gy, x, p)
    assert gxy == pow(gx, y, p)
    recs.append([("name", f"Computed (Python pow): group {gid}"), ("group", gid), ("prime", enc(p)), ("i", f"{x:064x}"), ("gi", enc(gx)),
                 ("r", f"{y:064x}"), ("gr", enc(gy)), ("gir", enc(gxy))])
lines = ["# MODP Diffie-Hellman known answers (groups 2, 5, 14) with 256-bit private exponents.",
         "# No published IKE vectors exist for these groups; values were computed with Python's pow()",
         "# (independent of libcrypto's BN_mod_exp_mont_consttime) over the RFC 2409 / RFC 3526 primes",
         "# as exported by libcrypto (field `prime`, checked to have the RFC form 2^b - 2^(b-64) - 1 + 2^64 * k). g^i, g^r and g^ir are left-padded to the prime length."]
for r in recs:
    lines.append("")
    lines += [f"{k} = {v}" for k, v in r]
open(os.path.join(OUT, "modp.txt"), "w").write("\n".join(lines) + "\n")
print("ok")
