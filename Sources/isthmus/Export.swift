import ArgumentParser
import IsthmusGateway
import Logging

/// `isthmus export NAME --device D --config FILE`: the peer's configuration, generated from ours.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the peer's configuration for a connection, for a given device.",
        discussion: """
            The export describes the other end of connection NAME from its own point of view: its address, \
            prefixes and identity are our local network's; its remote endpoint, remote identity and remote \
            prefixes are ours; proposals, lifetimes, the IKE version and liveness checks match ours, in the \
            device's own syntax. Devices: strongswan (swanctl.conf), libreswan (NAME.conf for /etc/ipsec.d \
            and NAME.secrets), netgear-fvs318n (the IKE Policy and VPN Policy screens, field by field, with \
            a warning on each field whose device default differs).
            The pre-shared key is included (the device needs it; the header says so); --no-key leaves it out. \
            A setting the device cannot express is an error naming our configuration's field and the fix \
            (exit status 1).
            """
    )

    @Argument(help: "The connection's name.")
    var name: String

    @Option(name: .long, help: "The device: strongswan, libreswan or netgear-fvs318n.")
    var device: ExportDevice

    @Option(
        name: .long,
        help: "The gateway's configuration file; twice for an active-active pair (the branch's side of both tunnels).")
    var config: [String]

    @Flag(name: .long, help: "Leave the pre-shared key out of the export.")
    var noKey = false

    @Option(
        name: .long,
        help: "Write the files into this folder (mode 0600, replaced atomically) instead of standard output.")
    var output: String?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard !config.isEmpty else { throw ValidationError("--config FILE is required") }
    }

    func run() throws {
        let logger = global.makeLogger(label: "isthmus.export")
        var peers: [PeerSide] = []
        for file in config {
            let result = ConfigLoader.load(path: file)
            guard let gateway = result.config else {
                for diagnostic in result.errors { printError(diagnostic.description) }
                printError("\(file): the configuration was not accepted ('isthmus check \(file)' lists why)")
                throw ExitCode(1)
            }
            do {
                peers.append(try PeerSide(mirroring: name, in: gateway, includeKey: !noKey))
            } catch {
                try fail([error], result, gateway, file: file)
            }
        }
        let files: [ExportedFile]
        do {
            if peers.count == 1 {
                files = try PeerExport.files(for: peers[0], device: device, origin: ExportOrigin(configFile: config[0]))
            } else {
                files = try PeerExport.files(
                    forPair: peers, device: device, origin: ExportOrigin(configFiles: config, connection: name))
            }
            logger.debug(
                "exported the peer configuration",
                metadata: [
                    "connection": "\(name)", "device": "\(device.rawValue)", "files": "\(files.map(\.name))",
                    "key-included": "\(!noKey)",
                ])
        } catch {
            // The first configuration's positions: a pair's problems are named by gateway in their message.
            let result = ConfigLoader.load(path: config[0])
            guard let gateway = result.config else { throw ExitCode(1) }
            try fail(error.problems, result, gateway, file: config[0])
        }
        if let output {
            for file in files {
                let path = "\(output)/\(file.name)"
                do {
                    try AtomicFile.replace(path, with: Array(file.contents.utf8))
                } catch {
                    printError("isthmus export: \(error)")
                    throw ExitCode(1)
                }
                printError("wrote \(path) (mode 600\(file.containsKey ? ", contains the pre-shared key" : ""))")
            }
            return
        }
        if files.contains(where: \.containsKey) {
            printError("isthmus export: the output contains the pre-shared key of '\(name)' (--no-key leaves it out)")
        }
        for file in files {
            if files.count > 1 { print("# ---- \(file.name) ----") }
            print(file.contents, terminator: "")
        }
    }

    private func fail(
        _ problems: [ExportProblem], _ result: ConfigLoadResult, _ gateway: GatewayConfig, file: String
    ) throws -> Never {
        for problem in problems {
            printError(problem.diagnostic(file: file, config: gateway, positions: result.positions).description)
        }
        let count = problems.count
        printError("\(file): \(count) problem\(count == 1 ? "" : "s"); nothing exported for \(device.rawValue)")
        throw ExitCode(1)
    }
}

extension ExportDevice: ExpressibleByArgument {}
