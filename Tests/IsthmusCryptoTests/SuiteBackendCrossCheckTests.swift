@testable import IsthmusCrypto
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
                        XCTAssertEqual(($0 as? CryptoSuiteError)?.code, .authenticationFailure, "\(name) \(context)")
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

/// A small deterministic generator (SplitMix64) so a failing round can be reproduced.
private struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }
}
