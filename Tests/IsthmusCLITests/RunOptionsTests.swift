import XCTest

/// `isthmus run`'s half-open limits: out-of-range values are refused before anything starts, and `--help`
/// lists them.
final class RunOptionsTests: XCTestCase {
    func testHalfOpenLimitsAreValidated() throws {
        for (option, value, message) in [
            ("--half-open-per-source", "0", "--half-open-per-source must be 1 to 1000000, not 0"),
            ("--half-open-limit", "0", "--half-open-limit must be 1 to 1000000, not 0"),
            ("--cookie-threshold", "-1", "--cookie-threshold must be 0 to 1000000, not -1"),
        ] {
            let run = try runIsthmus(["run", "examples/office.yaml", "\(option)=\(value)"])
            XCTAssertNotEqual(run.status, 0, option)
            XCTAssertTrue(run.stderr.contains(message), "\(option): \(run.stderr)")
        }
        let help = try runIsthmus(["run", "--help"])
        for option in ["--half-open-limit", "--half-open-per-source", "--cookie-threshold"] {
            XCTAssertTrue(help.stdout.contains(option), option)
        }
    }
}
