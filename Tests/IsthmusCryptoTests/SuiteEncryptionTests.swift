import Dispatch
import IsthmusCrypto
import Synchronization
import XCTest

final class SuiteEncryptionTests: XCTestCase {
    private typealias ID = CryptoSuites.EncryptionID

    // MARK: AES-CBC (RFC 3602, SP 800-38A)

    func testAESCBCVectors() throws {
        for record in try VectorsFile.load("aes-cbc.txt") {
            let key = try record.hex("key")
            let iv = try record.hex("iv")
            let plaintext = try record.hex("plaintext")
            let ciphertext = try record.hex("ciphertext")
            let transform = try CryptoSuites.make(
                encryptionID: ID.aesCBC, keyBits: key.count * 8, key: SecretBytes(key))
            let cipher = try XCTUnwrap(cipherTransform(transform), record.name)
            XCTAssertEqual(cipher.blockSize, 16)
            var buffer = plaintext
            try buffer.withUnsafeMutableBytes { payload in
                try iv.withUnsafeBytes { try cipher.encrypt(payload, iv: $0) }
            }
            XCTAssertEqual(buffer, ciphertext, record.name)
            try buffer.withUnsafeMutableBytes { payload in
                try iv.withUnsafeBytes { try cipher.decrypt(payload, iv: $0) }
            }
            XCTAssertEqual(buffer, plaintext, record.name)
        }
    }

    func testCBCRejectsPartialBlocksAndBadIV() throws {
        let transform = try CryptoSuites.make(encryptionID: ID.aesCBC, keyBits: 128, key: SecretBytes(zeros: 16))
        let cipher = try XCTUnwrap(cipherTransform(transform))
        var buffer = [UInt8](repeating: 0, count: 15)
        let iv = [UInt8](repeating: 0, count: 16)
        XCTAssertThrowsError(
            try buffer.withUnsafeMutableBytes { payload in
                try iv.withUnsafeBytes { try cipher.encrypt(payload, iv: $0) }
            }
        ) { XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .invalidPacketLayout) }
        var block = [UInt8](repeating: 0, count: 16)
        let shortIV = [UInt8](repeating: 0, count: 8)
        XCTAssertThrowsError(
            try block.withUnsafeMutableBytes { payload in
                try shortIV.withUnsafeBytes { try cipher.decrypt(payload, iv: $0) }
            }
        ) { XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .invalidPacketLayout) }
    }

    // MARK: Encrypt-then-MAC

    func testEncryptThenMACRoundTripAndTamperDetection() throws {
        let protection = try CryptoSuites.makeProtection(
            encryptionID: ID.aesCBC,
            keyBits: 256,
            encryptionKey: SecretBytes(Array(0..<32)),
            integrityID: CryptoSuites.IntegrityID.hmacSHA2_256_128,
            integrityKey: SecretBytes(Array(100..<132))
        )
        XCTAssertEqual(protection.ivLength, 16)
        XCTAssertEqual(protection.icvLength, 16)
        XCTAssertEqual(protection.blockSize, 16)
        let aad: [UInt8] = [0, 0, 0x12, 0x34, 0, 0, 0, 1]  // SPI || sequence number
        let iv = [UInt8](repeating: 0xa5, count: 16)
        let plaintext = Array(UInt8(0)..<UInt8(48))
        let packet = try VectorsPacket.seal(protection, iv: iv, plaintext: plaintext, aad: aad)
        XCTAssertEqual(packet.count, 16 + 48 + 16)
        XCTAssertEqual(protection.payloadRange(inPacketOfLength: packet.count), 16..<64)
        XCTAssertNotEqual(Array(packet[16..<64]), plaintext)

        var opened = packet
        try VectorsPacket.open(protection, packet: &opened, aad: aad)
        XCTAssertEqual(Array(opened[16..<64]), plaintext)

        // A flipped ciphertext bit: rejected before decryption, ciphertext left untouched.
        var tampered = packet
        tampered[20] ^= 0x01
        let before = tampered
        XCTAssertThrowsError(try VectorsPacket.open(protection, packet: &tampered, aad: aad)) {
            XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .authenticationFailure)
        }
        XCTAssertEqual(tampered, before)

        // Wrong associated data (another sequence number) and a tampered IV are rejected too.
        var wrongAAD = packet
        XCTAssertThrowsError(
            try VectorsPacket.open(protection, packet: &wrongAAD, aad: [0, 0, 0x12, 0x34, 0, 0, 0, 2]))
        var wrongIV = packet
        wrongIV[0] ^= 0x80
        XCTAssertThrowsError(try VectorsPacket.open(protection, packet: &wrongIV, aad: aad))
    }

    /// RFC 4303 section 3.3.2.1: with ESN the high-order sequence bits are authenticated after the
    /// payload but not sent; AEADs take them in the associated data instead (RFC 4106 section 5).
    func testExtendedSequenceNumberTrailer() throws {
        let integrityKey = SecretBytes(Array(100..<132))
        let protection = try CryptoSuites.makeProtection(
            encryptionID: ID.aesCBC, keyBits: 128, encryptionKey: SecretBytes(Array(0..<16)),
            integrityID: CryptoSuites.IntegrityID.hmacSHA2_256_128, integrityKey: integrityKey
        )
        let integrity = try CryptoSuites.make(integrityID: CryptoSuites.IntegrityID.hmacSHA2_256_128, key: integrityKey)
        let header: [UInt8] = [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 7]  // SPI || low 32 bits of the sequence number
        let high: [UInt8] = [0, 0, 0, 1]
        var packet = [UInt8](repeating: 0x42, count: 16) + Array(0..<32) + [UInt8](repeating: 0, count: 16)
        try packet.withUnsafeMutableBytes { buffer in
            try header.withUnsafeBytes { aad in
                try high.withUnsafeBytes { try protection.seal(buffer, associatedData: aad, trailingData: $0) }
            }
        }
        XCTAssertEqual(Array(packet.suffix(16)), try integrity.icv(for: header + Array(packet[0..<48]) + high))

        func open(_ trailer: [UInt8]) throws {
            var copy = packet
            try copy.withUnsafeMutableBytes { buffer in
                try header.withUnsafeBytes { aad in
                    try trailer.withUnsafeBytes { try protection.open(buffer, associatedData: aad, trailingData: $0) }
                }
            }
            XCTAssertEqual(Array(copy[16..<48]), Array(0..<32))
        }
        XCTAssertNoThrow(try open(high))
        XCTAssertThrowsError(try open([0, 0, 0, 2])) {
            XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .authenticationFailure)
        }
        XCTAssertThrowsError(try open([])) {
            XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .authenticationFailure)
        }

        let gcm = try XCTUnwrap(
            aead(try CryptoSuites.make(encryptionID: ID.aesGCM16, keyBits: 128, key: SecretBytes(zeros: 20))))
        var gcmPacket = [UInt8](repeating: 0, count: 8 + 16 + 16)
        XCTAssertThrowsError(
            try gcmPacket.withUnsafeMutableBytes { buffer in
                try header.withUnsafeBytes { aad in
                    try high.withUnsafeBytes { try gcm.seal(buffer, associatedData: aad, trailingData: $0) }
                }
            }
        ) { XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .invalidPacketLayout) }
    }

    func testEncryptThenMACWithTripleDESAndSHA1() throws {
        let protection = try CryptoSuites.makeProtection(
            encryptionID: ID.tripleDES,
            keyBits: nil,
            encryptionKey: SecretBytes(Array(1...24)),
            integrityID: CryptoSuites.IntegrityID.hmacSHA1_96,
            integrityKey: SecretBytes(Array(1...20))
        )
        XCTAssertEqual(protection.ivLength, 8)
        XCTAssertEqual(protection.icvLength, 12)
        let plaintext = Array(UInt8(0)..<UInt8(24))
        var packet = try VectorsPacket.seal(protection, iv: Array(10..<18), plaintext: plaintext, aad: [1, 2, 3, 4])
        try VectorsPacket.open(protection, packet: &packet, aad: [1, 2, 3, 4])
        XCTAssertEqual(Array(packet[8..<32]), plaintext)
    }

    // MARK: AES-GCM (RFC 4106)

    func testAESGCMVectorsWithEveryICVLength() throws {
        for record in try VectorsFile.load("aes-gcm.txt") {
            let key = try record.hex("key")
            let keyMaterial = SecretBytes(try key + record.hex("salt"))
            let iv = try record.hex("iv")
            let aad = try record.hex("aad")
            let plaintext = try record.hex("plaintext")
            let ciphertext = try record.hex("ciphertext")
            let tag = try record.hex("tag")
            for (id, icvLength) in [(ID.aesGCM16, 16), (ID.aesGCM12, 12), (ID.aesGCM8, 8)] {
                let transform = try CryptoSuites.make(encryptionID: id, keyBits: key.count * 8, key: keyMaterial)
                let protection = try XCTUnwrap(aead(transform))
                XCTAssertEqual(protection.icvLength, icvLength)
                XCTAssertEqual(protection.ivLength, 8)
                let packet = try VectorsPacket.seal(protection, iv: iv, plaintext: plaintext, aad: aad)
                XCTAssertEqual(Array(packet[8..<(8 + plaintext.count)]), ciphertext, "\(record.name) id \(id)")
                // RFC 4106 section 6: the shorter ICVs are the leading bytes of the full tag.
                XCTAssertEqual(
                    Array(packet[(8 + plaintext.count)...]), Array(tag.prefix(icvLength)), "\(record.name) id \(id)")

                var opened = packet
                try VectorsPacket.open(protection, packet: &opened, aad: aad)
                XCTAssertEqual(Array(opened[8..<(8 + plaintext.count)]), plaintext, "\(record.name) id \(id)")

                var tampered = packet
                tampered[tampered.count - 1] ^= 0x01
                XCTAssertThrowsError(try VectorsPacket.open(protection, packet: &tampered, aad: aad)) {
                    XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .authenticationFailure)
                }
                // Never unauthenticated plaintext: the payload is the ciphertext or zeros.
                let payload = Array(tampered[8..<(8 + plaintext.count)])
                XCTAssertTrue(payload == ciphertext || payload.allSatisfy { $0 == 0 }, "\(record.name) id \(id)")
                XCTAssertNotEqual(payload, plaintext)
            }
        }
    }

    func testGCMProtectionIsReusableAcrossPackets() throws {
        let keyMaterial = SecretBytes(Array(0..<36))
        for id in [ID.aesGCM8, ID.aesGCM12, ID.aesGCM16] {
            let protection = try XCTUnwrap(
                aead(try CryptoSuites.make(encryptionID: id, keyBits: 256, key: keyMaterial)))
            for sequence in UInt8(1)...UInt8(5) {
                let aad: [UInt8] = [0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, sequence]
                let iv: [UInt8] = [0, 0, 0, 0, 0, 0, 0, sequence]
                let plaintext = [UInt8](repeating: sequence, count: Int(sequence) * 7)
                var packet = try VectorsPacket.seal(protection, iv: iv, plaintext: plaintext, aad: aad)
                try VectorsPacket.open(protection, packet: &packet, aad: aad)
                XCTAssertEqual(Array(packet[8..<(8 + plaintext.count)]), plaintext)
            }
            // Empty payload: the ICV still authenticates the associated data.
            var empty = try VectorsPacket.seal(protection, iv: [UInt8](repeating: 1, count: 8), plaintext: [], aad: [1])
            XCTAssertThrowsError(try VectorsPacket.open(protection, packet: &empty, aad: [2]))
        }
    }

    /// One SA used from many threads at once: the libcrypto contexts are serialised per SA.
    func testConcurrentUseOfOneSA() throws {
        let protections: [any PacketProtection] = [
            try XCTUnwrap(
                aead(try CryptoSuites.make(encryptionID: ID.aesGCM8, keyBits: 128, key: SecretBytes(zeros: 20)))),
            try CryptoSuites.makeProtection(
                encryptionID: ID.tripleDES, keyBits: nil, encryptionKey: SecretBytes(Array(1...24)),
                integrityID: CryptoSuites.IntegrityID.hmacSHA2_256_128, integrityKey: SecretBytes(zeros: 32)
            ),
        ]
        for protection in protections {
            let failures = FailureCounter()
            DispatchQueue.concurrentPerform(iterations: 64) { index in
                let byte = UInt8(truncatingIfNeeded: index)
                let plaintext = [UInt8](repeating: byte, count: 8 * (index % 5 + 1))
                let aad: [UInt8] = [0, 0, 0, 1, 0, 0, 0, byte]
                do {
                    var packet = try VectorsPacket.seal(
                        protection, iv: [UInt8](repeating: byte, count: protection.ivLength), plaintext: plaintext,
                        aad: aad
                    )
                    try VectorsPacket.open(protection, packet: &packet, aad: aad)
                    let start = protection.ivLength
                    if Array(packet[start..<(start + plaintext.count)]) != plaintext { failures.record() }
                } catch {
                    failures.record()
                }
            }
            XCTAssertEqual(failures.count, 0)
        }
    }

    // MARK: ChaCha20-Poly1305 (RFC 7634 / RFC 8439)

    func testChaChaPolyVector() throws {
        for record in try VectorsFile.load("chacha20-poly1305.txt") {
            let keyMaterial = SecretBytes(try record.hex("key") + record.hex("salt"))
            XCTAssertEqual(try CryptoSuites.encryptionKeyLength(encryptionID: ID.chaCha20Poly1305, keyBits: nil), 36)
            let protection = try XCTUnwrap(
                aead(try CryptoSuites.make(encryptionID: ID.chaCha20Poly1305, keyBits: nil, key: keyMaterial))
            )
            let plaintext = try record.hex("plaintext")
            let aad = try record.hex("aad")
            let packet = try VectorsPacket.seal(protection, iv: record.hex("iv"), plaintext: plaintext, aad: aad)
            XCTAssertEqual(Array(packet[8...]), try record.hex("ciphertext") + record.hex("tag"))
            var opened = packet
            try VectorsPacket.open(protection, packet: &opened, aad: aad)
            XCTAssertEqual(Array(opened[8..<(8 + plaintext.count)]), plaintext)
            var tampered = packet
            tampered[9] ^= 0x40
            XCTAssertThrowsError(try VectorsPacket.open(protection, packet: &tampered, aad: aad)) {
                XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .authenticationFailure)
            }
            XCTAssertNotEqual(Array(tampered[8..<(8 + plaintext.count)]), plaintext)
        }
    }

    // MARK: DES / 3DES

    func testDESAndTripleDESVectors() throws {
        for record in try VectorsFile.load("des.txt") {
            let id = UInt16(try record.int("encryption"))
            let transform = try CryptoSuites.make(encryptionID: id, keyBits: nil, key: SecretBytes(record.hex("key")))
            let cipher = try XCTUnwrap(cipherTransform(transform))
            XCTAssertEqual(cipher.blockSize, 8)
            let iv = try record.hex("iv")
            let plaintext = try record.hex("plaintext")
            var buffer = plaintext
            try buffer.withUnsafeMutableBytes { payload in
                try iv.withUnsafeBytes { try cipher.encrypt(payload, iv: $0) }
            }
            XCTAssertEqual(buffer, try record.hex("ciphertext"), record.name)
            try buffer.withUnsafeMutableBytes { payload in
                try iv.withUnsafeBytes { try cipher.decrypt(payload, iv: $0) }
            }
            XCTAssertEqual(buffer, plaintext, record.name)
        }
    }

    // MARK: Factories and sizes

    func testKeyLengths() throws {
        XCTAssertEqual(try CryptoSuites.encryptionKeyLength(encryptionID: ID.aesCBC, keyBits: 128), 16)
        XCTAssertEqual(try CryptoSuites.encryptionKeyLength(encryptionID: ID.aesCBC, keyBits: 192), 24)
        XCTAssertEqual(try CryptoSuites.encryptionKeyLength(encryptionID: ID.aesCBC, keyBits: 256), 32)
        XCTAssertEqual(try CryptoSuites.encryptionKeyLength(encryptionID: ID.aesGCM16, keyBits: 128), 20)
        XCTAssertEqual(try CryptoSuites.encryptionKeyLength(encryptionID: ID.aesGCM12, keyBits: 192), 28)
        XCTAssertEqual(try CryptoSuites.encryptionKeyLength(encryptionID: ID.aesGCM8, keyBits: 256), 36)
        XCTAssertEqual(try CryptoSuites.encryptionKeyLength(encryptionID: ID.chaCha20Poly1305, keyBits: 256), 36)
        XCTAssertEqual(try CryptoSuites.encryptionKeyLength(encryptionID: ID.tripleDES, keyBits: nil), 24)
        XCTAssertEqual(try CryptoSuites.encryptionKeyLength(encryptionID: ID.des, keyBits: 64), 8)
        XCTAssertTrue(try CryptoSuites.isAEAD(encryptionID: ID.aesGCM8))
        XCTAssertFalse(try CryptoSuites.isAEAD(encryptionID: ID.aesCBC))
    }

    func testFactoriesRejectBadInputWithTypedErrors() {
        assertCode(.unsupportedTransform) {
            _ = try CryptoSuites.make(encryptionID: 99, keyBits: 128, key: SecretBytes(zeros: 16))
        }
        assertCode(.unsupportedTransform) { _ = try CryptoSuites.isAEAD(encryptionID: 0) }
        assertCode(.invalidKeyLength) {
            _ = try CryptoSuites.make(encryptionID: ID.aesCBC, keyBits: 100, key: SecretBytes(zeros: 16))
        }
        assertCode(.invalidKeyLength) {
            _ = try CryptoSuites.make(encryptionID: ID.aesCBC, keyBits: nil, key: SecretBytes(zeros: 16))
        }
        assertCode(.invalidKeyLength) {
            _ = try CryptoSuites.make(encryptionID: ID.chaCha20Poly1305, keyBits: 128, key: SecretBytes(zeros: 36))
        }
        assertCode(.invalidKeySize) {
            _ = try CryptoSuites.make(encryptionID: ID.aesCBC, keyBits: 256, key: SecretBytes(zeros: 16))
        }
        assertCode(.invalidKeySize) {
            _ = try CryptoSuites.make(encryptionID: ID.aesGCM16, keyBits: 128, key: SecretBytes(zeros: 16))
        }
        assertCode(.invalidKeySize) {
            _ = try CryptoSuites.make(encryptionID: ID.des, keyBits: nil, key: SecretBytes(zeros: 7))
        }
        assertCode(.unsupportedTransform) {
            _ = try CryptoSuites.makeProtection(
                encryptionID: ID.aesGCM16, keyBits: 128, encryptionKey: SecretBytes(zeros: 20),
                integrityID: CryptoSuites.IntegrityID.hmacSHA1_96, integrityKey: SecretBytes(zeros: 20)
            )
        }
        assertCode(.unsupportedTransform) {
            _ = try CryptoSuites.makeProtection(
                encryptionID: ID.aesCBC, keyBits: 128, encryptionKey: SecretBytes(zeros: 16),
                integrityID: nil, integrityKey: nil
            )
        }
        XCTAssertEqual(IsthmusCryptoError.backendFailure("a"), IsthmusCryptoError.backendFailure("b"))
        XCTAssertNotEqual(
            IsthmusCryptoError.backendFailure("a"), IsthmusCryptoError.invalidKeySize(expected: 1, got: 2))
    }

    func testMalformedPacketsAreRejectedNotTrapped() throws {
        let gcm = try XCTUnwrap(
            aead(try CryptoSuites.make(encryptionID: ID.aesGCM16, keyBits: 128, key: SecretBytes(zeros: 20))))
        let cbc = try CryptoSuites.makeProtection(
            encryptionID: ID.aesCBC, keyBits: 128, encryptionKey: SecretBytes(zeros: 16),
            integrityID: CryptoSuites.IntegrityID.hmacSHA2_512_256, integrityKey: SecretBytes(zeros: 64)
        )
        for (protection, length) in [(gcm, 0), (gcm, 23), (cbc, 47), (cbc, 16 + 17 + 32), (cbc, 10)] {
            var packet = [UInt8](repeating: 0, count: length)
            XCTAssertThrowsError(try VectorsPacket.open(protection, packet: &packet, aad: [])) {
                XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .invalidPacketLayout, "length \(length)")
            }
            XCTAssertThrowsError(
                try packet.withUnsafeMutableBytes { buffer in
                    try [UInt8]().withUnsafeBytes { try protection.seal(buffer, associatedData: $0) }
                }
            )
        }
    }

    // MARK: Helpers

    private func cipherTransform(_ transform: EncryptionTransform) -> (any CipherTransform)? {
        if case .cipher(let cipher) = transform { return cipher }
        return nil
    }

    private func aead(_ transform: EncryptionTransform) -> (any PacketProtection)? {
        if case .aead(let protection) = transform { return protection }
        return nil
    }

    private func assertCode(
        _ code: IsthmusCryptoError.Code,
        file: StaticString = #filePath,
        line: UInt = #line,
        _ body: () throws -> Void
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual((error as? IsthmusCryptoError)?.code, code, "\(error)", file: file, line: line)
        }
    }
}

private final class FailureCounter: Sendable {
    private let value = Mutex(0)

    func record() { value.withLock { $0 += 1 } }

    var count: Int { value.withLock { $0 } }
}
