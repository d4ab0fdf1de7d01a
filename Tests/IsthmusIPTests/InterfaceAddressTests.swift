import IsthmusIP
import XCTest

final class InterfaceAddressTests: XCTestCase {
    func testParsingKeepsTheHostBits() throws {
        let address = try InterfaceAddress(parsing: "169.254.21.1/30")
        XCTAssertEqual(address.address, try IPAddress(parsing: "169.254.21.1"))
        XCTAssertEqual(address.length, 30)
        XCTAssertEqual(address.prefix, try IPPrefix(parsing: "169.254.21.0/30"))
        XCTAssertEqual(address.description, "169.254.21.1/30")
        XCTAssertThrowsError(try InterfaceAddress(parsing: "169.254.21.1"))
        XCTAssertThrowsError(try InterfaceAddress(parsing: "169.254.21.1/33"))
        XCTAssertThrowsError(try InterfaceAddress(parsing: "169.254.21.1/x"))
    }

    func testTheOnlyPeerOfPointToPointPrefixes() throws {
        func peer(_ text: String) throws -> String? { try InterfaceAddress(parsing: text).onlyPeer.map { "\($0)" } }
        XCTAssertEqual(try peer("169.254.21.1/30"), "169.254.21.2")
        XCTAssertEqual(try peer("169.254.21.2/30"), "169.254.21.1")
        XCTAssertNil(try peer("169.254.21.3/30"), "the broadcast address has no peer")
        XCTAssertEqual(try peer("169.254.21.4/31"), "169.254.21.5")
        XCTAssertEqual(try peer("169.254.21.5/31"), "169.254.21.4")
        XCTAssertNil(try peer("169.254.21.1/29"))
        XCTAssertEqual(try peer("fd00::1/127"), "fd00::")
    }

    func testReservedAddresses() throws {
        let address = try InterfaceAddress(parsing: "169.254.21.1/30")
        XCTAssertTrue(address.isReserved(try IPAddress(parsing: "169.254.21.0")))
        XCTAssertTrue(address.isReserved(try IPAddress(parsing: "169.254.21.3")))
        XCTAssertFalse(address.isReserved(try IPAddress(parsing: "169.254.21.2")))
        XCTAssertFalse(
            try InterfaceAddress(parsing: "169.254.21.0/31").isReserved(try IPAddress(parsing: "169.254.21.0")))
    }
}
