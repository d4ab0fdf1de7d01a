import IsthmusIP
import XCTest

@testable import IsthmusPKI

final class DistinguishedNameTests: XCTestCase {
    func testTextRoundTripsThroughDER() throws {
        for text in [
            "C=CH, O=strongSwan, CN=moon", "CN=alice", "C=CH, O=Isthmus Gateway, OU=Remote, CN=Bob Müller",
            "CN=carol, E=carol@example.com", "DC=org, DC=example, CN=vpn",
        ] {
            XCTAssertEqual(try DistinguishedNameText.text(fromDER: DistinguishedNameText.der(fromText: text)), text)
        }
    }

    /// strongSwan's aliases and spacing give the same DER; values compare case-insensitively.
    func testAliasesAndMatching() throws {
        let canonical = try DistinguishedNameText.der(fromText: "C=CH, O=strongSwan, CN=moon")
        XCTAssertEqual(
            try DistinguishedNameText.der(fromText: "countryName=CH,O=strongSwan,  commonName=moon"), canonical)
        XCTAssertTrue(
            DistinguishedNameText.matches(
                canonical, try DistinguishedNameText.der(fromText: "C=ch, O=STRONGSWAN, CN=Moon")))
        XCTAssertFalse(
            DistinguishedNameText.matches(canonical, try DistinguishedNameText.der(fromText: "C=CH, CN=moon")))
        XCTAssertFalse(DistinguishedNameText.matches(canonical, [0x30]))
    }

    func testEscapedCommaStaysInTheValue() throws {
        let der = try DistinguishedNameText.der(fromText: "O=Example\\, Inc., CN=vpn")
        XCTAssertEqual(try DistinguishedNameText.text(fromDER: der), "O=Example, Inc., CN=vpn")
    }

    func testBadTextIsMalformed() {
        for text in ["", "CN", "XX=1", "CN=", ", ,"] {
            XCTAssertThrowsError(try DistinguishedNameText.der(fromText: text), text) {
                guard case .malformed = $0 as? CertificateFailure else { return XCTFail("\($0)") }
            }
        }
        XCTAssertThrowsError(try DistinguishedNameText.text(fromDER: [0x30, 0x05]))
    }

    func testSubjectAltNameNotation() throws {
        XCTAssertEqual(try SubjectAltName(parsing: "dns:vpn.example.com"), .dns("vpn.example.com"))
        XCTAssertEqual(try SubjectAltName(parsing: "EMAIL:a@b.c"), .email("a@b.c"))
        XCTAssertEqual(try SubjectAltName(parsing: "ip:203.0.113.5"), .ip(try IPAddress(parsing: "203.0.113.5")))
        XCTAssertEqual(try SubjectAltName(parsing: "ip:2001:db8::1").description, "IP:2001:db8::1")
        for bad in ["vpn.example.com", "dns:", "ip:notanaddress", "uri:x"] {
            XCTAssertThrowsError(try SubjectAltName(parsing: bad), bad)
        }
    }
}
