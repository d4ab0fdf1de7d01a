import Foundation
import IsthmusCrypto
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

/// Negotiation against strongSwan's own IKE_SA_INIT (Tests/Fixtures/captures).
final class NegotiationCaptureTests: XCTestCase {
    typealias F = NegotiationFixtures

    struct Capture: Decodable {
        struct Datagram: Decodable {
            var payload_hex: String
        }

        var datagrams: [Datagram]
    }

    /// The SA payload of datagram `index` of a capture (UDP 500, no non-ESP marker).
    func securityAssociation(case name: String, datagram index: Int) throws -> IKEv2SecurityAssociationPayload {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/captures/\(name)/capture.json")
        let capture = try JSONDecoder().decode(Capture.self, from: Data(contentsOf: url))
        let hex = Array(capture.datagrams[index].payload_hex.utf8)
        var bytes: [UInt8] = []
        for offset in stride(from: 0, to: hex.count - 1, by: 2) {
            bytes.append(try XCTUnwrap(UInt8(String(decoding: hex[offset...offset + 1], as: UTF8.self), radix: 16)))
        }
        let message = try IKEv2Message.parse(bytes)
        for payload in message.payloads {
            if case .securityAssociation(let sa) = payload { return sa }
        }
        throw XCTSkip("datagram \(index) of \(name) has no SA payload")
    }

    func testSelectingFromStrongSwanGCMOffer() throws {
        let offer = try securityAssociation(case: "ikev2-aes128gcm16-prfsha256-ecp256", datagram: 0)
        let ours = try F.ike("aes128gcm16-prfsha256-ecp256")
        let selection = try F.success(IKEv2ProposalCodec.selectIKE(offered: offer, ours: ours))
        XCTAssertEqual(selection.suite.description, "aes128gcm16-prfsha256-ecp256")
        XCTAssertEqual(selection.proposalNumber, 1)
        XCTAssertEqual(selection.peerSPI, [])
        XCTAssertEqual(selection.reply.proposals.count, 1)

        let failure = try F.failure(
            IKEv2ProposalCodec.selectIKE(offered: offer, ours: try F.ike("aes256-sha256-modp2048")))
        XCTAssertEqual(failure.peerProposals, "aes128gcm16-prfsha256-ecp256")
        XCTAssertEqual(
            failure.description,
            "no acceptable IKE proposal: peer offered aes128gcm16-prfsha256-ecp256; "
                + "we accept aes256-sha256-prfsha256-modp2048"
        )
    }

    func testSelectingFromStrongSwanCBCOffer() throws {
        let offer = try securityAssociation(case: "ikev2-aes256-sha256-modp2048", datagram: 0)
        XCTAssertEqual(IKEv2ProposalCodec.describe(offer, protocol: .ike), "aes256-sha256-prfsha256-modp2048")
        let ours = try F.ike("aes256gcm16-prfsha256-ecp256, aes256-sha256-modp2048")
        let selection = try F.success(IKEv2ProposalCodec.selectIKE(offered: offer, ours: ours))
        XCTAssertEqual(selection.suite.description, "aes256-sha256-prfsha256-modp2048")
    }

    func testAcceptingStrongSwanResponse() throws {
        let response = try securityAssociation(case: "ikev2-aes128gcm16-prfsha256-ecp256", datagram: 1)
        let offered = try F.ike("aes256gcm16-prfsha256-ecp256, aes128gcm16-prfsha256-ecp256")
        // strongSwan answered proposal 1 of its own offer; as initiator we must have sent that number.
        let accepted = try F.success(
            IKEv2ProposalCodec.acceptIKE(response: response, offered: try F.ike("aes128gcm16-prfsha256-ecp256"))
        )
        XCTAssertEqual(accepted.suite.description, "aes128gcm16-prfsha256-ecp256")
        // Under another offer, proposal 1 was aes256gcm16: strongSwan's answer does not fit it.
        let failure = try F.failure(IKEv2ProposalCodec.acceptIKE(response: response, offered: offered))
        XCTAssertEqual(failure.reason, "encryption aes128gcm16 was not offered in proposal 1")
    }
}
