import IsthmusIP
import XCTest

final class IPAddressTests: XCTestCase {
    func testParsesAndPrintsIPv4() throws {
        let address = try IPAddress(parsing: "192.168.1.10")
        XCTAssertEqual(address.family, .v4)
        XCTAssertEqual(address.value, 0xC0A8_010A)
        XCTAssertEqual(address.description, "192.168.1.10")
        XCTAssertEqual(address.bytes, [192, 168, 1, 10])
        XCTAssertEqual(IPAddress(bytes: [192, 168, 1, 10]), address)
    }

    func testRejectsBadIPv4() {
        for text in ["300.1.1.1", "1.2.3", "1.2.3.4.5", "1..2.3", "010.1.1.1", "a.b.c.d", "", "1.2.3.-4", "1.2.3.4 "] {
            XCTAssertThrowsError(try IPAddress(parsing: text), text)
        }
        XCTAssertEqual(
            (try? IPAddress(parsing: "300.1.1.1")).map(\.description), nil)
        do {
            _ = try IPAddress(parsing: "300.1.1.1")
        } catch {
            XCTAssertTrue(error.reason.contains("0 to 255"), error.reason)
        }
    }

    func testParsesIPv6Forms() throws {
        XCTAssertEqual(try IPAddress(parsing: "2001:db8::1").description, "2001:db8::1")
        XCTAssertEqual(try IPAddress(parsing: "2001:0DB8:0000:0000:0000:0000:0000:0001").description, "2001:db8::1")
        XCTAssertEqual(try IPAddress(parsing: "::").description, "::")
        XCTAssertEqual(try IPAddress(parsing: "::1").description, "::1")
        XCTAssertEqual(try IPAddress(parsing: "fe80::").description, "fe80::")
        XCTAssertEqual(try IPAddress(parsing: "::ffff:192.0.2.1").value, 0xFFFF_C000_0201)
        // RFC 5952 4.2.2: a single zero group is not compressed; 4.2.3: the first of equal runs is.
        XCTAssertEqual(try IPAddress(parsing: "2001:db8:0:1:1:1:1:1").description, "2001:db8:0:1:1:1:1:1")
        XCTAssertEqual(try IPAddress(parsing: "2001:0:0:1:0:0:0:1").description, "2001:0:0:1::1")
        XCTAssertEqual(try IPAddress(parsing: "2001:db8:0:0:1:0:0:1").description, "2001:db8::1:0:0:1")
    }

    func testRejectsBadIPv6() {
        for text in [
            "1::2::3", "12345::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "g::1", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7::8",
        ] {
            XCTAssertThrowsError(try IPAddress(parsing: text), text)
        }
    }

    func testOrdering() throws {
        XCTAssertLessThan(try IPAddress(parsing: "10.0.0.1"), try IPAddress(parsing: "10.0.0.2"))
        XCTAssertLessThan(try IPAddress(parsing: "255.255.255.255"), try IPAddress(parsing: "::"))
    }
}

final class IPPrefixTests: XCTestCase {
    func testParsesPrefixes() throws {
        let prefix = try IPPrefix(parsing: "10.0.1.0/24")
        XCTAssertEqual(prefix.length, 24)
        XCTAssertEqual(prefix.description, "10.0.1.0/24")
        XCTAssertEqual(prefix.netmask.description, "255.255.255.0")
        XCTAssertEqual(prefix.lastAddress.description, "10.0.1.255")
        XCTAssertEqual(try IPPrefix(parsing: "0.0.0.0/0").netmask.description, "0.0.0.0")
        XCTAssertEqual(try IPPrefix(parsing: "0.0.0.0/0").lastAddress.description, "255.255.255.255")
        XCTAssertEqual(
            try IPPrefix(parsing: "2001:db8::/32").lastAddress.description, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")
        XCTAssertEqual(try IPPrefix(parsing: "192.168.1.10").length, 32)
        XCTAssertEqual(try IPPrefix(parsing: "::/0").length, 0)
    }

    func testHostBitsSetIsAnErrorWithTheCorrection() {
        do {
            _ = try IPPrefix(parsing: "192.168.1.10/24")
            XCTFail("host bits accepted")
        } catch {
            XCTAssertEqual(error.correctedPrefix?.description, "192.168.1.0/24")
            XCTAssertTrue(error.reason.contains("192.168.1.0/24"))
        }
        do {
            _ = try IPPrefix(parsing: "2001:db8::1/64")
            XCTFail("host bits accepted")
        } catch {
            XCTAssertEqual(error.correctedPrefix?.description, "2001:db8::/64")
        }
    }

    func testRejectsBadLengths() {
        for text in [
            "10.0.1.0/33", "10.0.1.0/", "10.0.1.0/-1", "10.0.1.0/ab", "::/129", "10.0.1.0/24/1", "10.0.1.0/0024",
        ] {
            XCTAssertThrowsError(try IPPrefix(parsing: text), text)
        }
    }

    func testContainmentAndOverlap() throws {
        let vnet = try IPPrefix(parsing: "10.0.0.0/16")
        let vms = try IPPrefix(parsing: "10.0.1.0/24")
        let gateway = try IPPrefix(parsing: "10.0.2.0/24")
        let office = try IPPrefix(parsing: "192.168.1.0/24")
        XCTAssertTrue(vnet.contains(vms))
        XCTAssertFalse(vms.contains(vnet))
        XCTAssertTrue(vms.overlaps(vnet))
        XCTAssertTrue(vnet.overlaps(vms))
        XCTAssertFalse(vms.overlaps(gateway))
        XCTAssertFalse(vms.overlaps(office))
        XCTAssertTrue(vms.contains(try IPAddress(parsing: "10.0.1.4")))
        XCTAssertFalse(vms.contains(try IPAddress(parsing: "10.0.2.4")))
        XCTAssertFalse(try IPPrefix(parsing: "::/0").contains(try IPAddress(parsing: "10.0.1.4")))
        XCTAssertTrue(try IPPrefix(parsing: "0.0.0.0/0").contains(office))
    }

    func testCodableRoundTrip() throws {
        let prefixes = try ["10.0.1.0/24", "2001:db8::/48"].map { try IPPrefix(parsing: $0) }
        let data = try JSONEncoder().encode(prefixes)
        XCTAssertEqual(String(decoding: data, as: UTF8.self), #"["10.0.1.0\/24","2001:db8::\/48"]"#)
        XCTAssertEqual(try JSONDecoder().decode([IPPrefix].self, from: data), prefixes)
        XCTAssertThrowsError(try JSONDecoder().decode([IPPrefix].self, from: Data(#"["10.0.1.1/24"]"#.utf8)))
    }
}
