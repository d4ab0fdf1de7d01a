@testable import IsthmusCrypto
import IsthmusTestSupport
import XCTest

/// AES-GCM-16 has two backends: the system libcrypto one the factory picks, and swift-crypto's one-shot
/// API kept as an independent implementation. Random inputs must give identical packets both ways.
final class SuiteBackendCrossCheckTests: XCTestCase {
    private typealias ID = CryptoSuites.EncryptionID

    /// Packets per key size; each has a random key, salt, IV, associated data and payload length.
    private static let rounds = 200

    func testFactoryUsesLibcryptoForEveryGCMICVLength() throws {
        for id in [ID.aesGCM8, ID.aesGCM12, ID.aesGCM16] {
            let protection = try CryptoSuites.makeProtection(
                encryptionID: id, keyBits: 128, encryptionKey: SecretBytes(zeros: 20), integrityID: nil,
                integrityKey: nil
            )
            XCTAssertTrue(protection is LibcryptoAEADProtection, "transform \(id)")
        }
    }

    func testLibcryptoAndSwiftCryptoGCM16AgreeOnRandomInputs() throws {
        var generator = SplitMix64(seed: 0x1574_4d05_6c3a_9e21)
        for keyBits in [128, 192, 256] {
            for round in 0..<Self.rounds {
                let keyMaterial = SecretBytes(generator.bytes(keyBits / 8 + 4))
                let libcrypto = try LibcryptoAEADProtection(
                    transformID: ID.aesGCM16, keyMaterial: keyMaterial, icvLength: 16)
                let swiftCrypto = AESGCMProtection(transformID: ID.aesGCM16, keyMaterial: keyMaterial)
                let iv = generator.bytes(8)
                // ESP associated data is 8 (SPI || seq) or 12 (ESN) bytes; IKE's is longer. Include 0.
                let aad = generator.bytes([0, 8, 12, 28, 40][Int(generator.next() % 5)])
                let plaintext = generator.bytes(round < 20 ? round : Int(generator.next() % 1500))
                let context = "AES-\(keyBits) round \(round), \(plaintext.count) bytes, aad \(aad.count)"

                let sealedByLibcrypto = try VectorsPacket.seal(libcrypto, iv: iv, plaintext: plaintext, aad: aad)
                let sealedBySwiftCrypto = try VectorsPacket.seal(swiftCrypto, iv: iv, plaintext: plaintext, aad: aad)
                XCTAssertEqual(sealedByLibcrypto, sealedBySwiftCrypto, context)

                // Each backend opens the other's packet.
                var openedBySwiftCrypto = sealedByLibcrypto
                try VectorsPacket.open(swiftCrypto, packet: &openedBySwiftCrypto, aad: aad)
                XCTAssertEqual(Array(openedBySwiftCrypto[8..<(8 + plaintext.count)]), plaintext, context)
                var openedByLibcrypto = sealedBySwiftCrypto
                try VectorsPacket.open(libcrypto, packet: &openedByLibcrypto, aad: aad)
                XCTAssertEqual(Array(openedByLibcrypto[8..<(8 + plaintext.count)]), plaintext, context)

                // One flipped bit anywhere (IV, payload or ICV) or in the associated data: both reject.
                var tampered = sealedByLibcrypto
                var tamperedAAD = aad
                let position = Int(generator.next() % UInt64(tampered.count + aad.count))
                let bit = UInt8(1) << UInt8(generator.next() % 8)
                if position < tampered.count {
                    tampered[position] ^= bit
                } else {
                    tamperedAAD[position - tampered.count] ^= bit
                }
                let backends: [(String, any PacketProtection)] = [
                    ("libcrypto", libcrypto), ("swift-crypto", swiftCrypto),
                ]
                for (name, protection) in backends {
                    var packet = tampered
                    XCTAssertThrowsError(try VectorsPacket.open(protection, packet: &packet, aad: tamperedAAD)) {
                        XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .authenticationFailure, "\(name) \(context)")
                    }
                    let payload = Array(packet[8..<(8 + plaintext.count)])
                    if !plaintext.isEmpty {
                        XCTAssertNotEqual(payload, plaintext, "\(name) exposed plaintext, \(context)")
                    }
                }
            }
        }
    }
}

/// ChaCha20-Poly1305 likewise: libcrypto EVP (the factory's) against swift-crypto's ChaChaPoly.
final class SuiteChaChaBackendCrossCheckTests: XCTestCase {
    func testFactoryUsesLibcrypto() throws {
        let protection = try CryptoSuites.makeProtection(
            encryptionID: CryptoSuites.EncryptionID.chaCha20Poly1305, keyBits: nil,
            encryptionKey: SecretBytes(zeros: 36), integrityID: nil, integrityKey: nil)
        XCTAssertTrue(protection is LibcryptoAEADProtection)
    }

    func testBackendsAgreeAndRejectTampering() throws {
        var generator = SplitMix64(seed: 0x7634_2015_8439_0001)
        for round in 0..<200 {
            let keyMaterial = SecretBytes(generator.bytes(36))
            let id = CryptoSuites.EncryptionID.chaCha20Poly1305
            let libcrypto = try LibcryptoAEADProtection(chaCha20Poly1305: id, keyMaterial: keyMaterial)
            let swiftCrypto = ChaChaPolyProtection(transformID: id, keyMaterial: keyMaterial)
            let iv = generator.bytes(8)
            let aad = generator.bytes([0, 8, 12, 28][Int(generator.next() % 4)])
            let plaintext = generator.bytes(round < 20 ? round : Int(generator.next() % 1500))
            let sealed = try VectorsPacket.seal(libcrypto, iv: iv, plaintext: plaintext, aad: aad)
            XCTAssertEqual(sealed, try VectorsPacket.seal(swiftCrypto, iv: iv, plaintext: plaintext, aad: aad))
            var opened = sealed
            try VectorsPacket.open(swiftCrypto, packet: &opened, aad: aad)
            XCTAssertEqual(Array(opened[8..<(8 + plaintext.count)]), plaintext)
            var tampered = sealed
            tampered[Int(generator.next() % UInt64(tampered.count))] ^= 0x20
            XCTAssertThrowsError(try VectorsPacket.open(libcrypto, packet: &tampered, aad: aad))
            if !plaintext.isEmpty { XCTAssertNotEqual(Array(tampered[8..<(8 + plaintext.count)]), plaintext) }
        }
    }
}

/// The CBC suites likewise: the factory's libcrypto encrypt-then-MAC (EVP AES-CBC / 3DES / DES contexts
/// per SA, HMAC on pre-keyed libcrypto hash states) against swift-crypto's `AES._CBC` and `HMAC<H>`
/// composed by ``EncryptThenMACProtection``. 3DES and DES have no second implementation of the cipher
/// (their KATs are in des.txt); their HMAC and the composition are still cross-checked.
final class SuiteCBCBackendCrossCheckTests: XCTestCase {
    private typealias ID = CryptoSuites.EncryptionID
    private typealias Integrity = CryptoSuites.IntegrityID

    private static let integrityIDs = [
        Integrity.hmacMD5_96, Integrity.hmacSHA1_96, Integrity.hmacSHA2_256_128, Integrity.hmacSHA2_384_192,
        Integrity.hmacSHA2_512_256,
    ]
    /// (encryption ID, key bits) of every CBC cipher.
    private static let ciphers: [(id: UInt16, bits: Int?)] = [
        (ID.aesCBC, 128), (ID.aesCBC, 192), (ID.aesCBC, 256), (ID.tripleDES, nil), (ID.des, nil),
    ]
    /// Packets per cipher and integrity pair.
    private static let rounds = 40

    func testFactoryUsesLibcryptoForEveryCBCSuite() throws {
        for cipher in Self.ciphers {
            let keyLength = try CryptoSuites.encryptionKeyLength(encryptionID: cipher.id, keyBits: cipher.bits)
            let transform = try CryptoSuites.make(
                encryptionID: cipher.id, keyBits: cipher.bits, key: SecretBytes(zeros: keyLength))
            guard case .cipher(let made) = transform else { return XCTFail("\(cipher.id) is not a cipher") }
            XCTAssertTrue(made is LibcryptoCBCCipher, "transform \(cipher.id)")
            for integrityID in Self.integrityIDs {
                let integrityLength = try CryptoSuites.integrityKeyLength(integrityID: integrityID)
                XCTAssertTrue(
                    try CryptoSuites.make(integrityID: integrityID, key: SecretBytes(zeros: integrityLength))
                        is LibcryptoHMACIntegrity)
                let protection = try CryptoSuites.makeProtection(
                    encryptionID: cipher.id, keyBits: cipher.bits, encryptionKey: SecretBytes(zeros: keyLength),
                    integrityID: integrityID, integrityKey: SecretBytes(zeros: integrityLength))
                XCTAssertTrue(protection is LibcryptoEncryptThenMACProtection, "\(cipher.id) + \(integrityID)")
            }
        }
    }

    func testLibcryptoAndSwiftCryptoAgreeOnRandomPackets() throws {
        var generator = SplitMix64(seed: 0x3602_4868_2404_0001)
        for cipher in Self.ciphers {
            for integrityID in Self.integrityIDs {
                let encryptionLength = try CryptoSuites.encryptionKeyLength(
                    encryptionID: cipher.id, keyBits: cipher.bits)
                let integrityLength = try CryptoSuites.integrityKeyLength(integrityID: integrityID)
                for round in 0..<Self.rounds {
                    let encryptionKey = SecretBytes(generator.bytes(encryptionLength))
                    let integrityKey = SecretBytes(generator.bytes(integrityLength))
                    let libcrypto = try CryptoSuites.makeProtection(
                        encryptionID: cipher.id, keyBits: cipher.bits, encryptionKey: encryptionKey,
                        integrityID: integrityID, integrityKey: integrityKey)
                    let reference = try Self.reference(cipher.id, encryptionKey, integrityID, integrityKey)
                    let block = libcrypto.blockSize
                    XCTAssertEqual(block, reference.blockSize)
                    XCTAssertEqual(libcrypto.icvLength, reference.icvLength)
                    let iv = generator.bytes(block)
                    let aad = generator.bytes([0, 8, 12, 28][Int(generator.next() % 4)])
                    // ESN: the high-order sequence bits authenticated after the payload (RFC 4303 3.3.2.1).
                    let trailer = generator.next() % 2 == 0 ? [] : generator.bytes(4)
                    let blocks = round < 4 ? round : Int(generator.next() % UInt64(1500 / block))
                    let plaintext = generator.bytes(blocks * block)
                    let context =
                        "\(cipher.id)/\(cipher.bits ?? 0) + \(integrityID) round \(round)"
                        + ", \(plaintext.count) bytes, aad \(aad.count), trailer \(trailer.count)"

                    let sealed = try Self.seal(libcrypto, iv, plaintext, aad, trailer)
                    XCTAssertEqual(sealed, try Self.seal(reference, iv, plaintext, aad, trailer), context)
                    if !plaintext.isEmpty {
                        XCTAssertNotEqual(Array(sealed[block..<(block + plaintext.count)]), plaintext, context)
                    }
                    for (name, protection) in [("reference", reference), ("libcrypto", libcrypto)] {
                        var opened = sealed
                        try Self.open(protection, &opened, aad, trailer)
                        XCTAssertEqual(
                            Array(opened[block..<(block + plaintext.count)]), plaintext, "\(name) \(context)")
                    }

                    // One flipped bit in the IV, ciphertext, ICV, associated data or trailer: both reject
                    // before decrypting, so the packet is left exactly as received.
                    var tampered = sealed
                    var tamperedAAD = aad
                    var tamperedTrailer = trailer
                    let position = Int(generator.next() % UInt64(sealed.count + aad.count + trailer.count))
                    let bit = UInt8(1) << UInt8(generator.next() % 8)
                    if position < sealed.count {
                        tampered[position] ^= bit
                    } else if position < sealed.count + aad.count {
                        tamperedAAD[position - sealed.count] ^= bit
                    } else {
                        tamperedTrailer[position - sealed.count - aad.count] ^= bit
                    }
                    for (name, protection) in [("reference", reference), ("libcrypto", libcrypto)] {
                        var packet = tampered
                        XCTAssertThrowsError(try Self.open(protection, &packet, tamperedAAD, tamperedTrailer)) {
                            XCTAssertEqual(
                                ($0 as? IsthmusCryptoError)?.code, .authenticationFailure, "\(name) \(context)")
                        }
                        XCTAssertEqual(packet, tampered, "\(name) touched a forged packet, \(context)")
                    }
                }
            }
        }
    }

    /// The HMAC alone, with keys of every interesting length (empty, shorter than, equal to and longer
    /// than the hash block, RFC 2104 section 2) and the data split at random between the three parts.
    func testHMACBackendsAgreeForAnyKeyLengthAndSplit() throws {
        var generator = SplitMix64(seed: 0x2104_2202_4231_0001)
        let hashes: [(LibcryptoHash, UInt16)] = [
            (.md5, Integrity.hmacMD5_96), (.sha1, Integrity.hmacSHA1_96), (.sha256, Integrity.hmacSHA2_256_128),
            (.sha384, Integrity.hmacSHA2_384_192), (.sha512, Integrity.hmacSHA2_512_256),
        ]
        for (hash, id) in hashes {
            let keyLengths = [0, 1, hash.digestLength, hash.blockSize - 1, hash.blockSize, hash.blockSize + 1, 200]
            for keyLength in keyLengths {
                for icvLength in [12, hash.digestLength] {
                    let key = SecretBytes(generator.bytes(keyLength))
                    let libcrypto = try LibcryptoHMACIntegrity(
                        transformID: id, hash: hash, key: key, icvLength: icvLength)
                    let reference = try Self.referenceHMAC(id, key, icvLength: icvLength)
                    for _ in 0..<8 {
                        let data = generator.bytes(Int(generator.next() % 600))
                        let cut1 = Int(generator.next() % UInt64(data.count + 1))
                        let cut2 = cut1 + Int(generator.next() % UInt64(data.count - cut1 + 1))
                        let context = "\(hash) key \(keyLength) icv \(icvLength) data \(data.count) (\(cut1), \(cut2))"
                        let expected = try reference.icv(for: data)
                        XCTAssertEqual(try libcrypto.icv(for: data), expected, context)
                        var icv = [UInt8](repeating: 0, count: icvLength)
                        try icv.withUnsafeMutableBytes { out in
                            try data.withUnsafeBytes { bytes in
                                try libcrypto.computeICV(
                                    associatedData: UnsafeRawBufferPointer(rebasing: bytes[0..<cut1]),
                                    payload: UnsafeRawBufferPointer(rebasing: bytes[cut1..<cut2]),
                                    trailingData: UnsafeRawBufferPointer(rebasing: bytes[cut2...]), into: out)
                            }
                        }
                        XCTAssertEqual(icv, expected, context)
                        XCTAssertTrue(Self.isValid(libcrypto, expected, data), context)
                        var wrong = expected
                        wrong[Int(generator.next() % UInt64(wrong.count))] ^= 0x10
                        XCTAssertFalse(Self.isValid(libcrypto, wrong, data), context)
                        XCTAssertFalse(Self.isValid(libcrypto, Array(expected.dropLast()), data), context)
                    }
                }
            }
        }
    }

    /// The AES-CBC cipher alone in both directions, also decrypting random (non-ciphertext) blocks.
    func testAESCBCBackendsAgree() throws {
        var generator = SplitMix64(seed: 0x3602_0000_0000_0002)
        for keyBits in [128, 192, 256] {
            for round in 0..<60 {
                let key = SecretBytes(generator.bytes(keyBits / 8))
                let libcrypto = try LibcryptoCBCCipher.aes(transformID: ID.aesCBC, key: key)
                let swiftCrypto = AESCBCCipher(transformID: ID.aesCBC, key: key)
                let iv = generator.bytes(16)
                let input = generator.bytes(16 * (round < 3 ? round : Int(generator.next() % 90)))
                for encrypt in [true, false] {
                    var mine = input
                    var theirs = input
                    try mine.withUnsafeMutableBytes { buffer in
                        try iv.withUnsafeBytes {
                            encrypt ? try libcrypto.encrypt(buffer, iv: $0) : try libcrypto.decrypt(buffer, iv: $0)
                        }
                    }
                    try theirs.withUnsafeMutableBytes { buffer in
                        try iv.withUnsafeBytes {
                            encrypt ? try swiftCrypto.encrypt(buffer, iv: $0) : try swiftCrypto.decrypt(buffer, iv: $0)
                        }
                    }
                    XCTAssertEqual(mine, theirs, "AES-\(keyBits) encrypt \(encrypt) round \(round)")
                }
            }
        }
    }

    // MARK: Helpers

    /// swift-crypto's AES-CBC (or, for 3DES/DES, the only cipher there is) with swift-crypto's HMAC.
    private static func reference(
        _ encryptionID: UInt16, _ encryptionKey: SecretBytes, _ integrityID: UInt16, _ integrityKey: SecretBytes
    ) throws -> any PacketProtection {
        let cipher: any CipherTransform
        if encryptionID == ID.aesCBC {
            cipher = AESCBCCipher(transformID: encryptionID, key: encryptionKey)
        } else {
            guard
                case .cipher(let made) = try CryptoSuites.make(
                    encryptionID: encryptionID, keyBits: nil, key: encryptionKey)
            else { throw IsthmusCryptoError.unsupportedTransform("not a cipher") }
            cipher = made
        }
        let icvLength = try CryptoSuites.integritySizes(integrityID: integrityID).icvLength
        return EncryptThenMACProtection(
            cipher: cipher, integrity: try referenceHMAC(integrityID, integrityKey, icvLength: icvLength))
    }

    private static func referenceHMAC(_ id: UInt16, _ key: SecretBytes, icvLength: Int) throws
        -> any IntegrityTransform
    {
        guard let integrity = CryptoSuites.swiftCryptoIntegrity(integrityID: id, key: key, icvLength: icvLength) else {
            throw IsthmusCryptoError.unsupportedTransform("integrity \(id)")
        }
        return integrity
    }

    private static func seal(
        _ protection: any PacketProtection, _ iv: [UInt8], _ plaintext: [UInt8], _ aad: [UInt8], _ trailer: [UInt8]
    ) throws -> [UInt8] {
        var packet = iv + plaintext + [UInt8](repeating: 0, count: protection.icvLength)
        try packet.withUnsafeMutableBytes { buffer in
            try aad.withUnsafeBytes { aad in
                try trailer.withUnsafeBytes { try protection.seal(buffer, associatedData: aad, trailingData: $0) }
            }
        }
        return packet
    }

    private static func open(
        _ protection: any PacketProtection, _ packet: inout [UInt8], _ aad: [UInt8], _ trailer: [UInt8]
    ) throws {
        try packet.withUnsafeMutableBytes { buffer in
            try aad.withUnsafeBytes { aad in
                try trailer.withUnsafeBytes { try protection.open(buffer, associatedData: aad, trailingData: $0) }
            }
        }
    }

    private static func isValid(_ integrity: any IntegrityTransform, _ icv: [UInt8], _ data: [UInt8]) -> Bool {
        icv.withUnsafeBytes { icv in
            data.withUnsafeBytes {
                integrity.isValidICV(icv, associatedData: UnsafeRawBufferPointer(start: nil, count: 0), payload: $0)
            }
        }
    }
}
