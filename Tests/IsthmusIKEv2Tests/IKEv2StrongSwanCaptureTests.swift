import Foundation
import IsthmusCrypto
import IsthmusIP
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

/// Our IKEv2 core against strongSwan's real messages (Tests/Fixtures/captures).
final class IKEv2StrongSwanCaptureTests: XCTestCase {
    struct Capture: Decodable {
        struct Datagram: Decodable {
            let payload_hex: String
            let sport: UInt16
        }
        struct Keys: Decodable { let dh_shared_secret: String }
        let psk: String
        let datagrams: [Datagram]
        let ike_keys: [Keys]
    }

    private func load(_ name: String) throws -> Capture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/captures/\(name)/capture.json")
        return try JSONDecoder().decode(Capture.self, from: Data(contentsOf: url))
    }

    /// The IKE message bytes of a datagram (non-ESP marker stripped on 4500).
    private func ike(_ datagram: Capture.Datagram) -> [UInt8] {
        var bytes = [UInt8](hex: datagram.payload_hex)
        if datagram.sport == 4500 || bytes.prefix(4) == [0, 0, 0, 0] { bytes.removeFirst(4) }
        return bytes
    }

    /// Our PSK AUTH computation (RFC 7296 2.15) reproduces both AUTH payloads strongSwan sent.
    func testAuthenticationMatchesStrongSwan() throws {
        for (name, ikeProposal) in [
            ("ikev2-aes128gcm16-prfsha256-ecp256", "aes128gcm16-prfsha256-ecp256"),
            ("ikev2-aes256-sha256-modp2048", "aes256-sha256-modp2048"),
        ] {
            let capture = try load(name)
            let initRequestBytes = ike(capture.datagrams[0])
            let initResponseBytes = ike(capture.datagrams[1])
            let initRequest = try IKEv2Message.parse(initRequestBytes)
            let initResponse = try IKEv2Message.parse(initResponseBytes)
            let ni = try initRequest.payloads.required(\.nonce, "Ni").nonce
            let nr = try initResponse.payloads.required(\.nonce, "Nr").nonce
            let offered = try ProposalList(parsing: [ikeProposal], for: .ike, version: .v2)
            let suite = try IKEv2ProposalCodec.acceptIKE(
                response: try initResponse.payloads.required(\.securityAssociation, "SA"), offered: offered
            ).get().suite
            let shared = SecretBytes([UInt8](hex: capture.ike_keys[0].dh_shared_secret))
            func crypto(weAreInitiator: Bool) throws -> IKEv2SACrypto {
                try IKEv2SACrypto(
                    suite: suite, sharedSecret: shared, nonceInitiator: ni, nonceResponder: nr,
                    spiInitiator: initRequest.initiatorSPI, spiResponder: initResponse.responderSPI,
                    weAreInitiator: weAreInitiator)
            }
            let psk = SecretBytes(Array(capture.psk.utf8))

            // The initiator's IKE_AUTH, opened as the responder would.
            let authRequestBytes = ike(capture.datagrams[2])
            let asResponder = try crypto(weAreInitiator: false)
            let request = try asResponder.open(authRequestBytes, message: try IKEv2Message.parse(authRequestBytes))
            let idi = try request.required(\.identificationInitiator, "IDi")
            let authI = try request.required(\.authentication, "AUTH")
            XCTAssertEqual(authI.method, .sharedKeyMessageIntegrityCode)
            XCTAssertEqual(
                asResponder.authentication(
                    sharedKey: psk, ofInitiator: true, realMessage: initRequestBytes, peerNonce: nr, identification: idi
                ),
                authI.data, "\(name): initiator AUTH")

            // The responder's IKE_AUTH, opened as the initiator would.
            let authResponseBytes = ike(capture.datagrams[3])
            let asInitiator = try crypto(weAreInitiator: true)
            let response = try asInitiator.open(authResponseBytes, message: try IKEv2Message.parse(authResponseBytes))
            let idr = try response.required(\.identificationResponder, "IDr")
            let authR = try response.required(\.authentication, "AUTH")
            XCTAssertEqual(
                asInitiator.authentication(
                    sharedKey: psk, ofInitiator: false, realMessage: initResponseBytes, peerNonce: ni,
                    identification: idr),
                authR.data, "\(name): responder AUTH")
            // A different key gives a different AUTH: this is what AUTHENTICATION_FAILED detects.
            XCTAssertNotEqual(
                asResponder.authentication(
                    sharedKey: SecretBytes(Array("wrong key".utf8)), ofInitiator: true, realMessage: initRequestBytes,
                    peerNonce: nr, identification: idi),
                authI.data)
        }
    }

    /// Our responder accepts strongSwan's real IKE_SA_INIT request (its proposals, notifies, vendor
    /// payloads) and answers with one proposal, a KE of the same group, a nonce and NAT-D.
    func testResponderAnswersStrongSwansInitRequest() throws {
        let capture = try load("ikev2-aes128gcm16-prfsha256-ecp256")
        var cloud = configuration(office: false, ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16")
        cloud.local = endpoint("203.0.113.1")
        let session = IKEv2Session(responding: cloud, random: SplitMix64(seed: 7))
        let actions = session.handle(
            .datagram(
                IKEDatagram(
                    bytes: ike(capture.datagrams[0]), source: endpoint("198.51.100.1"),
                    destination: endpoint("203.0.113.1"))), now: .zero)
        let sent = actions.compactMap { if case .send(let datagram) = $0 { datagram } else { nil } }
        XCTAssertEqual(sent.count, 1)
        let response = try IKEv2Message.parse(try XCTUnwrap(sent.first).bytes)
        XCTAssertEqual(response.exchangeType, .ikeSAInit)
        XCTAssertTrue(response.flags.contains(.response))
        let sa = try response.payloads.required(\.securityAssociation, "SA")
        XCTAssertEqual(sa.proposals.count, 1)
        XCTAssertEqual(try response.payloads.required(\.keyExchange, "KE").group, 19)
        XCTAssertEqual(
            response.payloads.notifies.filter {
                $0.notifyType == .natDetectionSourceIP || $0.notifyType == .natDetectionDestinationIP
            }.count, 2)
        XCTAssertEqual(session.status(now: .zero).state, .halfOpen)
    }
}
