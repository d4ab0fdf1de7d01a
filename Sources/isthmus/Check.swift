import ArgumentParser
import IsthmusGateway
import Logging

import Glibc

/// `isthmus check FILE`: validate a configuration; exit 0 with a topology summary, or 1 with every problem.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a configuration file and summarise its topology.",
        discussion: """
            Exit status 0: the file is valid; the topology, the effective proposals and lifetimes are printed.
            Exit status 1: every problem is listed as FILE:LINE:COLUMN: message, each with a fix.
            Warnings (weak algorithms, readable key files) are printed either way and do not fail the check.
            """
    )

    @Argument(help: "The YAML configuration file.")
    var file: String

    @Flag(name: .long, help: "Print only problems, no summary.")
    var quiet = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let logger = global.makeLogger(label: "isthmus.check")
        let result = ConfigLoader.load(path: file)
        logger.debug(
            "checked configuration",
            metadata: [
                "file": "\(file)", "errors": "\(result.errors.count)", "warnings": "\(result.warnings.count)",
                "connections": "\(result.config?.connections.count ?? 0)",
            ])
        let config = try result.acceptedConfig(file: file)
        if !quiet {
            let warnings = result.warnings.count
            print("\(file): valid\(warnings > 0 ? " (\(warnings) warning\(warnings == 1 ? "" : "s"))" : "")")
            print(TopologySummary.render(config))
        }
    }
}

extension ConfigLoadResult {
    /// The configuration, after every diagnostic (errors and warnings) went to standard error; when it was
    /// not accepted, exit 1 after saying how many errors `file` has.
    func acceptedConfig(file: String) throws -> GatewayConfig {
        for diagnostic in diagnostics {
            printError(diagnostic.description)
        }
        guard let config else {
            printError("\(file): \(errorCount); the configuration was not accepted")
            throw ExitCode(1)
        }
        return config
    }

    /// `1 error`, `2 errors`.
    var errorCount: String { "\(errors.count) error\(errors.count == 1 ? "" : "s")" }
}

func printError(_ text: String) {
    var standardError = StandardError()
    print(text, to: &standardError)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var remaining = Array(string.utf8)[...]
        while !remaining.isEmpty {
            let written = remaining.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            remaining = remaining.dropFirst(written)
        }
    }
}
