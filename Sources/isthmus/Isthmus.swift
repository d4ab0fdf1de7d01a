import ArgumentParser
import IsthmusCrypto
import IsthmusGateway
import Logging

@main
struct Isthmus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "isthmus",
        abstract: "A site-to-site IPsec VPN gateway (IKEv1, IKEv2, ESP).",
        version: "0.1.0",
        subcommands: [
            Check.self, Algorithms.self, Run.self, Reload.self, Status.self, Diagnose.self, Up.self, Down.self,
            Logs.self, Events.self,
            Key.self, Export.self, Lab.self, PKI.self,
        ]
    )
}

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Log level on standard error: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .warning

    /// Sets up swift-log once: human-readable lines on standard error.
    func makeLogger(label: String) -> Logger {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
