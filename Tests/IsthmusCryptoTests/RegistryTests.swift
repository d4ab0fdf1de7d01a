import IsthmusCrypto
import XCTest

final class AlgorithmRegistryTests: XCTestCase {
    func testKeywordsAreUniqueAndResolve() {
        var seen: Set<String> = []
        for algorithm in AlgorithmRegistry.all {
            for keyword in algorithm.keywords {
                XCTAssertTrue(seen.insert(keyword).inserted, "duplicate keyword \(keyword)")
                XCTAssertEqual(AlgorithmRegistry.algorithm(keyword: keyword), algorithm)
                XCTAssertNil(AlgorithmRegistry.knownUnsupported[keyword], "\(keyword) both supported and not")
            }
        }
        XCTAssertEqual(AlgorithmRegistry.algorithm(keyword: "AES256"), AlgorithmRegistry.algorithm(keyword: "aes256"))
    }

    /// Spot checks against the IANA registries (RFC 7296 3.3.2, RFC 2409 appendix A, RFC 2407 4.4.4/4.5).
    func testIANANumbers() throws {
        func lookup(_ keyword: String) throws -> Algorithm {
            try XCTUnwrap(AlgorithmRegistry.algorithm(keyword: keyword))
        }
        let aes256 = try lookup("aes256")
        XCTAssertEqual(aes256.ikev2ID, 12)
        XCTAssertEqual(aes256.keyLengthBits, 256)
        XCTAssertEqual(aes256.ikev1Phase1Value, 7)
        XCTAssertEqual(aes256.ikev1Phase2Value, 12)
        XCTAssertEqual(try lookup("3des").ikev2ID, 3)
        XCTAssertEqual(try lookup("3des").ikev1Phase1Value, 5)
        XCTAssertEqual(try lookup("des").ikev1Phase1Value, 1)
        XCTAssertEqual(try lookup("aes128gcm16").ikev2ID, 20)
        XCTAssertEqual(try lookup("aes128gcm12").ikev2ID, 19)
        XCTAssertEqual(try lookup("aes128gcm8").ikev2ID, 18)
        XCTAssertEqual(try lookup("aes256gcm128"), try lookup("aes256gcm16"))
        XCTAssertNil(try lookup("aes256gcm16").ikev1Phase1Value, "IKEv1 phase 1 has no AEAD")
        XCTAssertEqual(try lookup("chacha20poly1305").ikev2ID, 28)
        XCTAssertEqual(try lookup("sha1").ikev2ID, 2)
        XCTAssertEqual(try lookup("sha1").ikev1Phase1Value, 2)
        XCTAssertEqual(try lookup("sha1").ikev1Phase2Value, 2)
        XCTAssertEqual(try lookup("sha256").ikev2ID, 12)
        XCTAssertEqual(try lookup("sha256").ikev1Phase1Value, 4)
        XCTAssertEqual(try lookup("sha256").ikev1Phase2Value, 5)
        XCTAssertEqual(try lookup("sha256").icvBytes, 16)
        XCTAssertEqual(try lookup("sha512").ikev2ID, 14)
        XCTAssertEqual(try lookup("sha512").icvBytes, 32)
        XCTAssertEqual(try lookup("prfsha256").ikev2ID, 5)
        XCTAssertEqual(try lookup("modp1024").ikev2ID, 2)
        XCTAssertEqual(try lookup("modp2048").ikev2ID, 14)
        XCTAssertEqual(try lookup("ecp256").ikev2ID, 19)
        XCTAssertEqual(try lookup("ecp521").ikev2ID, 21)
        XCTAssertEqual(try lookup("x25519"), try lookup("curve25519"))
        XCTAssertEqual(try lookup("curve25519").ikev2ID, 31)
        XCTAssertEqual(try lookup("esn").ikev2ID, 1)
        XCTAssertEqual(try lookup("noesn").ikev2ID, 0)
    }

    func testLookupByWireNumbers() throws {
        XCTAssertEqual(
            AlgorithmRegistry.algorithm(type: .encryption, ikev2ID: 12, keyLengthBits: 128)?.keyword, "aes128")
        XCTAssertEqual(
            AlgorithmRegistry.algorithm(type: .encryption, ikev2ID: 20, keyLengthBits: 256)?.keyword, "aes256gcm16")
        XCTAssertNil(AlgorithmRegistry.algorithm(type: .encryption, ikev2ID: 12, keyLengthBits: 100))
        XCTAssertEqual(AlgorithmRegistry.algorithm(type: .integrity, ikev2ID: 2)?.keyword, "sha1")
        XCTAssertEqual(AlgorithmRegistry.algorithm(type: .keyExchange, ikev2ID: 14)?.keyword, "modp2048")
        XCTAssertEqual(
            AlgorithmRegistry.algorithm(type: .encryption, ikev1Phase1Value: 7, keyLengthBits: 256)?.keyword, "aes256")
        XCTAssertEqual(AlgorithmRegistry.algorithm(type: .encryption, ikev1Phase1Value: 5)?.keyword, "3des")
        XCTAssertEqual(AlgorithmRegistry.algorithm(type: .integrity, ikev1Phase1Value: 2)?.keyword, "sha1")
        XCTAssertEqual(AlgorithmRegistry.algorithm(type: .integrity, ikev1Phase2Value: 5)?.keyword, "sha256")
        XCTAssertEqual(AlgorithmRegistry.algorithm(type: .keyExchange, ikev1Phase1Value: 2)?.keyword, "modp1024")
        XCTAssertNil(AlgorithmRegistry.algorithm(type: .keyExchange, ikev1Phase1Value: 31))
    }
}

final class ProposalTests: XCTestCase {
    func testSeedProposalsParse() throws {
        let ike = try Proposal(parsing: "aes256-sha1-modp1024", for: .ike, version: .v1)
        XCTAssertEqual(ike.encryption.map(\.keyword), ["aes256"])
        XCTAssertEqual(ike.integrity.map(\.keyword), ["sha1"])
        XCTAssertEqual(ike.keyExchange.map(\.keyword), ["modp1024"])
        XCTAssertEqual(ike.prf, [])
        XCTAssertEqual(ike.ikev1PRF.map(\.keyword), ["prfsha1"])
        XCTAssertEqual(ike.description, "aes256-sha1-modp1024")

        let gcm = try Proposal(parsing: "aes128gcm16-prfsha256-ecp256", for: .ike, version: .v2)
        XCTAssertTrue(gcm.isAEAD)
        XCTAssertEqual(gcm.prf.map(\.keyword), ["prfsha256"])
        XCTAssertEqual(gcm.integrity, [])

        let esp = try Proposal(parsing: "aes256-sha1", for: .esp, version: .v1)
        XCTAssertEqual(esp.keyExchange, [])
        XCTAssertEqual(esp.description, "aes256-sha1")
    }

    func testIKEv2DerivesPRFFromIntegrity() throws {
        let proposal = try Proposal(parsing: "aes256-sha256-sha1-modp2048", for: .ike, version: .v2)
        XCTAssertEqual(proposal.prf.map(\.keyword), ["prfsha256", "prfsha1"])
        XCTAssertEqual(proposal.description, "aes256-sha256-sha1-prfsha256-prfsha1-modp2048")
    }

    func testEveryAlgorithmRoundTripsThroughText() throws {
        var count = 0
        for version in [IKEVersion.v1, .v2] {
            for encryption in AlgorithmRegistry.all where encryption.type == .encryption {
                for integrity in AlgorithmRegistry.all where integrity.type == .integrity {
                    for group in AlgorithmRegistry.all where group.type == .keyExchange {
                        for proto in [ProposalProtocol.ike, .esp] {
                            var words = [encryption.keyword]
                            if !encryption.isAEAD { words.append(integrity.keyword) }
                            if encryption.isAEAD && proto == .ike && version == .v2 { words.append("prfsha384") }
                            words.append(group.keyword)
                            let text = words.joined(separator: "-")
                            guard let proposal = try? Proposal(parsing: text, for: proto, version: version) else {
                                continue
                            }
                            let again = try Proposal(parsing: proposal.description, for: proto, version: version)
                            XCTAssertEqual(again, proposal, text)
                            count += 1
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(count, 500)
    }

    func testListsSplitOnCommasAndDropRepeats() throws {
        let list = try ProposalList(
            parsing: ["aes256gcm16-prfsha256-ecp256, aes256-sha256-modp2048", "aes256gcm16-prfsha256-ecp256"],
            for: .ike, version: .v2)
        XCTAssertEqual(list.proposals.count, 2)
        XCTAssertEqual(list.description, "aes256gcm16-prfsha256-ecp256, aes256-sha256-prfsha256-modp2048")
        XCTAssertEqual(try ProposalList(parsing: [list.description], for: .ike, version: .v2), list)
    }

    func testRefusals() {
        func kind(_ text: String, _ proto: ProposalProtocol, _ version: IKEVersion) -> ProposalError.Kind? {
            do {
                _ = try Proposal(parsing: text, for: proto, version: version)
                return nil
            } catch {
                return error.kind
            }
        }
        XCTAssertEqual(kind("aes257-sha1-modp1024", .ike, .v1), .unknownAlgorithm("aes257"))
        XCTAssertEqual(kind("aes128ctr-sha1-modp1024", .ike, .v2), .unsupportedAlgorithm("aes128ctr"))
        XCTAssertEqual(kind("aes256--modp1024", .ike, .v2), .emptyKeyword)
        XCTAssertEqual(kind("", .ike, .v2), .empty)
        XCTAssertEqual(kind("sha1-modp1024", .ike, .v2), .missing(.encryption))
        XCTAssertEqual(kind("aes256-modp1024", .ike, .v2), .missing(.integrity))
        XCTAssertEqual(kind("aes256-sha1", .ike, .v2), .missing(.keyExchange))
        XCTAssertEqual(kind("aes256gcm16-ecp256", .ike, .v2), .aeadNeedsPRF)
        XCTAssertEqual(kind("aes256gcm16-aes256-sha1-prfsha1-ecp256", .ike, .v2), .mixedAEAD)
        XCTAssertEqual(kind("aes256gcm16-sha1", .esp, .v2), .integrityWithAEAD("sha1"))
        XCTAssertNotNil(kind("aes256-sha1-prfsha1", .esp, .v2))
        XCTAssertNotNil(kind("aes256-sha1-modp2048-esn", .ike, .v2))
        guard case .ikev1CannotCarry(let gcm, .ike)? = kind("aes256gcm16-prfsha256-modp2048", .ike, .v1) else {
            return XCTFail("GCM accepted in IKEv1 phase 1")
        }
        XCTAssertEqual(gcm.keyword, "aes256gcm16")
        guard case .ikev1CannotCarry(let chacha, .esp)? = kind("chacha20poly1305", .esp, .v1) else {
            return XCTFail("ChaCha20-Poly1305 accepted in IKEv1")
        }
        XCTAssertEqual(chacha.keyword, "chacha20poly1305")
        guard case .ikev1CannotCarry(let curve, .ike)? = kind("aes256-sha256-curve25519", .ike, .v1) else {
            return XCTFail("Curve25519 accepted in IKEv1")
        }
        XCTAssertEqual(curve.keyword, "curve25519")
        guard case .ikev1PRFMismatch(let prf)? = kind("aes256-sha1-prfsha256-modp2048", .ike, .v1) else {
            return XCTFail("mismatched IKEv1 PRF accepted")
        }
        XCTAssertEqual(prf.keyword, "prfsha256")
        // Accepted: GCM in IKEv1 phase 2 (RFC 4106 defines it for the IPsec DOI), matching PRF in IKEv1.
        XCTAssertNil(kind("aes256gcm16", .esp, .v1))
        XCTAssertNil(kind("aes256-sha1-prfsha1-modp1024", .ike, .v1))
        XCTAssertNil(kind("aes128-sha256-modp2048-esn-noesn", .esp, .v2))
    }

    func testErrorMessagesNameTheProposal() {
        do {
            _ = try Proposal(parsing: "aes256gcm16-ecp256", for: .ike, version: .v2)
        } catch {
            XCTAssertTrue(error.description.contains("aes256gcm16-ecp256"), error.description)
            XCTAssertTrue(error.description.contains("prfsha256"), error.description)
        }
    }
}
