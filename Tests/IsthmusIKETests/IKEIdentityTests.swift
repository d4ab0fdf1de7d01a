import IsthmusIKE
import IsthmusIP
import XCTest

/// IKE identities in strongSwan's notation and on the wire (the ID types IKEv2 and IKEv1 share).
final class IKEIdentityTests: XCTestCase {
    func testStrongSwanNotation() throws {
        XCTAssertEqual(IKEIdentity(parsing: "198.51.100.10"), .address(try IPAddress(parsing: "198.51.100.10")))
        XCTAssertEqual(IKEIdentity(parsing: "office.example.test"), .fqdn("office.example.test"))
        XCTAssertEqual(IKEIdentity(parsing: "@office"), .fqdn("office"))
        XCTAssertEqual(IKEIdentity(parsing: "admin@example.test"), .userFQDN("admin@example.test"))
        XCTAssertEqual(IKEIdentity(parsing: "keyid:6f6666"), .keyID([0x6F, 0x66, 0x66]))
        XCTAssertEqual(IKEIdentity(parsing: "@#0A0b"), .keyID([0x0A, 0x0B]))
        for bad in ["", "a b", "@", "@a@b", "x@", "@x@y", "keyid:", "keyid:abc", "keyid:zz", "a/b"] {
            XCTAssertNil(IKEIdentity(parsing: bad), bad)
        }
        XCTAssertEqual(IKEIdentity.keyID([0x0A, 0xFF]).description, "keyid:0aff")
    }

    func testWireTypesAndDataRoundTrip() throws {
        let identities: [IKEIdentity] = [
            .address(try IPAddress(parsing: "198.51.100.10")), .address(try IPAddress(parsing: "2001:db8::1")),
            .fqdn("office.example.test"), .userFQDN("admin@example.test"), .keyID([1, 2, 3]),
        ]
        XCTAssertEqual(identities.map(\.typeNumber), [1, 5, 2, 3, 11])
        for identity in identities {
            XCTAssertEqual(IKEIdentity(type: identity.typeNumber, data: identity.data), identity)
        }
        XCTAssertNil(IKEIdentity(type: 1, data: [1, 2, 3]), "an IPv4 address is 4 bytes")
        XCTAssertNil(IKEIdentity(type: 2, data: []), "empty FQDN")
        XCTAssertNil(IKEIdentity(type: 2, data: [0xFF, 0xFE]), "not UTF-8")
        XCTAssertNil(IKEIdentity(type: 9, data: [0x30, 0x00]), "an empty distinguished name")
    }

    func testNamesCompareWithoutCase() {
        XCTAssertTrue(IKEIdentity.fqdn("Office.Example.TEST").matches(.fqdn("office.example.test")))
        XCTAssertTrue(IKEIdentity.userFQDN("Admin@Example.test").matches(.userFQDN("admin@example.test")))
        XCTAssertFalse(IKEIdentity.fqdn("office.example.test").matches(.userFQDN("office.example.test")))
        XCTAssertFalse(IKEIdentity.keyID([1]).matches(.keyID([2])))
    }

    /// ID_DER_ASN1_DN: type 9 off the wire keeps the DER and renders as `asn1dn:#HEX` until IsthmusPKI names it.
    func testDistinguishedNames() {
        // SEQUENCE { SET { SEQUENCE { OID 2.5.4.3 (CN), UTF8String "office" } } }
        let der: [UInt8] =
            [0x30, 0x11, 0x31, 0x0f, 0x30, 0x0d, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x06]
            + Array("office".utf8)
        let wire = IKEIdentity(type: 9, data: der)
        XCTAssertEqual(wire, .distinguishedName(der: der, text: ""))
        XCTAssertEqual(wire?.typeNumber, 9)
        XCTAssertEqual(wire?.data, der)
        XCTAssertEqual(wire?.description, "asn1dn:#" + der.map { String(format: "%02x", $0) }.joined())
        XCTAssertEqual(IKEIdentity(parsing: wire?.description ?? ""), wire)
        XCTAssertNil(IKEIdentity(type: 9, data: [0x04, 0x00]))
        XCTAssertNil(IKEIdentity(type: 9, data: []))
        let named = IKEIdentity.distinguishedName(der: der, text: "CN=office")
        XCTAssertEqual(named.description, "CN=office")
        XCTAssertTrue(wire?.matches(named) ?? false)
        XCTAssertTrue(named.matches(.distinguishedName(der: [0x30, 0x00], text: "cn=Office")))
        XCTAssertFalse(named.matches(.distinguishedName(der: [0x30, 0x00], text: "")))
        XCTAssertFalse(named.matches(.fqdn("office")))
    }
}
