import Logging
import ServiceLifecycle
import UnixSignals

/// The gateway as a swift-service-lifecycle service: starts the daemon, reloads it on SIGHUP, and on
/// graceful shutdown (SIGTERM, SIGINT) deletes the SAs, telling the peers, before returning.
public struct GatewayService: Service {
    let daemon: GatewayDaemon
    let logger: Logger

    public init(daemon: GatewayDaemon, logger: Logger) {
        self.daemon = daemon
        self.logger = logger
    }

    public func run() async throws {
        // SIGHUP is trapped before the sockets open: its default action would end the process, and a
        // `systemctl reload` right after start must not.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        _ = try await daemon.start().get()
        for await _ in hangups.cancelOnGracefulShutdown() {
            logger.notice("signal received", metadata: ["signal": "HUP"])
            let response = try await daemon.reload().get()
            for line in ReloadSummary.lines(response) {
                logger.notice("\(line)")
            }
        }
        logger.notice("graceful shutdown requested")
        try await daemon.shutdown().get()
    }
}

/// The human lines of a `reload` answer: what happened to each connection, or why it was refused.
public enum ReloadSummary {
    public static func lines(_ response: ControlResponse) -> [String] {
        guard response.ok else {
            return ["reload refused: \(response.error ?? "unknown reason")"]
                + (response.diagnostics ?? []).map { "  \($0)" }
        }
        var lines = [response.message ?? "configuration reloaded"]
        for entry in response.reloaded ?? [] {
            let fields = entry.fields.map { " (\($0.joined(separator: ", ")))" } ?? ""
            let effect: String
            switch entry.change {
            case "unchanged": effect = "unchanged, SAs kept"
            case "key-changed": effect = "new shared key, SAs kept; the next authentication uses it"
            case "changed": effect = "changed\(fields): restarted"
            case "added": effect = "added"
            case "removed": effect = "removed: SAs deleted"
            default: effect = entry.change
            }
            lines.append("  \(entry.connection): \(effect)")
        }
        return lines
    }
}
