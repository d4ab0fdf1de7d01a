import XCTest

@testable import IsthmusPKI

final class RevocationListTests: XCTestCase {
    func testReadsSerialsAndThumbprintsWithComments() throws {
        let sha256 = String(repeating: "ab", count: 32)
        let text = """
            # revoked by isthmus pki revoke
            serial 00:1A:2b  # alice 2026-12-07

            sha256 \(sha256.uppercased())
            sha1 \(String(repeating: "0f", count: 20))
            """
        let list = try RevocationList(parsing: text)
        XCTAssertEqual(list.serials, ["1a2b"])
        XCTAssertEqual(list.sha256Thumbprints, [sha256])
        XCTAssertEqual(list.sha1Thumbprints, [String(repeating: "0f", count: 20)])
        XCTAssertEqual(list.count, 3)
        XCTAssertEqual(try RevocationList(parsing: "").count, 0)
    }

    func testWrittenLinesReadBack() throws {
        let text =
            RevocationList.line(serialHex: "00FF10", comment: "bob 2026-12-07")
            + RevocationList.line(sha256Thumbprint: String(repeating: "CD", count: 32), comment: "carol")
        let list = try RevocationList(parsing: text)
        XCTAssertEqual(list.serials, ["ff10"])
        XCTAssertEqual(list.sha256Thumbprints, [String(repeating: "cd", count: 32)])
    }

    func testBadLinesNameTheirNumber() {
        let cases: [(String, Int, String)] = [
            ("serial 12\nserial\n", 2, "expected"),
            ("serial xyz", 1, "not hex"),
            ("serial 123", 1, "not hex"),
            ("# ok\n\nfingerprint 12", 3, "not an entry kind"),
            ("sha256 abcd", 1, "64 hex digits"),
            ("sha1 abcd", 1, "40 hex digits"),
            ("serial 12 13", 1, "expected"),
        ]
        for (text, line, reason) in cases {
            XCTAssertThrowsError(try RevocationList(parsing: text), text) { error in
                guard let error = error as? RevocationListError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.line, line, text)
                XCTAssertTrue(error.reason.contains(reason), error.reason)
                XCTAssertTrue(error.description.hasPrefix("Line \(line) of the revocation list"), error.description)
            }
        }
    }
}
