import IsthmusCrypto
import IsthmusIKE
import IsthmusIKEv2
import XCTest

/// ``IKEv2Agreement`` (what `isthmus check A B` predicts) against two cores that really negotiate.
final class IKEv2AgreementTests: XCTestCase {
    /// Initiator and responder lists: equal, order-dependent (with a KE guess the responder turns down),
    /// sharing nothing.
    let cases: [(ike: (String, String), esp: (String, String))] = [
        (("aes256gcm16-prfsha256-ecp256", "aes256gcm16-prfsha256-ecp256"), ("aes256gcm16", "aes256gcm16")),
        (
            (
                "aes256-sha256-modp2048, aes256gcm16-prfsha256-ecp256",
                "aes256gcm16-prfsha256-ecp256, aes256-sha256-modp2048"
            ),
            ("aes256-sha256, aes256gcm16", "aes256gcm16, aes256-sha256")
        ),
        (("aes256gcm16-prfsha256-ecp256", "aes256gcm16-prfsha256-ecp256"), ("aes256gcm16-modp2048", "aes256gcm16")),
        (("aes256gcm16-prfsha256-ecp256", "aes256gcm16-prfsha256-ecp256"), ("aes256gcm16", "aes128-sha1")),
        (("aes256gcm16-prfsha256-ecp256", "aes128-sha256-modp2048"), ("aes256gcm16", "aes256gcm16")),
    ]

    func list(_ text: String, _ proto: ProposalProtocol) -> ProposalList {
        try! ProposalList(parsing: [text], for: proto, version: .v2)
    }

    func testPredictionsMatchTheNegotiation() {
        for (ike, esp) in cases {
            let pair = Pair(
                initiator: configuration(office: true, ike: ike.0, esp: esp.0),
                responder: configuration(office: false, ike: ike.1, esp: esp.1))
            pair.establish()
            let ikeSA = IKEv2Agreement.ikeSA(initiator: list(ike.0, .ike), responder: list(ike.1, .ike))
            let child = IKEv2Agreement.childSA(initiator: list(esp.0, .esp), responder: list(esp.1, .esp), pfs: false)
            let established = pair.events[.initiator, default: []].first { $0.kind == .ikeSAEstablished }?.message
            guard let ikeSA else {
                XCTAssertNil(established, "\(ike)")
                continue
            }
            XCTAssertTrue(established?.contains("using \(ikeSA.suite)") ?? false, "\(ike): \(established ?? "none")")
            let installed = pair.installed[.initiator, default: []].first
            XCTAssertEqual(child?.encryption, installed?.encryption, "\(esp)")
            XCTAssertEqual(child?.integrity, installed?.integrity, "\(esp)")
        }
    }
}
