import ArgumentParser
import IsthmusDaemon
import IsthmusGateway

import Glibc

/// How a client command finds the running gateway: `--control PATH`, `--config FILE`, or the only socket
/// in /run/isthmus.
struct ControlOptions: ParsableArguments {
    @Option(name: [.customLong("control"), .customLong("socket")], help: "The gateway's control socket.")
    var control: String?

    @Option(name: .long, help: "The gateway's configuration file (its name gives the control socket).")
    var config: String?

    /// The folder `isthmus run` puts control sockets in by default.
    static let runDirectory = "/run/isthmus"

    /// The control socket to use, or exit 1 with a sentence saying how to name one.
    func resolvePath() throws -> String {
        if let control { return control }
        if let config {
            let result = ConfigLoader.load(path: config)
            guard let gateway = result.config else {
                for diagnostic in result.errors { printError(diagnostic.description) }
                printError("\(config): cannot read the gateway name; give --control PATH instead")
                throw ExitCode(1)
            }
            return DaemonOptions.defaultControlPath(gatewayName: gateway.gateway.name)
        }
        let sockets = Self.socketsInRunDirectory()
        switch sockets.count {
        case 1:
            return "\(Self.runDirectory)/\(sockets[0])"
        case 0:
            printError(
                "no gateway control socket in \(Self.runDirectory) (is `isthmus run` running?); "
                    + "give --control PATH or --config FILE")
        default:
            printError(
                "several gateways run here (\(sockets.joined(separator: ", "))); "
                    + "pick one with --control PATH or --config FILE")
        }
        throw ExitCode(1)
    }

    /// Names of the `.sock` files in /run/isthmus, sorted (at most 1000 entries are looked at).
    static func socketsInRunDirectory() -> [String] {
        guard let directory = opendir(runDirectory) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        var seen = 0
        while seen < 1000, let entry = readdir(directory) {
            seen += 1
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasSuffix(".sock") { names.append(name) }
        }
        return names.sorted()
    }

    /// Sends one request; exits 1 with the reason when there is no answer or the answer is an error.
    /// `outcomeOnly`: the caller prints the raw line, so only `ok` and `error` are decoded.
    func send(_ request: ControlRequest, outcomeOnly: Bool = false) throws -> ControlClient.Reply {
        let path = try resolvePath()
        let reply: ControlClient.Reply
        do {
            reply = try ControlClient.send(request, to: path, outcomeOnly: outcomeOnly)
        } catch {
            printError("isthmus \(request.command): \(error)")
            throw ExitCode(1)
        }
        guard reply.response.ok else {
            printError("isthmus \(request.command): \(reply.response.error ?? "the gateway refused the request")")
            throw ExitCode(1)
        }
        return reply
    }
}
