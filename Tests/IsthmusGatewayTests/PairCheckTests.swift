import Foundation
import IsthmusGateway
import XCTest

/// `isthmus check A B`: the repository's example pairs agree, and each small edit of an example gives
/// exactly the one disagreement it makes, at the line to change.
final class PairCheckTests: XCTestCase {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")

    static let demoKey = "isthmus-demo-key-change-me-0123456789"

    /// The text of example `name`.
    func example(_ name: String) throws -> String {
        try String(contentsOf: Self.examples.appendingPathComponent("\(name).yaml"), encoding: .utf8)
    }

    /// `text` with `old` replaced by `new` on line `line` (1-based), which must hold it.
    func edit(_ text: String, line: Int, _ old: String, _ new: String, file: StaticString = #filePath, at: UInt = #line)
        -> String
    {
        var lines = text.components(separatedBy: "\n")
        XCTAssertTrue(lines[line - 1].contains(old), "line \(line) is '\(lines[line - 1])'", file: file, line: at)
        lines[line - 1] = lines[line - 1].replacingOccurrences(of: old, with: new)
        return lines.joined(separator: "\n")
    }

    /// `text` with `inserted` as new lines after line `line`.
    func insert(_ text: String, after line: Int, _ inserted: String...) -> String {
        var lines = text.components(separatedBy: "\n")
        lines.insert(contentsOf: inserted, at: line)
        return lines.joined(separator: "\n")
    }

    /// The side `text` describes, loaded as file `name` (which must be valid alone).
    func side(_ name: String, _ text: String, file: StaticString = #filePath, line: UInt = #line) throws
        -> PairCheckSide
    {
        let result = ConfigLoader.load(bytes: Array(text.utf8), file: name, baseDirectory: Self.examples.path)
        let config = try XCTUnwrap(
            result.config, "\(name) is not valid alone: \(result.errors.map(\.description))", file: file, line: line)
        return PairCheckSide(file: name, config: config, positions: result.positions)
    }

    func check(
        _ first: (String, String), _ second: (String, String), file: StaticString = #filePath, line: UInt = #line
    )
        throws -> PairCheckReport
    {
        let report = PairCheck.check(
            try side(first.0, first.1, file: file, line: line), try side(second.0, second.1, file: file, line: line))
        for diagnostic in report.diagnostics {
            XCTAssertFalse(
                diagnostic.description.contains("demo-key"), "a key leaked: \(diagnostic)", file: file, line: line)
        }
        XCTAssertFalse(report.summary.contains("demo-key"), "a key leaked into the summary", file: file, line: line)
        return report
    }

    /// The report has exactly one diagnostic, of `severity` at `position` (`FILE:LINE`), whose note is at
    /// `note` (when given) and whose message contains `words`.
    func assertOne(
        _ report: PairCheckReport, _ severity: Diagnostic.Severity, at position: String, note: String? = nil,
        saying words: String..., file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(
            report.diagnostics.count, 1, report.diagnostics.map(\.description).joined(separator: "\n"), file: file,
            line: line)
        guard let diagnostic = report.diagnostics.first else { return }
        XCTAssertEqual(diagnostic.severity, severity, diagnostic.description, file: file, line: line)
        XCTAssertEqual(
            "\(diagnostic.file):\(diagnostic.location.line)", position, diagnostic.description, file: file, line: line)
        if let note {
            XCTAssertEqual(
                diagnostic.notes.map { "\($0.file):\($0.location.line)" }, [note], diagnostic.description, file: file,
                line: line)
        }
        XCTAssertNotNil(diagnostic.fix, file: file, line: line)
        for word in words {
            XCTAssertTrue(
                diagnostic.message.contains(word), "'\(word)' not in: \(diagnostic.message)", file: file, line: line)
        }
        XCTAssertEqual(report.pairs.count, 1, file: file, line: line)
    }

    // MARK: - The examples agree

    func testTheStaticExamplesAgree() throws {
        let report = try check(("office.yaml", try example("office")), ("cloud.yaml", try example("cloud")))
        XCTAssertEqual(report.diagnostics, [], report.diagnostics.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(report.pairs.map { "\($0.first) <=> \($0.second)" }, ["office-cloud <=> cloud-office"])
        let summary = report.summary
        XCTAssertTrue(summary.contains("IKE (phase 1): aes256-sha1-modp1024, whichever side initiates"), summary)
        XCTAssertTrue(summary.contains("ESP (phase 2): aes256-sha1 (no PFS), whichever side initiates"), summary)
        XCTAssertTrue(summary.contains("IPsec SA lifetime 1h on both: either side rekeys first, 51m-54m"), summary)
        XCTAssertTrue(summary.contains("the same pre-shared key"), summary)
    }

    func testTheDynamicExamplesAgree() throws {
        let report = try check(
            ("office-dynamic.yaml", try example("office-dynamic")), ("cloud-dynamic.yaml", try example("cloud-dynamic"))
        )
        XCTAssertEqual(report.diagnostics, [], report.diagnostics.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(report.pairs.count, 1)
        XCTAssertTrue(
            report.summary.contains("IKE SA: aes256gcm16-prfsha256-ecp256, whichever side initiates"), report.summary)
        XCTAssertTrue(
            report.summary.contains("CHILD SA (IKE_AUTH): aes256gcm16, whichever side initiates"), report.summary)
    }

    // MARK: - Ten mutations, one disagreement each

    func testDifferentKeys() throws {
        let cloud = edit(try example("cloud"), line: 29, Self.demoKey, "isthmus-demo-key-change-me-9876543210")
        let report = try check(("office.yaml", try example("office")), ("cloud.yaml", cloud))
        assertOne(report, .error, at: "office.yaml:22", note: "cloud.yaml:29", saying: "pre-shared keys", "differ")
        XCTAssertFalse(report.diagnostics[0].message.contains("white space"))
    }

    func testDisjointProposals() throws {
        let cloud = edit(try example("cloud"), line: 31, "esp: aes256-sha1", "esp: aes128-sha256")
        let report = try check(("office.yaml", try example("office")), ("cloud.yaml", cloud))
        assertOne(
            report, .error, at: "office.yaml:24", note: "cloud.yaml:31",
            saying: "no common ESP (phase 2) proposal", "offers aes256-sha1", "accepts aes128-sha256")
    }

    func testUnmirroredPrefix() throws {
        let office = edit(try example("office"), line: 15, "[10.0.1.0/24]", "[10.0.5.0/24]")
        let report = try check(("office.yaml", office), ("cloud.yaml", try example("cloud")))
        assertOne(
            report, .error, at: "office.yaml:15", note: "cloud.yaml:11", saying: "10.0.5.0/24", "nothing in common",
            "cloud refuses its Quick Mode for 10.0.5.0/24", "office refuses its Quick Mode for 10.0.1.0/24")
    }

    func testIKEVersionMismatch() throws {
        var cloud = edit(try example("cloud-dynamic"), line: 26, "ike_version: 2", "ike_version: 1")
        cloud = edit(
            cloud, line: 29, "[aes256gcm16-prfsha256-ecp256, aes256-sha256-modp2048]", "aes256-sha256-modp2048")
        cloud = edit(cloud, line: 30, "[aes256gcm16, aes256-sha256]", "aes256-sha256")
        let report = try check(("office-dynamic.yaml", try example("office-dynamic")), ("cloud-dynamic.yaml", cloud))
        assertOne(
            report, .error, at: "office-dynamic.yaml:20", note: "cloud-dynamic.yaml:26",
            saying: "speaks IKEv2", "IKEv1", "never negotiate")
    }

    func testKindMismatch() throws {
        // The cloud gateway created route-based while the office router is set up policy-based.
        let cloud = edit(try example("cloud"), line: 6, "kind: static", "kind: dynamic")
        let report = try check(("office.yaml", try example("office")), ("cloud.yaml", cloud))
        assertOne(
            report, .error, at: "office.yaml:20", note: "cloud.yaml:6",
            saying: "static (policy-based)", "dynamic (route-based)", "never negotiate")
    }

    /// The seed's case: 28800 s on one end, 120 s on the other.
    func testLifetimesFarApart() throws {
        let cloud = edit(try example("cloud"), line: 32, "ike: 28800s", "ike: 120s")
        let report = try check(("office.yaml", try example("office")), ("cloud.yaml", cloud))
        assertOne(
            report, .error, at: "cloud.yaml:32", note: "office.yaml:26",
            saying: "IKE lifetimes far apart", "240 times", "RESPONDER-LIFETIME 120s", "Ignore RESPONDER-LIFETIME",
            "restart continually")
    }

    func testESPLifetimesFarApart() throws {
        let cloud = edit(try example("cloud"), line: 32, "esp: 3600s", "esp: 120s")
        let report = try check(("office.yaml", try example("office")), ("cloud.yaml", cloud))
        assertOne(
            report, .error, at: "cloud.yaml:32", note: "office.yaml:27",
            saying: "ESP lifetimes far apart", "30 times", "RESPONDER-LIFETIME 120s")
        let column = report.diagnostics.first?.location.column
        XCTAssertEqual(column, 34, "the position is the esp value, not the ike one")
    }

    func testLivenessOffOnBothSides() throws {
        let office = edit(try example("office"), line: 32, "action: restart", "action: none")
        let report = try check(("office.yaml", office), ("cloud.yaml", try example("cloud")))
        assertOne(report, .error, at: "office.yaml:32", note: "cloud.yaml:33", saying: "checks liveness")
    }

    func testWrongRemoteGatewayAddress() throws {
        let office = edit(try example("office"), line: 14, "203.0.113.20", "203.0.113.21")
        let report = try check(("office.yaml", office), ("cloud.yaml", try example("cloud")))
        assertOne(
            report, .error, at: "office.yaml:14", note: "cloud.yaml:7",
            saying: "leads to 203.0.113.21", "public address is 203.0.113.20")
        XCTAssertEqual(report.pairs.first?.pairedBy, "cloud-office leads to office's public address")
    }

    func testIdentityMismatch() throws {
        let office = insert(try example("office"), after: 20, "    local_id: office.example.com")
        let report = try check(("office.yaml", office), ("cloud.yaml", try example("cloud")))
        assertOne(
            report, .error, at: "office.yaml:21", note: "cloud.yaml:22",
            saying: "authenticates as office.example.com", "expects 198.51.100.10")
    }

    func testSubsetPrefixRouteBasedIsAWarning() throws {
        let cloud = edit(try example("cloud-dynamic"), line: 21, "[192.168.1.0/24]", "[192.168.1.0/25]")
        let report = try check(("office-dynamic.yaml", try example("office-dynamic")), ("cloud-dynamic.yaml", cloud))
        assertOne(
            report, .warning, at: "cloud-dynamic.yaml:21", note: "office-dynamic.yaml:10",
            saying: "is a subset of", "office-dynamic's 192.168.1.0/24 is not routed back by cloud-dynamic")
    }

    // MARK: - More cases

    func testSubsetPrefixPolicyBasedIsAnError() throws {
        let cloud = edit(try example("cloud"), line: 23, "[192.168.1.0/24]", "[192.168.1.0/25]")
        let report = try check(("office.yaml", try example("office")), ("cloud.yaml", cloud))
        assertOne(
            report, .error, at: "cloud.yaml:23", note: "office.yaml:10",
            saying: "is a subset of", "when office initiates, cloud refuses its Quick Mode for 192.168.1.0/24",
            "no narrowing")
    }

    func testKeysDifferingInWhiteSpaceOnlySaySo() throws {
        let cloud = edit(try example("cloud"), line: 29, Self.demoKey, "\"\(Self.demoKey) \"")
        let report = try check(("office.yaml", try example("office")), ("cloud.yaml", cloud))
        assertOne(report, .error, at: "office.yaml:22", note: "cloud.yaml:29", saying: "only in white space")
    }

    func testKindOnlyMismatchWithIKEv1IsAWarning() throws {
        let cloud = insert(try example("cloud"), after: 27, "    kind: dynamic", "    ike_version: 1")
        let report = try check(("office.yaml", try example("office")), ("cloud.yaml", cloud))
        assertOne(report, .warning, at: "cloud.yaml:28", note: "office.yaml:6", saying: "dynamic (route-based)")
    }

    func testDifferentLifetimesNotFarApartAreAWarningForIKEv1() throws {
        let cloud = edit(try example("cloud"), line: 32, "esp: 3600s", "esp: 28800s")
        let report = try check(("office.yaml", try example("office")), ("cloud.yaml", cloud))
        assertOne(
            report, .warning, at: "office.yaml:27", note: "cloud.yaml:32",
            saying: "ESP lifetimes differ", "when cloud initiates, office answers with RESPONDER-LIFETIME 3600s")
        XCTAssertTrue(report.summary.contains("IPsec SA lifetime 1h (office-cloud's, the shorter"), report.summary)
    }

    func testIKEv2LifetimesDifferOnlyInTheSummary() throws {
        let cloud = edit(try example("cloud-dynamic"), line: 31, "esp: 1h", "esp: 2h")
        let report = try check(("office-dynamic.yaml", try example("office-dynamic")), ("cloud-dynamic.yaml", cloud))
        XCTAssertEqual(report.diagnostics, [])
        XCTAssertTrue(
            report.summary.contains("CHILD SA lifetime office-cloud 1h, cloud-office 2h: office-dynamic rekeys first"),
            report.summary)
    }

    /// PFS on one side only: the first CHILD SA (IKE_AUTH carries no KE) comes up, its rekeys do not.
    func testPFSOnOneSideFailsOnlyTheRekeys() throws {
        let cloud = edit(
            try example("cloud-dynamic"), line: 30, "[aes256gcm16, aes256-sha256]",
            "[aes256gcm16-modp2048, aes256-sha256-modp2048]")
        let report = try check(("office-dynamic.yaml", try example("office-dynamic")), ("cloud-dynamic.yaml", cloud))
        assertOne(
            report, .error, at: "office-dynamic.yaml:24", note: "cloud-dynamic.yaml:30",
            saying: "no common CHILD SA rekeys (CREATE_CHILD_SA with PFS) proposal")
        XCTAssertTrue(
            report.summary.contains("CHILD SA (IKE_AUTH): aes256gcm16, whichever side initiates"), report.summary)
    }

    /// The responder's preference decides (both cores): each side initiating gets the other's first choice.
    func testTheChoiceDependsOnWhoInitiates() throws {
        let office = edit(
            try example("office"), line: 23, "ike: aes256-sha1-modp1024",
            "ike: [aes256-sha1-modp1024, aes128-sha1-modp1024]")
        let cloud = edit(
            try example("cloud"), line: 30, "ike: aes256-sha1-modp1024",
            "ike: [aes128-sha1-modp1024, aes256-sha1-modp1024]")
        let report = try check(("office.yaml", office), ("cloud.yaml", cloud))
        XCTAssertEqual(report.diagnostics, [])
        XCTAssertTrue(
            report.summary.contains(
                "IKE (phase 1): aes128-sha1-modp1024 when office-cloud initiates, aes256-sha1-modp1024 when "
                    + "cloud-office initiates"), report.summary)
    }

    /// IKEv2: the responder's proposal order decides, and an initiator whose KE guess is not the chosen
    /// group needs one INVALID_KE_PAYLOAD round trip.
    func testIKEv2KeyExchangeGuess() throws {
        let office = edit(
            try example("office-dynamic"), line: 23, "[aes256gcm16-prfsha256-ecp256, aes256-sha256-modp2048]",
            "[aes256-sha256-modp2048, aes256gcm16-prfsha256-ecp256]")
        let report = try check(("office-dynamic.yaml", office), ("cloud-dynamic.yaml", try example("cloud-dynamic")))
        XCTAssertEqual(report.diagnostics, [])
        XCTAssertTrue(
            report.summary.contains(
                "IKE SA: aes256gcm16-prfsha256-ecp256 when office-cloud initiates, aes256-sha256-prfsha256-modp2048 "
                    + "when cloud-office initiates (one INVALID_KE_PAYLOAD round trip: office-cloud first guesses "
                    + "modp2048; cloud-office first guesses ecp256)"), report.summary)
    }

    func testConnectionsWithoutCounterpart() throws {
        var cloud = edit(try example("cloud"), line: 5, "name: cloud", "name: azure")
        cloud = edit(cloud, line: 7, "203.0.113.20", "203.0.113.30")
        cloud = edit(cloud, line: 21, "name: office", "name: hq")
        cloud = edit(cloud, line: 22, "198.51.100.10", "198.51.100.11")
        cloud = edit(cloud, line: 26, "name: cloud-office", "name: azure-hq")
        cloud = edit(cloud, line: 27, "local_network: office", "local_network: hq")
        let report = try check(("office.yaml", try example("office")), ("cloud.yaml", cloud))
        XCTAssertEqual(report.pairs, [])
        XCTAssertEqual(
            report.diagnostics.map { "\($0.severity) \($0.file):\($0.location.line)" },
            ["error office.yaml:18", "error cloud.yaml:26"])
        XCTAssertTrue(report.diagnostics.allSatisfy { $0.message.contains("has no counterpart") })
    }
}
