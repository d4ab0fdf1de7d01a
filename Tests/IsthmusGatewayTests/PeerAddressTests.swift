import IsthmusGateway
import IsthmusIP
import XCTest

/// `gateway_address`: an IP address or a DNS name.
final class PeerAddressTests: XCTestCase {
    func testAddressesAndNamesAreTold() throws {
        XCTAssertEqual(PeerAddress(parsing: "198.51.100.10"), .address(try IPAddress(parsing: "198.51.100.10")))
        XCTAssertEqual(PeerAddress(parsing: "2001:db8::1"), .address(try IPAddress(parsing: "2001:db8::1")))
        XCTAssertEqual(PeerAddress(parsing: "Office.Example.COM."), .name("office.example.com"))
        XCTAssertEqual(PeerAddress(parsing: "vpn-1.example.net"), .name("vpn-1.example.net"))
        for bad in ["999.1.1.1", "office", "-a.example.com", "a-.example.com", "a..example.com", "a_b.example.com", ""]
        {
            XCTAssertNil(PeerAddress(parsing: bad), bad)
        }
        XCTAssertNil(PeerAddress(parsing: String(repeating: "a", count: 64) + ".example.com"), "label over 63 bytes")
    }

    func testANamedGatewayIsAcceptedAndABadOneIsAPositionedError() throws {
        let named = try XCTUnwrap(
            load(
                validCloud.replacingOccurrences(
                    of: "gateway_address: 198.51.100.10", with: "gateway_address: office.example.com")
            )
            .config)
        XCTAssertEqual(named.localNetworks[0].gateway, .name("office.example.com"))
        XCTAssertNil(named.localNetworks[0].gatewayAddress)
        assertError(
            validCloud.replacingOccurrences(
                of: "gateway_address: 198.51.100.10", with: "gateway_address: vpn_1.example.com"),
            "neither an IP address nor a DNS name", atLine: 14)
    }
}
