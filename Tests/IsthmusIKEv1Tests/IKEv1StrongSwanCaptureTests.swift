import Foundation
import IsthmusCrypto
import IsthmusIP
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusIKEv1

/// strongSwan 5.9.8's real IKEv1 exchanges (Tests/Fixtures/captures/ikev1-*), checked with this
/// module's own crypto helpers: every HASH strongSwan computed (HASH_I, HASH_R, Quick Mode HASH(1..3),
/// Informational HASH(1)) must equal ours, its NAT-D hash for our address must equal ours, and the
/// KEYMAT we derive must equal its ESP keys. Its Main Mode message 1 goes into our responder.
final class IKEv1StrongSwanCaptureTests: XCTestCase {
    struct Capture: Decodable {
        struct Datagram: Decodable {
            let sport: UInt16
            let dport: UInt16
            let src: String
            let dst: String
            let payload_hex: String
        }
        struct Keys: Decodable {
            let encryption: String
            let integrity: String
            let dh_group: String
            let dh_shared_secret: String
        }
        struct Public: Decodable {
            struct Value: Decodable { let public_value: String }
            let ke_initiator: Value
            let ke_responder: Value
            let nonce_initiator: String
            let nonce_responder: String
        }
        struct ESP: Decodable {
            let spi: String
            let encryption_key: String
            let integrity_key: String
        }
        let psk: String
        let datagrams: [Datagram]
        let ike_keys: [Keys]
        let ike_handshake_public: Public
        let esp_keys: [ESP]
    }

    static let cases = ["ikev1-3des-sha1-modp1024", "ikev1-aes256-sha1-modp1024"]

    static func load(_ name: String) throws -> Capture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/captures/\(name)/capture.json")
        return try JSONDecoder().decode(Capture.self, from: Data(contentsOf: url))
    }

    /// The IKE message of a datagram (after the non-ESP marker on 4500), nil for ESP.
    static func ike(_ datagram: Capture.Datagram) -> [UInt8]? {
        let bytes = [UInt8](hex: datagram.payload_hex)
        if datagram.sport == 500 || datagram.dport == 500 { return bytes }
        guard bytes.count >= 4, bytes[0..<4] == [0, 0, 0, 0] else { return nil }
        return Array(bytes[4...])
    }

    private func keyword(_ strongSwanName: String) -> String {
        [
            "3DES_CBC": "3des", "AES_CBC_256": "aes256", "AES_CBC_128": "aes128", "HMAC_SHA1_96": "sha1",
            "HMAC_SHA2_256_128": "sha256", "MODP_1024": "modp1024", "MODP_2048": "modp2048",
        ][strongSwanName] ?? "?"
    }

    func testEveryHashAndKeyMatchesStrongSwan() throws {
        for name in Self.cases {
            let capture = try Self.load(name)
            let logged = try XCTUnwrap(capture.ike_keys.first)
            let messages = capture.datagrams.compactMap(Self.ike)
            let parsed = try messages.map { try ISAKMPMessage.parse($0) }
            let encryption = try XCTUnwrap(AlgorithmRegistry.algorithm(keyword: keyword(logged.encryption)))
            let hash = try XCTUnwrap(AlgorithmRegistry.algorithm(keyword: keyword(logged.integrity)))
            let group = try XCTUnwrap(AlgorithmRegistry.algorithm(keyword: keyword(logged.dh_group)))
            let suite = try XCTUnwrap(IKEv1Phase1Suite(encryption: encryption, hash: hash, group: group))

            // Main Mode 1: strongSwan's offer as our parser reads it.
            guard case .payloads(let mm1) = parsed[0].body, let offer = mm1.securityAssociation else {
                return XCTFail("\(name): no SA in message 1")
            }
            let read = IKEv1Proposals.phase1Offer(try XCTUnwrap(offer.proposals.first?.transforms.first))
            XCTAssertEqual(read.suite, suite, name)
            XCTAssertEqual(read.lifetime, IKEv1Lifetime(seconds: 28800), name)
            XCTAssertTrue(mm1.vendorIDs.contains(IKEv1StateMachine.natTraversalVendorID), name)
            XCTAssertTrue(mm1.vendorIDs.contains(IKEv1StateMachine.deadPeerDetectionVendorID), name)

            let handshake = capture.ike_handshake_public
            let publicI = [UInt8](hex: handshake.ke_initiator.public_value)
            let publicR = [UInt8](hex: handshake.ke_responder.public_value)
            let nonceI = [UInt8](hex: handshake.nonce_initiator)
            let nonceR = [UInt8](hex: handshake.nonce_responder)
            let crypto = try IKEv1SACrypto(
                suite: suite, sharedKey: SecretBytes(Array(capture.psk.utf8)),
                sharedSecret: SecretBytes([UInt8](hex: logged.dh_shared_secret)), nonceInitiator: nonceI,
                nonceResponder: nonceR, cookieInitiator: parsed[0].initiatorCookie,
                cookieResponder: parsed[1].responderCookie)

            // NAT-D in message 3: the first hash names gwb's address and port; ours must agree.
            guard case .payloads(let mm3) = parsed[2].body else { return XCTFail("\(name): message 3 encrypted") }
            let responderEndpoint = UDPEndpoint(address: try IPAddress(parsing: "203.0.113.1"), port: 500)
            XCTAssertEqual(
                mm3.natDiscoveries.first,
                IKEv1SACrypto.natDetectionHash(
                    prf: crypto.prf, cookieInitiator: parsed[0].initiatorCookie,
                    cookieResponder: parsed[1].responderCookie,
                    endpoint: responderEndpoint), "\(name): NAT-D (RFC 3947 3.2)")

            // Main Mode 5 and 6: decrypt, then HASH_I and HASH_R over the raw SA and ID bodies.
            let saBody = try XCTUnwrap(IKEv1Raw.payloadBody(ofMessage: messages[0], index: 0))
            let mm5 = try crypto.decrypt(
                parsed[4], iv: try crypto.phase1IV(publicInitiator: publicI, publicResponder: publicR))
            let mm6 = try crypto.decrypt(parsed[5], iv: mm5.lastBlock)
            for (decrypted, initiator) in [(mm5, true), (mm6, false)] {
                let extents = IKEv1Raw.payloadExtents(decrypted.plaintext, count: decrypted.payloads.count)
                let idIndex = try XCTUnwrap(decrypted.payloads.firstIndex { $0.payloadType == .identification })
                let idBody = Array(decrypted.plaintext[(extents[idIndex].lowerBound + 4)..<extents[idIndex].upperBound])
                XCTAssertEqual(
                    decrypted.payloads.hash,
                    crypto.phase1Hash(
                        ofInitiator: initiator, publicInitiator: publicI, publicResponder: publicR,
                        initiatorSABody: saBody, identificationBody: idBody), "\(name): HASH_\(initiator ? "I" : "R")")
                XCTAssertNotNil(decrypted.payloads.identifications.first.flatMap(IKEv1Proposals.identity))
            }
            let lastPhase1Block = mm6.lastBlock

            // Quick Mode: HASH(1), HASH(2), HASH(3), the offer and the keys.
            let qm = parsed.enumerated().filter { $0.element.exchangeType == .quickMode }.map(\.element)
            XCTAssertEqual(qm.count, 3, name)
            let qm1 = try crypto.decrypt(
                qm[0],
                iv: try crypto.phase2IV(
                    lastPhase1Block: lastPhase1Block,
                    messageID: qm[0].messageID))
            XCTAssertEqual(
                qm1.payloads.hash, crypto.hash1(messageID: qm[0].messageID, rest: qm1.afterFirstPayload),
                "\(name): HASH(1)")
            let qm2 = try crypto.decrypt(qm[1], iv: qm1.lastBlock)
            let qmNonceI = try XCTUnwrap(qm1.payloads.nonce)
            let qmNonceR = try XCTUnwrap(qm2.payloads.nonce)
            XCTAssertEqual(
                qm2.payloads.hash,
                crypto.hash2(
                    messageID: qm[1].messageID, nonceInitiator: qmNonceI,
                    rest: qm2.afterFirstPayload), "\(name): HASH(2)")
            let qm3 = try crypto.decrypt(qm[2], iv: qm2.lastBlock)
            XCTAssertEqual(
                qm3.payloads.hash,
                crypto.hash3(
                    messageID: qm[2].messageID, nonceInitiator: qmNonceI,
                    nonceResponder: qmNonceR), "\(name): HASH(3)")
            let espOffer = IKEv1Proposals.phase2Offer(
                try XCTUnwrap(qm1.payloads.securityAssociation?.proposals.first?.transforms.first))
            let espSuite = try XCTUnwrap(espOffer.suite, espOffer.text)
            XCTAssertEqual(espSuite.description, "\(encryption.keyword)-\(hash.keyword)", name)
            XCTAssertEqual(espOffer.lifetime, IKEv1Lifetime(seconds: 3600), name)
            XCTAssertEqual(espOffer.encapsulationMode, IKEv1Proposals.udpTunnelMode, "\(name): RFC 3947 UDP tunnel")
            let selectorsOffered = qm1.payloads.identifications.compactMap(IKEv1Proposals.selector)
            XCTAssertEqual(selectorsOffered.map(\.description), ["192.168.1.0/24", "10.0.1.0/24"], name)
            for esp in capture.esp_keys {
                let spi = UInt32(esp.spi.dropFirst(2), radix: 16) ?? 0
                let keys = try crypto.keys(
                    for: espSuite, spi: spi, sharedSecret: nil, nonceInitiator: qmNonceI,
                    nonceResponder: qmNonceR)
                XCTAssertEqual(keys.encryption.copyBytes(), [UInt8](hex: esp.encryption_key), "\(name): \(esp.spi)")
                XCTAssertEqual(keys.integrity.copyBytes(), [UInt8](hex: esp.integrity_key), "\(name): \(esp.spi)")
            }

            // The two Informational DELETEs (ESP, then ISAKMP) authenticate.
            let informational = parsed.filter { $0.exchangeType == .informational }
            XCTAssertEqual(informational.count, 2, name)
            var deleted: [ISAKMPProtocolID] = []
            for message in informational {
                let decrypted = try crypto.decrypt(
                    message,
                    iv: try crypto.phase2IV(
                        lastPhase1Block: lastPhase1Block, messageID: message.messageID))
                XCTAssertEqual(
                    decrypted.payloads.hash,
                    crypto.hash1(messageID: message.messageID, rest: decrypted.afterFirstPayload), "\(name): HASH(1)")
                deleted += decrypted.payloads.deletes.map(\.protocolID)
            }
            XCTAssertEqual(deleted, [.esp, .isakmp], name)
        }
    }

    /// strongSwan's Main Mode message 1 into our responder: it chooses strongSwan's transform unchanged
    /// and answers with the NAT-T and DPD vendor IDs.
    func testOurResponderAnswersStrongSwansMessage1() throws {
        for name in Self.cases {
            let capture = try Self.load(name)
            let logged = try XCTUnwrap(capture.ike_keys.first)
            var cloud = configuration(
                office: false, ike: "aes128-sha256-modp2048,\(keyword(logged.encryption))-sha1-modp1024",
                esp: "\(keyword(logged.encryption))-sha1")
            cloud.sharedKey = SecretBytes(Array(capture.psk.utf8))
            let session = IKEv1Session(responding: cloud, random: SplitMix64(seed: 3))
            let first = try XCTUnwrap(Self.ike(capture.datagrams[0]))
            let actions = session.handle(
                .datagram(
                    IKEDatagram(
                        bytes: first,
                        source: endpoint("198.51.100.1"), destination: endpoint("203.0.113.1"))), now: .zero)
            let answer = try XCTUnwrap(actions.lazy.compactMap { if case .send(let d) = $0 { d } else { nil } }.first)
            let reply = try ISAKMPMessage.parse(answer.bytes)
            XCTAssertEqual(reply.initiatorCookie, try ISAKMPMessage.parse(first).initiatorCookie)
            XCTAssertEqual(reply.responderCookie, session.localSPI)
            guard case .payloads(let payloads) = reply.body,
                case .payloads(let offered) = try ISAKMPMessage.parse(first).body
            else { return XCTFail(name) }
            XCTAssertEqual(
                payloads.securityAssociation?.proposals.first?.transforms,
                offered.securityAssociation?.proposals.first?.transforms, "\(name): the transform unchanged")
            XCTAssertEqual(
                payloads.vendorIDs,
                [
                    IKEv1StateMachine.natTraversalVendorID,
                    IKEv1StateMachine.deadPeerDetectionVendorID,
                ], name)
        }
    }
}
