import ArgumentParser

/// Performance measurements of the building blocks and of IKE at scale; not part of the tests or of CI
/// (`scripts/bench`, `scripts/bench-ike`).
@main
struct IsthmusBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "isthmus-bench",
        abstract: "Measure Isthmus's building blocks on this machine (build with -c release).",
        subcommands: [CryptoBenchmark.self, ESPPipelineBenchmark.self, IKEBenchmark.self]
    )
}
