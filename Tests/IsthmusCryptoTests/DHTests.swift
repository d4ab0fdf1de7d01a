import IsthmusCrypto
import IsthmusTestSupport
import XCTest

final class DHTests: XCTestCase {
    private typealias Group = DiffieHellman.GroupID

    func testECPVectorsRFC5903() throws {
        try runKnownAnswers("ecdh-rfc5903.txt")
    }

    func testX25519VectorRFC7748() throws {
        try runKnownAnswers("x25519-rfc7748.txt")
    }

    func testMODPKnownAnswers() throws {
        try runKnownAnswers("modp.txt")
    }

    func testEveryGroupAgreesWithItself() throws {
        var generator = SplitMix64(seed: 0x1517_4D05)
        for group in DiffieHellman.supportedGroups {
            let alice = try DiffieHellman.makeExchange(groupID: group, using: &generator)
            let bob = try DiffieHellman.makeExchange(groupID: group, using: &generator)
            let length = try DiffieHellman.publicValueLength(groupID: group)
            XCTAssertEqual(alice.groupID, group)
            XCTAssertEqual(alice.publicValue.count, length, "group \(group)")
            XCTAssertEqual(bob.publicValue.count, length, "group \(group)")
            let secretA = try alice.sharedSecret(peerPublicValue: bob.publicValue)
            let secretB = try bob.sharedSecret(peerPublicValue: alice.publicValue)
            XCTAssertEqual(secretA, secretB, "group \(group)")
            XCTAssertNotEqual(alice.publicValue, bob.publicValue, "group \(group)")
        }
    }

    func testSeededGenerationIsDeterministic() throws {
        for group in [Group.modp2048, Group.ecp256, Group.ecp521, Group.curve25519] {
            var first = SplitMix64(seed: 42)
            var second = SplitMix64(seed: 42)
            let one = try DiffieHellman.makeExchange(groupID: group, using: &first)
            let two = try DiffieHellman.makeExchange(groupID: group, using: &second)
            XCTAssertEqual(one.publicValue, two.publicValue, "group \(group)")
        }
    }

    func testSystemRandomExchanges() throws {
        for group in [Group.modp1024, Group.ecp384, Group.curve25519] {
            let alice = try DiffieHellman.makeExchange(groupID: group)
            let bob = try DiffieHellman.makeExchange(groupID: group)
            XCTAssertEqual(
                try alice.sharedSecret(peerPublicValue: bob.publicValue),
                try bob.sharedSecret(peerPublicValue: alice.publicValue)
            )
        }
    }

    /// RFC 6989 section 2.1: 0, 1 and p - 1 are rejected, as are p itself and wrong lengths.
    func testMODPRejectsDegenerateAndMalformedValues() throws {
        let record = try XCTUnwrap(try VectorsFile.load("modp.txt").first { $0.fields["group"] == "14" })
        let prime = try record.hex("prime")
        XCTAssertEqual(prime.count, 256)
        let exchange = try DiffieHellman.makeExchange(groupID: Group.modp2048, privateKey: SecretBytes(record.hex("i")))
        var primeMinusOne = prime
        primeMinusOne[primeMinusOne.count - 1] -= 1  // p is odd
        let one = [UInt8](repeating: 0, count: 255) + [1]
        let zero = [UInt8](repeating: 0, count: 256)
        let two = [UInt8](repeating: 0, count: 255) + [2]
        for (label, value) in [
            ("0", zero), ("1", one), ("p - 1", primeMinusOne), ("p", prime),
            ("all ones", [UInt8](repeating: 0xff, count: 256)),
            ("too long", [0] + two), ("too short", Array(two.dropFirst())), ("empty", []),
        ] {
            XCTAssertThrowsError(try exchange.sharedSecret(peerPublicValue: value), label) {
                XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .invalidPeerPublicValue, label)
            }
        }
        // 2 (the generator) is a legitimate value; the result is padded to 256 bytes.
        XCTAssertEqual(try exchange.sharedSecret(peerPublicValue: two).count, 256)
    }

    func testECPRejectsInvalidPoints() throws {
        for record in try VectorsFile.load("ecdh-rfc5903.txt") {
            let group = UInt16(try record.int("group"))
            let exchange = try DiffieHellman.makeExchange(groupID: group, privateKey: SecretBytes(record.hex("i")))
            let peer = try record.hex("gr")
            var offCurve = peer
            offCurve[offCurve.count - 1] ^= 0x01
            for (label, value) in [
                ("off curve", offCurve), ("truncated", Array(peer.dropLast())), ("with 04 prefix", [0x04] + peer),
                ("zeros", [UInt8](repeating: 0, count: peer.count)), ("empty", []),
            ] {
                XCTAssertThrowsError(try exchange.sharedSecret(peerPublicValue: value), "\(group) \(label)") {
                    XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .invalidPeerPublicValue, "\(group) \(label)")
                }
            }
        }
    }

    /// RFC 8031 section 2.3: low-order points give an all-zero secret, which must be rejected.
    func testX25519RejectsLowOrderPoints() throws {
        let exchange = try DiffieHellman.makeExchange(groupID: Group.curve25519)
        let lowOrder: [[UInt8]] = [
            [UInt8](repeating: 0, count: 32),
            [1] + [UInt8](repeating: 0, count: 31),
            // Order-8 point (RFC 7748 section 7 lists these among the points to reject).
            [UInt8](hex: "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        ]
        for value in lowOrder {
            XCTAssertThrowsError(try exchange.sharedSecret(peerPublicValue: value)) {
                XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .invalidSharedSecret)
            }
        }
        XCTAssertThrowsError(try exchange.sharedSecret(peerPublicValue: [UInt8](repeating: 9, count: 31))) {
            XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .invalidPeerPublicValue)
        }
    }

    func testFactoryErrors() {
        XCTAssertThrowsError(try DiffieHellman.makeExchange(groupID: 22)) {
            XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .unsupportedGroup)
        }
        XCTAssertThrowsError(try DiffieHellman.publicValueLength(groupID: 0)) {
            XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .unsupportedGroup)
        }
        for (group, key) in [
            (Group.modp2048, [UInt8]([1])), (Group.modp2048, []), (Group.modp768, [UInt8](repeating: 0xff, count: 96)),
            (Group.modp768, [UInt8](repeating: 1, count: 97)),
            (Group.ecp256, [UInt8](repeating: 0, count: 32)), (Group.ecp256, [UInt8](repeating: 0xff, count: 32)),
            (Group.ecp384, [UInt8](repeating: 1, count: 32)), (Group.curve25519, [UInt8](repeating: 1, count: 31)),
        ] {
            XCTAssertThrowsError(
                try DiffieHellman.makeExchange(groupID: group, privateKey: SecretBytes(key)), "\(group)"
            ) {
                XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .invalidPrivateKey, "\(group) \(key.count)")
            }
        }
    }

    /// Checks i -> g^i, r -> g^r and g^ir from both sides.
    private func runKnownAnswers(_ file: String) throws {
        for record in try VectorsFile.load(file) {
            let group = UInt16(try record.int("group"))
            let initiator = try DiffieHellman.makeExchange(groupID: group, privateKey: SecretBytes(record.hex("i")))
            let responder = try DiffieHellman.makeExchange(groupID: group, privateKey: SecretBytes(record.hex("r")))
            XCTAssertEqual(initiator.publicValue, try record.hex("gi"), record.name)
            XCTAssertEqual(responder.publicValue, try record.hex("gr"), record.name)
            let expected = try record.hex("gir")
            XCTAssertEqual(
                try initiator.sharedSecret(peerPublicValue: record.hex("gr")).copyBytes(), expected, record.name)
            XCTAssertEqual(
                try responder.sharedSecret(peerPublicValue: record.hex("gi")).copyBytes(), expected, record.name)
        }
    }
}
