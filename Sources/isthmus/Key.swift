import ArgumentParser
import IsthmusGateway
import Logging

import Glibc

/// `isthmus key show|rotate NAME`: a connection's pre-shared key (the cloud console's "Manage Key").
struct Key: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show or rotate a connection's pre-shared key (the cloud console's \"Manage Key\").",
        discussion: """
            The key goes to standard output, alone on its line; where it comes from and when it was last \
            rotated go to standard error. Nothing here logs the key.
            """,
        subcommands: [KeyShow.self, KeyRotate.self]
    )
}

/// The connection and the configuration it is in.
struct KeyTarget: ParsableArguments {
    @Argument(help: "The connection's name.")
    var name: String

    @Option(name: .long, help: "The gateway's configuration file.")
    var config: String

    /// The loaded configuration and the connection, or exit 1 with every problem.
    func load() throws -> (ConfigLoadResult, GatewayConfig, Connection) {
        let result = ConfigLoader.load(path: config)
        guard let gateway = result.config else {
            for diagnostic in result.errors { printError(diagnostic.description) }
            printError("\(config): the configuration was not accepted ('isthmus check \(config)' lists why)")
            throw ExitCode(1)
        }
        guard let connection = gateway.connections.first(where: { $0.name == name }) else {
            let known = gateway.connections.map { "'\($0.name)'" }.joined(separator: ", ")
            printError("\(config): no connection named '\(name)'; it has \(known)")
            throw ExitCode(1)
        }
        return (result, gateway, connection)
    }

    /// `config:LINE:COLUMN` of the connection's `shared_key`, for messages.
    func keyPosition(_ result: ConfigLoadResult, _ gateway: GatewayConfig) -> String {
        guard let index = gateway.connections.firstIndex(where: { $0.name == name }),
            let location = result.positions["connections[\(index)].shared_key"]
        else { return config }
        return "\(config):\(location)"
    }
}

/// `isthmus key show NAME --config FILE`.
struct KeyShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print a connection's pre-shared key, where it comes from and when it was last rotated."
    )

    @OptionGroup var target: KeyTarget
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let logger = global.makeLogger(label: "isthmus.key")
        let (result, gateway, connection) = try target.load()
        logger.debug(
            "showing a shared key",
            metadata: ["connection": "\(connection.name)", "source": "\(connection.sharedKey)"])
        let peer = gateway.localNetwork(named: connection.localNetwork)
        printError(
            "connection '\(connection.name)' to local network '\(connection.localNetwork)'"
                + (peer.map { " (peer \($0.gateway))" } ?? ""))
        switch connection.sharedKey.source {
        case .none:
            printError("key: none, the connection authenticates with certificates (auth: certificate)")
            return
        case .inline:
            printError(
                "key: written inline at \(target.keyPosition(result, gateway)) "
                    + "(\(connection.sharedKey.length) characters); never rotated by isthmus")
            printError("  'isthmus key rotate' needs 'shared_key: file:PATH': see 'isthmus key rotate --help'")
        case .file(let written):
            let path = connection.sharedKey.origin?.path ?? written
            let info = KeyFile.info(path: path)
            var line = "key: file \(path) (\(connection.sharedKey.length) characters"
            if let info { line += ", mode \(String(info.mode, radix: 8))" }
            printError(line + ")")
            printError(
                "last rotated: " + (info.map { KeyTime.describe($0.modified) } ?? "unknown (cannot stat the file)")
                    + " (the file's modification time)")
        }
        connection.sharedKey.withMaterial { bytes in
            print(String(decoding: bytes, as: UTF8.self))
        }
    }
}

/// `isthmus key rotate NAME --config FILE`.
struct KeyRotate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Write a new random pre-shared key into the connection's key file and print it once.",
        discussion: """
            The connection must read its key from a file ('shared_key: file:PATH'); isthmus never rewrites \
            the configuration itself. The new key: 32 bytes from the system's CSPRNG as 43 letters and \
            digits (256 bits; fits router forms, which often take at most 49 characters and no symbols). \
            The file is replaced atomically (a temporary file in the same folder, mode 0600, fsync, rename, \
            fsync of the folder): it holds the old key or the new one, never a mix. Its modification time \
            is the rotation time 'key show' and 'status' report.
            A running 'isthmus run' keeps the key it read until 'isthmus reload' (or SIGHUP), which keeps the \
            SAs and uses the new key from the next authentication; the peer must get the new key (printed \
            here, or 'isthmus export NAME --device D').
            """
    )

    @OptionGroup var target: KeyTarget
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let logger = global.makeLogger(label: "isthmus.key")
        let (result, gateway, connection) = try target.load()
        guard case .file(let written) = connection.sharedKey.source else {
            let position = target.keyPosition(result, gateway)
            let file = "/etc/isthmus/\(connection.name).key"
            printError(
                """
                \(position): error: connection '\(connection.name)' has its key inline in the configuration, \
                and isthmus does not rewrite configuration files
                    fix: move the key to a file, then rotate:
                      (umask 077; isthmus key show \(connection.name) --config \(target.config) > \(file))
                      replace the shared_key line at \(position) with: shared_key: file:\(file)
                      isthmus key rotate \(connection.name) --config \(target.config)
                """)
            throw ExitCode(1)
        }
        let path = connection.sharedKey.origin?.path ?? written
        let key = SharedKeyGenerator.generate()
        do {
            try KeyFile.writeAtomically(key, to: path)
        } catch {
            printError("isthmus key rotate: \(error)")
            throw ExitCode(1)
        }
        logger.info(
            "rotated a shared key",
            metadata: ["connection": "\(connection.name)", "file": "\(path)", "characters": "\(key.count)"])
        let info = KeyFile.info(path: path)
        printError(
            "connection '\(connection.name)': new pre-shared key written to \(path)"
                + (info.map { " (mode \(String($0.mode, radix: 8)), \(KeyTime.utc($0.modified)))" } ?? ""))
        print(String(decoding: key, as: UTF8.self))
        let peer = gateway.localNetwork(named: connection.localNetwork)
        let peerText =
            peer.map {
                "'\($0.name)' (\($0.gateway), \($0.prefixes.map(\.description).joined(separator: ", ")))"
            }
            ?? "'\(connection.localNetwork)'"
        printError(
            """
            Now update the peer, local network \(peerText): it still has the old key,
            and the next IKE authentication between the two fails until both have the new one.
            Give it the key above, or its whole configuration:
                isthmus export \(connection.name) --device strongswan|libreswan|netgear-fvs318n --config \(target.config)
            A running 'isthmus run' for this gateway keeps using the old key until 'isthmus reload' (its SAs
            stay up; the new key is used from the next authentication).
            """)
    }
}

/// Rotation times as people read them.
enum KeyTime {
    /// `2025-06-01 10:00:00 UTC`.
    static func utc(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil else { return "\(seconds) s after the epoch" }
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }

    /// `2025-06-01 10:00:00 UTC (3d4h ago)`.
    static func describe(_ seconds: Int64) -> String {
        let now = Int64(time(nil))
        return "\(utc(seconds)) (\(Status.duration(now - seconds)) ago)"
    }
}
