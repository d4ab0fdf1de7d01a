import IsthmusCrypto
import IsthmusIKE
import XCTest

@testable import IsthmusIKEv1

/// ``IKEv1Agreement`` (what `isthmus check A B` predicts) against two cores that really negotiate.
final class IKEv1AgreementTests: XCTestCase {
    /// Initiator and responder lists whose choice depends on the responder's order, or that share nothing.
    let cases: [(ike: (String, String), esp: (String, String))] = [
        (("aes256-sha1-modp1024", "aes256-sha1-modp1024"), ("aes256-sha1", "aes256-sha1")),
        (
            ("aes256-sha256-modp2048, aes128-sha1-modp2048", "aes128-sha1-modp2048, aes256-sha256-modp2048"),
            ("aes256-sha256, aes128-sha1", "aes128-sha1, aes256-sha256")
        ),
        (("aes256-sha256-modp2048", "aes256-sha256-modp2048"), ("aes256-sha256-modp2048", "aes256-sha256-modp2048")),
        (("aes256-sha256-modp2048", "aes256-sha256-modp2048"), ("aes256-sha256-modp2048", "aes256-sha256")),
        (("aes256-sha256-modp2048", "aes128-sha1-modp1024"), ("aes256-sha256", "aes256-sha256")),
    ]

    func list(_ text: String, _ proto: ProposalProtocol) -> ProposalList {
        try! ProposalList(parsing: [text], for: proto, version: .v1)
    }

    func testPredictionsMatchTheNegotiation() {
        for (ike, esp) in cases {
            let pair = Pair(
                initiator: configuration(office: true, ike: ike.0, esp: esp.0),
                responder: configuration(office: false, ike: ike.1, esp: esp.1))
            pair.establish()
            let phase1 = IKEv1Agreement.phase1(initiator: list(ike.0, .ike), responder: list(ike.1, .ike))
            let phase2 = IKEv1Agreement.phase2(initiator: list(esp.0, .esp), responder: list(esp.1, .esp))
            let negotiated = pair.events[.responder, default: []].first { $0.kind == .ikeSAEstablished }?
                .details["algorithms"]
            XCTAssertEqual(phase1?.description, negotiated, "\(ike)")
            let installed = pair.live(.initiator).first
            guard phase1 != nil else {
                XCTAssertNil(installed, "\(ike): no ISAKMP SA, so no IPsec SA")
                continue
            }
            XCTAssertEqual(phase2?.encryption, installed?.encryption, "\(esp)")
            XCTAssertEqual(phase2?.integrity, installed?.integrity, "\(esp)")
        }
    }
}
