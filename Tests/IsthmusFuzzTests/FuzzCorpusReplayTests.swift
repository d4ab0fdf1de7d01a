import Foundation
import IsthmusFuzzSupport
import XCTest

/// Every input of the kept fuzz corpora (Tests/Fuzz/corpus, merged by scripts/fuzz) run through the same
/// harness as the fuzzers, without libFuzzer: no trap and no broken invariant, as regression tests.
final class FuzzCorpusReplayTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus").path

    func replay<Core: FuzzCore>(_ core: Core.Type, _ directory: String) throws {
        let files = try XCTUnwrap(FuzzCorpus.files(in: Self.corpus + "/" + directory), "no corpus \(directory)")
        XCTAssertGreaterThan(files.count, 10, directory)
        for file in files {
            let script = try XCTUnwrap(FuzzCorpus.read(file), file)
            let pair = FuzzPair<Core>.run(script)
            XCTAssertEqual(pair.violations, [], file)
        }
    }

    func testIKEv2Corpus() throws { try replay(IKEv2FuzzCore.self, "ikev2") }

    func testIKEv1Corpus() throws { try replay(IKEv1FuzzCore.self, "ikev1") }
}
