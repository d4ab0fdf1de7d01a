#!/usr/bin/env python3
"""Writes Tests/IsthmusCryptoTests/Vectors/*.txt for IsthmusCrypto.

Every published value typed here is re-checked against an independent implementation (Python
`cryptography` 48 / hashlib / hmac, or the `openssl` 3.0 CLI) before it is written; values with no
published source are computed here and labelled as such in the file header.
"""
import hashlib, hmac, os, subprocess, sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

OUT = sys.argv[1]
h = bytes.fromhex
def x(b): return b.hex()

def write(name, header, records):
    lines = ["# " + l if l else "#" for l in header.strip().splitlines()]
    for rec in records:
        lines.append("")
        for k, v in rec:
            lines.append(f"{k} = {v}")
    with open(os.path.join(OUT, name), "w") as f:
        f.write("\n".join(lines) + "\n")

def check(cond, what):
    if not cond:
        raise SystemExit("MISMATCH: " + what)

# ---------------------------------------------------------------- AES-CBC
cbc = [
    ("RFC 3602 case 1", "06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
     x(b"Single block msg"), "e353779c1079aeb82708942dbe77181a"),
    ("RFC 3602 case 2", "c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
     x(bytes(range(0x20))), "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"),
    ("RFC 3602 case 3", "6c3ea0477630ce21a2ce334aa746c2cd", "c782dc4c098c66cbd9cd27d825682c81",
     x(b"This is a 48-byte message (exactly 3 AES blocks)"),
     "d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5021c19216bad525c8579695d83ba2684"),
    ("RFC 3602 case 4", "56e47a38c5598974bc46903dba290349", "8ce82eefbea0da3c44699ed7db51b7d9",
     x(bytes(range(0xa0, 0xe0))),
     "c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e"
     "35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55"),
    ("NIST SP 800-38A F.2.3 CBC-AES192.Encrypt", "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
     "000102030405060708090a0b0c0d0e0f",
     "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52ef"
     "f69f2445df4f9b17ad2b417be66c3710",
     "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a571b242012fb7ae07fa9baac3df102e0"
     "08b0e27988598881d920a9e64f5615cd"),
    ("NIST SP 800-38A F.2.5 CBC-AES256.Encrypt",
     "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "000102030405060708090a0b0c0d0e0f",
     "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52ef"
     "f69f2445df4f9b17ad2b417be66c3710",
     "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d39f23369a9d9bacfa530e26304231461"
     "b2eb05e2c39be9fcda6c19078c6a9d1b"),
]
recs = []
for name, k, iv, pt, ct in cbc:
    e = Cipher(algorithms.AES(h(k)), modes.CBC(h(iv))).encryptor()
    check(x(e.update(h(pt)) + e.finalize()) == ct, name)
    recs.append([("name", name), ("key", k), ("iv", iv), ("plaintext", pt), ("ciphertext", ct)])
write("aes-cbc.txt", """
AES-CBC known answers (ENCR_AES_CBC). Sources: RFC 3602 section 4 cases 1-4 (128-bit keys) and
NIST SP 800-38A appendix F.2.3 / F.2.5 (192/256-bit keys). Values copied from the documents and
re-checked with Python cryptography 48 when this file was written.
""", recs)

# ---------------------------------------------------------------- AES-GCM
P64 = ("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
       "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255")
AAD = "feedfacedeadbeeffeedfacedeadbeefabaddad2"
K128 = "feffe9928665731c6d6a8f9467308308"
gcm = [
    ("GCM spec test case 3", K128, "cafebabefacedbaddecaf888", P64, "",
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
     "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985", "4d5c2af327cd64a62cf35abd2ba6fab4"),
    ("GCM spec test case 4", K128, "cafebabefacedbaddecaf888", P64[:120], AAD,
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
     "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091", "5bc94fbc3221a5db94fae95ae7121a47"),
    ("GCM spec test case 9", K128 + "feffe9928665731c", "cafebabefacedbaddecaf888", P64, "",
     "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c"
     "7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710acade256", "9924a7c8587336bfb118024db8674a14"),
    ("GCM spec test case 15", K128 * 2, "cafebabefacedbaddecaf888", P64, "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad", "b094dac5d93471bdec1a502270e3cc6c"),
    ("GCM spec test case 16", K128 * 2, "cafebabefacedbaddecaf888", P64[:120], AAD,
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662", "76fc6ece0f4e1768cddf8853bb2d551b"),
]
recs = []
for name, k, nonce, pt, aad, ct, tag in gcm:
    out = AESGCM(h(k)).encrypt(h(nonce), h(pt), h(aad) if aad else None)
    check(x(out) == ct + tag, name)
    recs.append([("name", name), ("key", k), ("salt", nonce[:8]), ("iv", nonce[8:]), ("aad", aad),
                 ("plaintext", pt), ("ciphertext", ct), ("tag", tag)])
write("aes-gcm.txt", """
AES-GCM known answers, arranged for RFC 4106 (key material = key || salt, nonce = salt || iv).
Source: McGrew and Viega, "The Galois/Counter Mode of Operation (GCM)", revised 2005, appendix B
test cases 3, 4, 9, 15, 16 (the 96-bit IV cafebabefacedbaddecaf888 split into a 4-byte salt and an
8-byte IV). Values copied from the document and re-checked with Python cryptography 48.
The 8- and 12-byte ICVs of ENCR_AES_GCM_8/_12 are the leading bytes of the 16-byte tag
(RFC 4106 section 6); the tests derive them from the tag below.
""", recs)

# ---------------------------------------------------------------- ChaCha20-Poly1305
k = x(bytes(range(0x80, 0xa0)))
pt = x(b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
       b"sunscreen would be it.")
ct = ("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
      "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3f"
      "f4def08e4b7a9de576d26586cec64b6116")
tag = "1ae10b594f09e26a7e902ecbd0600691"
aad = "50515253c0c1c2c3c4c5c6c7"
out = ChaCha20Poly1305(h(k)).encrypt(h("070000004041424344454647"), h(pt), h(aad))
check(x(out) == ct + tag, "RFC 8439 2.8.2")
write("chacha20-poly1305.txt", """
ChaCha20-Poly1305 known answer (ENCR_CHACHA20_POLY1305). Source: RFC 8439 section 2.8.2. For the
RFC 7634 layout the 12-byte nonce 07000000 || 4041424344454647 is split into the 4-byte salt
(the last 4 bytes of the 36-byte key material) and the 8-byte IV carried in the packet.
Values copied from the RFC and re-checked with Python cryptography 48.
""", [[("name", "RFC 8439 2.8.2"), ("key", k), ("salt", "07000000"), ("iv", "4041424344454647"),
       ("aad", aad), ("plaintext", pt), ("ciphertext", ct), ("tag", tag)]])

# ---------------------------------------------------------------- HMAC
def hm(name, key, data):
    return hmac.new(key, data, name).hexdigest()
rfc2202 = {
    "md5": [
        (b"\x0b" * 16, b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
        (b"Jefe", b"what do ya want for nothing?", "750c783e6ab0b503eaa86e310a5db738"),
        (b"\xaa" * 16, b"\xdd" * 50, "56be34521d144c88dbb8c733f0e8b3f6"),
        (bytes(range(1, 26)), b"\xcd" * 50, "697eaf0aca3a3aea3a75164746ffaa79"),
        (b"\x0c" * 16, b"Test With Truncation", "56461ef2342edc00f9bab995690efd4c"),
        (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key - Hash Key First", "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"),
        (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
         "6f630fad67cda0ee1fb1f562db3aa53e"),
    ],
    "sha1": [
        (b"\x0b" * 20, b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"),
        (b"Jefe", b"what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
        (b"\xaa" * 20, b"\xdd" * 50, "125d7342b9ac11cd91a39af48aa17b4f63f175d3"),
        (bytes(range(1, 26)), b"\xcd" * 50, "4c9007f4026250c6bc8414f9bf50c86c2d7235da"),
        (b"\x0c" * 20, b"Test With Truncation", "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"),
        (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key - Hash Key First",
         "aa4ae5e15272d00e95705637ce8a3b55ed402112"),
        (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
         "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"),
    ],
}
# RFC 4231 outputs as published (also in swift-crypto 4.5.2 Tests/CryptoTests/MAC/HMACTests.swift).
rfc4231_inputs = [
    (1, b"\x0b" * 20, b"Hi There"),
    (2, b"Jefe", b"what do ya want for nothing?"),
    (3, b"\xaa" * 20, b"\xdd" * 50),
    (4, bytes(range(1, 26)), b"\xcd" * 50),
    (6, b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First"),
    (7, b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than block-size data. "
                       b"The key needs to be hashed before being used by the HMAC algorithm."),
]
rfc4231 = {
    "sha256": {1: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
               2: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
               3: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
               4: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
               6: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
               7: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
    "sha384": {1: "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
               2: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
               3: "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27",
               4: "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb",
               6: "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
               7: "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e"},
    "sha512": {1: "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
               2: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
               3: "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
               4: "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd",
               6: "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
               7: "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58"},
}
PRFIDS = {"md5": 1, "sha1": 2, "sha256": 5, "sha384": 6, "sha512": 7}
recs = []
for alg, cases in rfc2202.items():
    for i, (key, data, mac) in enumerate(cases, 1):
        check(hm(alg, key, data) == mac, f"RFC 2202 {alg} {i}")
        recs.append([("name", f"RFC 2202 HMAC-{alg.upper()} case {i}"), ("prf", str(PRFIDS[alg])),
                     ("key", x(key)), ("data", x(data)), ("mac", mac)])
for alg, outs in rfc4231.items():
    for (i, key, data) in rfc4231_inputs:
        check(hm(alg, key, data) == outs[i], f"RFC 4231 {alg} {i}")
        recs.append([("name", f"RFC 4231 HMAC-{alg.upper()} case {i}"), ("prf", str(PRFIDS[alg])),
                     ("key", x(key)), ("data", x(data)), ("mac", outs[i])])
write("hmac-prf.txt", """
HMAC known answers, used through the PRF transforms (PRF_HMAC_MD5 = 1, PRF_HMAC_SHA1 = 2,
PRF_HMAC_SHA2_256/384/512 = 5/6/7). `prf` is the IKEv2 PRF transform ID.
Sources: RFC 2202 sections 2 and 3 (MD5, SHA-1), RFC 4231 section 4 (SHA-2; case 5 is the
truncation case and is covered in hmac-integrity.txt). Values copied from the RFCs (RFC 4231 values
as also listed in swift-crypto 4.5.2 Tests/CryptoTests/MAC/HMACTests.swift) and re-checked with
Python's hmac module.
""", recs)

# Integrity (truncated) vectors
INTEG = {"md5": (1, 12), "sha1": (2, 12), "sha256": (12, 16), "sha384": (13, 24), "sha512": (14, 32)}
recs = []
# RFC 2202 case 5 (truncation to 96 bits) for MD5 / SHA-1, with the 96-bit truncations the RFC prints.
for alg, trunc in (("md5", "56461ef2342edc00f9bab995"), ("sha1", "4c1a03424b55e07fe7f27be1")):
    key, data, mac = rfc2202[alg][4]
    check(mac.startswith(trunc), "2202 trunc")
    recs.append([("name", f"RFC 2202 HMAC-{alg.upper()}-96 case 5"), ("integrity", str(INTEG[alg][0])),
                 ("key", x(key)), ("data", x(data)), ("icv", trunc)])
# RFC 4868 section 2.7.2: keys as long as the hash output; ICV = first half of the HMAC.
# SHA-256 outputs match the values published in RFC 4868 2.7.2.1 (checked against public copies);
# 384/512 outputs were computed here with Python's hmac.
published_4868_256 = ["198a607eb44bfbc69903a0f1cf2bbdc5", "167f928588c5cc2eef8e3093caa0e87c",
                      "cdcb1220d1ecccea91e53aba3092f962", "372efcf9b40b35c2115b1346903d2ef4"]
for alg, n in (("sha256", 32), ("sha384", 48), ("sha512", 64)):
    inputs = [(b"\x0b" * n, b"Hi There"), (b"Jefe" * (n // 4), b"what do ya want for nothing?"),
              (b"\xaa" * n, b"\xdd" * 50), (bytes(range(1, n + 1)), b"\xcd" * 50)]
    for i, (key, data) in enumerate(inputs, 1):
        icv = hm(alg, key, data)[: INTEG[alg][1] * 2]
        if alg == "sha256":
            check(icv == published_4868_256[i - 1], f"4868 256 {i}")
        recs.append([("name", f"RFC 4868 AUTH{alg[3:]}-{i}"), ("integrity", str(INTEG[alg][0])),
                     ("key", x(key)), ("data", x(data)), ("icv", icv)])
write("hmac-integrity.txt", """
Truncated HMAC integrity transforms (AUTH_HMAC_MD5_96 = 1, AUTH_HMAC_SHA1_96 = 2,
AUTH_HMAC_SHA2_256_128 = 12, _384_192 = 13, _512_256 = 14). `integrity` is the IKEv2 transform ID.
Sources: RFC 2202 case 5 with its printed 96-bit truncations; RFC 4868 section 2.7.2 authenticator
test inputs (key length = hash length). The AUTH256 outputs equal RFC 4868 section 2.7.2.1 as
published; the AUTH384 / AUTH512 outputs were computed with Python's hmac (independent
implementation) when this file was written.
""", recs)

# ---------------------------------------------------------------- DES / 3DES
def openssl_des(key, iv, pt):
    r = subprocess.run(["openssl", "enc", "-des-cbc", "-provider", "legacy", "-provider", "default",
                        "-K", key, "-iv", iv, "-nopad"], input=h(pt), capture_output=True, check=True)
    return x(r.stdout)
des = [
    ("FIPS 81 appendix C (CBC)", "2", "0123456789abcdef", "1234567890abcdef",
     x(b"Now is the time for all "), "e5c7cdde872bf27c43e934008c389c0f683788499a7c05f6"),
    ("NIST SP 800-17 variable plaintext KAT, round 1", "2", "0101010101010101", "0000000000000000",
     "8000000000000000", "95f8a5e5dd31d900"),
    ("NIST SP 800-17 variable plaintext KAT, round 1, keying option 3", "3",
     "010101010101010101010101010101010101010101010101", "0000000000000000",
     "8000000000000000", "95f8a5e5dd31d900"),
]
recs = []
for name, eid, key, iv, pt, ct in des:
    if eid == "2":
        got = openssl_des(key, iv, pt)
    else:
        e = Cipher(TripleDES(h(key)), modes.CBC(h(iv))).encryptor()
        got = x(e.update(h(pt)) + e.finalize())
    check(got == ct, name)
    recs.append([("name", name), ("encryption", eid), ("key", key), ("iv", iv), ("plaintext", pt),
                 ("ciphertext", ct)])
# SP 800-67 example: plaintext "The qufck brown fox jump" (sic), ECB ciphertext A826FD8CE53B855F CCE21C8112256FE6
# 68D5C05DD9B6B900. With CBC and a zero IV only the first block equals the ECB one.
key = "0123456789abcdef23456789abcdef01456789abcdef0123"
e = Cipher(TripleDES(h(key)), modes.ECB()).encryptor()
ecb = x(e.update(b"The qufck brown fox jump") + e.finalize())
check(ecb == "a826fd8ce53b855fcce21c8112256fe668d5c05dd9b6b900", "SP 800-67")
recs.append([("name", "NIST SP 800-67 rev. 1 appendix B, first block (IV zero: CBC = ECB)"), ("encryption", "3"),
             ("key", key), ("iv", "0000000000000000"), ("plaintext", x(b"The qufc")), ("ciphertext", ecb[:16])])
write("des.txt", """
DES-CBC (ENCR_DES = 2) and 3DES-EDE-CBC (ENCR_3DES = 3) known answers. `encryption` is the IKEv2
transform ID. Sources: FIPS 81 appendix C (CBC example), NIST SP 800-17 table A.1 (variable
plaintext, first entry; with three equal keys 3DES reduces to DES), NIST SP 800-67 rev. 1
appendix B (first block; with a zero IV the first CBC block equals ECB). Re-checked with the
openssl 3.0 CLI (DES, legacy provider) and Python cryptography 48 (3DES).
""", recs)

# ---------------------------------------------------------------- ECDH RFC 5903 section 8
curves = [
    ("19", ec.SECP256R1(), 32, "c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433",
     "c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53",
     "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de",
     "dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180"),
    ("20", ec.SECP384R1(), 48,
     "099f3c7034d4a2c699884d73a375a67f7624ef7c6b3c0f160647b67414dce655e35b538041e649ee3faef896783ab194",
     "41cb0779b4bdb85d47846725fbec3c9430fab46cc8dc5060855cc9bda0aa2942e0308312916b8ed2960e4bd55a7448fc",
     "11187331c279962d93d604243fd592cb9d0a926f422e47187521287e7156c5c4d603135569b9e9d09cf5d4a270f59746",
     "667842d7d180ac2cde6f74f37551f55755c7645c20ef73e31634fe72b4c55ee6de3ac808acb4bdb4c88732aee95f41aa"),
    ("21", ec.SECP521R1(), 66,
     "0037ade9319a89f4dabdb3ef411aaccca5123c61acab57b5393dce47608172a095aa85a30fe1c2952c6771d937ba9777f5957b26"
     "39bab072462f68c27a57382d4a52",
     "0145ba99a847af43793fdd0e872e7cdfa16be30fdc780f97bccc3f078380201e9c677d600b343757a3bdbf2a3163e4c2f869cca7"
     "458aa4a4effc311f5cb151685eb9",
     "01144c7d79ae6956bc8edb8e7c787c4521cb086fa64407f97894e5e6b2d79b04d1427e73ca4baa240a34786859810c06b3c715a3"
     "a8cc3151f2bee417996d19f3ddea",
     "0015417e84dbf28c0ad3c278713349dc7df153c897a1891bd98bab4357c9ecbee1e3bf42e00b8e380aeae57c2d107564941885942a"
     "f5a7f4601723c4195d176ced3e"),
]
recs = []
for gid, curve, n, i, r, gir, gix in curves:
    ki = ec.derive_private_key(int(i, 16), curve)
    kr = ec.derive_private_key(int(r, 16), curve)
    def raw(k):
        nums = k.public_key().public_numbers()
        return nums.x.to_bytes(n, "big") + nums.y.to_bytes(n, "big")
    gi, gr = x(raw(ki)), x(raw(kr))
    check(gi.startswith(gix), f"ecp {gid} gix")
    check(x(ki.exchange(ec.ECDH(), kr.public_key())) == gir, f"ecp {gid} gir")
    recs.append([("name", f"RFC 5903 section 8 group {gid}"), ("group", gid), ("i", i), ("gi", gi), ("r", r),
                 ("gr", gr), ("gir", gir)])
write("ecdh-rfc5903.txt", """
ECP Diffie-Hellman known answers (groups 19, 20, 21). Source: RFC 5903 section 8 (private keys i, r
and the shared x-coordinate g^ir as published; the same values appear in OpenSSL's ecdhtest.c).
gi and gr are the KE payload encodings x || y (RFC 5903 section 7); they were computed from i and r
with Python cryptography 48 and their x-coordinates equal the RFC's gix / grx.
""", recs)

# ---------------------------------------------------------------- X25519
a = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
ap = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
b = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
bp = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
k = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
ka = x25519.X25519PrivateKey.from_private_bytes(h(a))
kb = x25519.X25519PrivateKey.from_private_bytes(h(b))
check(x(ka.public_key().public_bytes_raw()) == ap and x(kb.public_key().public_bytes_raw()) == bp, "x25519 pub")
check(x(ka.exchange(kb.public_key())) == k, "x25519 k")
write("x25519-rfc7748.txt", """
Curve25519 (group 31, RFC 8031) known answer. Source: RFC 7748 section 6.1. Values copied from
the RFC and re-checked with Python cryptography 48.
""", [[("name", "RFC 7748 6.1"), ("group", "31"), ("i", a), ("gi", ap), ("r", b), ("gr", bp), ("gir", k)]])
print("ok")
