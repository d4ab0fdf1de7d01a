import Foundation
import IsthmusFuzzSupport
import XCTest

/// Every input of the kept fuzz corpora (Tests/Fuzz/corpus, merged by scripts/fuzz) and every reproducer of a
/// crash the fuzzers found (Tests/Fuzz/reproducers) run through the same harness as the fuzzers, without
/// libFuzzer: no trap and no broken invariant, as regression tests.
final class FuzzCorpusReplayTests: XCTestCase {
    static let fuzz = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz").path

    func replay<Core: FuzzCore>(_ core: Core.Type, _ target: String) throws {
        let corpus = try XCTUnwrap(FuzzCorpus.files(in: Self.fuzz + "/corpus/" + target), "no corpus \(target)")
        XCTAssertGreaterThan(corpus.count, 10, target)
        let reproducers = FuzzCorpus.files(in: Self.fuzz + "/reproducers/" + target) ?? []
        for file in corpus + reproducers {
            let script = try XCTUnwrap(FuzzCorpus.read(file), file)
            let pair = FuzzPair<Core>.run(script)
            XCTAssertEqual(pair.violations, [], file)
        }
    }

    func testIKEv2Corpus() throws { try replay(IKEv2FuzzCore.self, "ikev2") }

    func testIKEv1Corpus() throws { try replay(IKEv1FuzzCore.self, "ikev1") }
}
