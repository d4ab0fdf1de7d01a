import ArgumentParser
import IsthmusGateway
import Logging

import Glibc

/// `isthmus check FILE [PEER-FILE]`: validate a configuration; exit 0 with a topology summary, or 1 with every
/// problem. With two files, each is validated alone and then both are checked against each other
/// (``PairCheck``): the two ends of each tunnel must agree before either is deployed.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a configuration file and summarise its topology, or check two ends against each other.",
        discussion: """
            Exit status 0: the file is valid; the topology, the effective proposals and lifetimes are printed.
            Exit status 1: every problem is listed as FILE:LINE:COLUMN: message, each with a fix.
            Warnings (weak algorithms, readable key files) are printed either way and do not fail the check.

            With two files (isthmus check office.yaml cloud.yaml), each is validated alone first; then each \
            connection of the first is paired with the one of the second that leads back to it, and the pair \
            is checked: the same pre-shared key (compared, never printed), a common IKE and ESP proposal and \
            the one each side chooses when it initiates, mirrored prefixes, the same IKE version and kind, \
            lifetimes (who rekeys first, RESPONDER-LIFETIME), liveness checks on at least one side, identities. \
            Exit status 0 prints a summary of each pair; 1 lists every disagreement at the line to change.
            """
    )

    @Argument(help: "The YAML configuration file.")
    var file: String

    @Argument(help: "The configuration of the gateway at the other end, to check the pair.")
    var peerFile: String?

    @Flag(name: .long, help: "Print only problems, no summary.")
    var quiet = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let logger = global.makeLogger(label: "isthmus.check")
        guard let peerFile else {
            let result = load(file, logger: logger)
            let config = try result.acceptedConfig(file: file)
            if !quiet {
                print(validLine(file, result))
                print(TopologySummary.render(config))
            }
            return
        }
        // Both files are validated (and all their problems listed) before either failure ends the check.
        var sides: [PairCheckSide] = []
        var refused = false
        for path in [file, peerFile] {
            let result = load(path, logger: logger)
            do {
                let config = try result.acceptedConfig(file: path)
                sides.append(PairCheckSide(file: path, config: config, positions: result.positions))
                if !quiet { print(validLine(path, result)) }
            } catch {
                refused = true
            }
        }
        guard !refused, sides.count == 2 else { throw ExitCode(1) }
        let report = PairCheck.check(sides[0], sides[1])
        logger.debug(
            "checked pair",
            metadata: [
                "pairs": "\(report.pairs.count)", "errors": "\(report.errors.count)",
                "warnings": "\(report.warnings.count)",
            ])
        for diagnostic in report.diagnostics { printError(diagnostic.description) }
        let pairs = "\(report.pairs.count) pair\(report.pairs.count == 1 ? "" : "s")"
        guard report.errors.isEmpty else {
            let count = report.errors.count
            printError(
                "\(file) + \(peerFile): \(pairs), \(count) disagreement\(count == 1 ? "" : "s"); fix them before "
                    + "deploying either")
            throw ExitCode(1)
        }
        if !quiet {
            let warnings = report.warnings.count
            print(
                "\(file) + \(peerFile): \(pairs), they agree"
                    + (warnings > 0 ? " (\(warnings) warning\(warnings == 1 ? "" : "s"))" : ""))
            print(report.summary)
        }
    }

    /// The file loaded and validated, with a debug line.
    private func load(_ path: String, logger: Logger) -> ConfigLoadResult {
        let result = ConfigLoader.load(path: path)
        logger.debug(
            "checked configuration",
            metadata: [
                "file": "\(path)", "errors": "\(result.errors.count)", "warnings": "\(result.warnings.count)",
                "connections": "\(result.config?.connections.count ?? 0)",
            ])
        return result
    }

    /// `FILE: valid (2 warnings)`.
    private func validLine(_ path: String, _ result: ConfigLoadResult) -> String {
        let warnings = result.warnings.count
        return "\(path): valid\(warnings > 0 ? " (\(warnings) warning\(warnings == 1 ? "" : "s"))" : "")"
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
