import ArgumentParser
import Foundation
import IsthmusDaemon
import IsthmusGateway
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// `isthmus lab up|status|down`: the seed's two sites in network namespaces, joined by two Isthmus gateways.
struct Lab: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build the seed's two-site lab in network namespaces and run two gateways in it (root).",
        discussion: """
            `lab up` creates four namespaces (office host 192.168.1.10, office gateway 198.51.100.10, cloud \
            gateway 203.0.113.20, VM 10.0.1.4), starts `isthmus run` with examples/office-dynamic.yaml and \
            examples/cloud-dynamic.yaml (with --static: the IKEv1 gateways examples/office.yaml and \
            examples/cloud.yaml; when the folder's YAML and key files are not all mode 0600, copies of them \
            in the state directory's config/) in the gateway namespaces, waits for the tunnel and pings the VM from the \
            office host. Both gateways serve their web dashboard on 127.0.0.1:8080 in their namespace (the token \
            for its actions in the state directory's dashboard.token). `lab status` shows both gateways and pings \
            again; `lab down` removes everything. \
            Nothing is changed in the root namespace.
            """,
        subcommands: [LabUp.self, LabStatus.self, LabDown.self]
    )
}

/// Where the lab keeps its state, and how its namespaces are named.
struct LabOptions: ParsableArguments {
    @Option(name: .long, help: "Prefix of the lab's namespace and TUN names (1-12 characters).")
    var prefix: String = LabTopology.defaultPrefix

    @Option(name: .long, help: "The folder for the state file, control sockets and gateway logs.")
    var stateDir: String = "/run/isthmus-lab"

    func validate() throws {
        if let problem = LabTopology.validate(prefix: prefix) { throw ValidationError(problem) }
        guard stateDir.hasPrefix("/"), stateDir.count > 1, !stateDir.contains("\n") else {
            throw ValidationError("--state-dir must be an absolute path other than /, not '\(stateDir)'")
        }
    }

    var statePath: String { "\(stateDir)/\(LabState.fileName)" }

    /// `isthmus lab VERB` with this lab's non-default options, for hints.
    func command(_ verb: String) -> String {
        var text = "isthmus lab \(verb)"
        if prefix != LabTopology.defaultPrefix { text += " --prefix \(prefix)" }
        if stateDir != "/run/isthmus-lab" { text += " --state-dir \(stateDir)" }
        return "`\(text)`"
    }

    func requireRoot() throws {
        guard geteuid() == 0 else {
            printError("isthmus lab: needs root (network namespaces, TUN devices); run it with sudo")
            throw ExitCode(1)
        }
    }
}

// MARK: - lab up

struct LabUp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up", abstract: "Create the lab, start both gateways, bring the tunnel up and ping across.")

    @OptionGroup var lab: LabOptions

    @Option(
        name: .long,
        help: "The folder with office-dynamic.yaml and cloud-dynamic.yaml (default: the repository's examples).")
    var examples: String?

    @Flag(
        name: .customLong("static"),
        help: "Run the seed's static gateways (IKEv1, policy-based): office.yaml and cloud.yaml instead.")
    var staticGateways = false

    /// The two configuration files the lab runs, office first.
    var exampleFiles: (office: String, cloud: String) {
        staticGateways ? ("office.yaml", "cloud.yaml") : ("office-dynamic.yaml", "cloud-dynamic.yaml")
    }

    @Option(name: .long, help: "Seconds to wait for both sides' IKE and CHILD SAs.")
    var wait: Int = 20

    /// Where each gateway serves Prometheus metrics, on its namespace's loopback.
    static let metricsPort = 9469
    /// Where each gateway serves its web dashboard, on its namespace's loopback.
    static let dashboardPort = 8080
    /// The file in the state folder holding the token that unlocks the dashboards' actions.
    static let tokenFile = "dashboard.token"

    @Option(name: .long, help: "The gateways' log level (their logs are in the state folder).")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard (1...600).contains(wait) else { throw ValidationError("--wait must be 1 to 600 seconds") }
    }

    func run() throws {
        try lab.requireRoot()
        let files = FileManager.default
        if files.fileExists(atPath: lab.statePath) {
            printError(
                "isthmus lab up: a lab already exists (\(lab.statePath)); see it with \(lab.command("status")), "
                    + "remove it with \(lab.command("down"))")
            throw ExitCode(1)
        }
        let topology = LabTopology(prefix: lab.prefix)
        let leftovers = LabCommand.namespaces().filter { $0.hasPrefix(lab.prefix) }
        if !leftovers.isEmpty {
            printError(
                "isthmus lab up: namespaces from an earlier lab are still there (\(leftovers.joined(separator: ", "))); "
                    + "remove them with \(lab.command("down"))")
            throw ExitCode(1)
        }
        for tool in [LabCommand.ip, LabCommand.ping, LabCommand.sysctl] where !tool.hasPrefix("/") {
            printError("isthmus lab up: '\(tool)' not found (Debian packages iproute2, iputils-ping, procps)")
            throw ExitCode(1)
        }
        let examples = try examplesFolder()
        let executable = try selfExecutable()

        // The state file comes first, so `lab down` can clean up after any failure below.
        do {
            try files.createDirectory(
                atPath: lab.stateDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            printError("isthmus lab up: cannot create \(lab.stateDir): \(error)")
            throw ExitCode(1)
        }
        let dir = lab.stateDir
        // Files others may read (a repository's are 0644; `run` refuses a shared key others may read): the
        // gateways run copies, mode 0600, of the folder's YAML and key files (relative `file:` keys resolve).
        var folder = examples
        do {
            if LabConfigCopy.needed(for: examples) {
                folder = try LabConfigCopy.copy(from: examples, into: "\(dir)/\(LabConfigCopy.folderName)")
                print("lab: running copies (mode 0600) of the configurations in \(folder)")
            }
        } catch {
            printError("isthmus lab up: cannot copy the configurations from \(examples): \(error)")
            throw ExitCode(1)
        }
        let office = "\(folder)/\(exampleFiles.office)"
        let cloud = "\(folder)/\(exampleFiles.cloud)"
        var state = LabState(
            prefix: lab.prefix, namespaces: topology.namespaces, officeHost: topology.officeHost,
            gateways: [
                .init(
                    name: "cloud", namespace: topology.cloudGateway, config: cloud,
                    control: "\(dir)/cloud.sock", log: "\(dir)/cloud.log"),
                .init(
                    name: "office", namespace: topology.officeGateway, config: office,
                    control: "\(dir)/office.sock", log: "\(dir)/office.log"),
            ],
            created: ISO8601DateFormatter().string(from: Date()))
        try save(state)

        func fail(_ what: String, logs: Bool = false) -> ExitCode {
            printError("isthmus lab up: FAILED: \(what)")
            if logs { LabReport.printLogTails(state) }
            printError(
                "the lab is left as it is for inspection (state: \(lab.statePath)); \(lab.command("down")) removes it")
            return ExitCode(1)
        }

        // The dashboards' token: random, mode 0600, in the state folder (0700).
        do {
            try KeyFile.writeAtomically(SharedKeyGenerator.generate(), to: "\(dir)/\(Self.tokenFile)")
        } catch {
            throw fail("cannot write the dashboard token \(dir)/\(Self.tokenFile): \(error)")
        }

        // Topology.
        for step in topology.steps {
            let result = LabCommand.inNamespace(step.namespace, step.arguments)
            guard result.succeeded else {
                throw fail("\(describe(step.namespace, step.arguments)): \(result.output.trimmed)")
            }
        }
        print("lab: namespaces \(topology.namespaces.joined(separator: ", ")) created")
        let underlay = LabCommand.inNamespace(topology.officeGateway, ["ping", "-c", "1", "-W", "2", "203.0.113.20"])
        guard underlay.succeeded else {
            throw fail("the office gateway cannot reach 203.0.113.20: \(underlay.output.trimmed)")
        }

        // Gateways: the cloud side answers (--passive), the office side initiates.
        for index in state.gateways.indices {
            let gateway = state.gateways[index]
            do {
                state.gateways[index].pid = try startGateway(
                    gateway, executable: executable, passive: gateway.name == "cloud")
            } catch {
                throw fail("cannot start the \(gateway.name) gateway: \(error)", logs: true)
            }
            try save(state)
            print(
                "lab: \(gateway.name) gateway started in \(gateway.namespace) (pid \(state.gateways[index].pid ?? 0), log \(gateway.log))"
            )
            if index == 0 { usleep(300_000) }
        }

        // Tunnel: an established IKE SA with a CHILD SA on both sides.
        let deadline = Date().addingTimeInterval(Double(wait))
        var missing = state.gateways.map(\.name)
        while !missing.isEmpty && Date() < deadline {
            for gateway in state.gateways where missing.contains(gateway.name) {
                if let pid = gateway.pid, !LabProcess.isAlive(pid) {
                    throw fail("the \(gateway.name) gateway (pid \(pid)) exited", logs: true)
                }
                if let reply = try? ControlClient.send(
                    ControlRequest(command: "status"), to: gateway.control, timeoutSeconds: 2),
                    LabReport.tunnelUp(reply.response)
                {
                    missing.removeAll { $0 == gateway.name }
                }
            }
            if !missing.isEmpty { usleep(250_000) }
        }
        guard missing.isEmpty else {
            throw fail(
                "no established IKE SA with a CHILD SA within \(wait) s on: \(missing.joined(separator: ", "))",
                logs: true)
        }
        print(
            staticGateways
                ? "lab: tunnel up (IKEv1: ISAKMP SA and IPsec SA established on both gateways)"
                : "lab: tunnel up (IKE SA and CHILD SA established on both gateways)")

        // Traffic.
        let ping = LabReport.ping(state)
        print()
        print(ping.summary)
        print()
        LabReport.printStatus(state)
        guard ping.ok else { throw fail("ping 10.0.1.4 from the office host (192.168.1.10) failed", logs: true) }
        print("lab is up. \(lab.command("status")) shows it again; \(lab.command("down")) removes it.")
        print("logs:    isthmus logs --control \(state.gateways[1].control) [--follow]")
        print(
            "metrics: ip netns exec \(state.gateways[1].namespace) curl -s http://127.0.0.1:\(Self.metricsPort)/metrics"
        )
        let cloudNamespace = state.gateways[0].namespace
        let port = Self.dashboardPort
        print(
            "dashboard: http://127.0.0.1:\(port)/ in each gateway's namespace (cloud \(cloudNamespace), office "
                + "\(state.gateways[1].namespace)); the token for its actions is in \(dir)/\(Self.tokenFile)")
        print("  from here:  ip netns exec \(cloudNamespace) curl -s http://127.0.0.1:\(port)/api/status")
        print(
            "  a browser on this machine (Debian package socat): socat TCP-LISTEN:\(port),bind=127.0.0.1,reuseaddr,fork "
                + "EXEC:'ip netns exec \(cloudNamespace) socat STDIO TCP\\:127.0.0.1\\:\(port)'  then open http://127.0.0.1:\(port)/"
        )
    }

    private func save(_ state: LabState) throws {
        do {
            try state.write(to: lab.statePath)
        } catch {
            printError("isthmus lab up: cannot write \(lab.statePath): \(error)")
            throw ExitCode(1)
        }
    }

    private func describe(_ namespace: String?, _ arguments: [String]) -> String {
        (namespace.map { "ip netns exec \($0) " } ?? "ip ") + arguments.joined(separator: " ")
    }

    /// --examples, else ./examples, else examples/ beside the build folder the binary is in.
    private func examplesFolder() throws -> String {
        let files = exampleFiles
        func has(_ folder: String) -> Bool {
            FileManager.default.fileExists(atPath: "\(folder)/\(files.office)")
                && FileManager.default.fileExists(atPath: "\(folder)/\(files.cloud)")
        }
        if let examples {
            let absolute = absolutePath(examples)
            guard has(absolute) else {
                printError("isthmus lab up: \(absolute) has no \(files.office) and \(files.cloud)")
                throw ExitCode(1)
            }
            return absolute
        }
        var candidates = [absolutePath("examples")]
        var folder = URL(fileURLWithPath: (try? selfExecutable()) ?? "/").deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(folder.appendingPathComponent("examples").path)
            folder = folder.deletingLastPathComponent()
        }
        guard let found = candidates.first(where: has) else {
            printError("isthmus lab up: cannot find examples/\(files.office); give --examples DIR")
            throw ExitCode(1)
        }
        return found
    }

    private func absolutePath(_ path: String) -> String {
        let url =
            path.hasPrefix("/")
            ? URL(fileURLWithPath: path)
            : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path)
        return url.standardizedFileURL.path
    }

    /// This very binary (/proc/self/exe), so the gateways run the same build as `lab`.
    private func selfExecutable() throws -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"), path.hasPrefix("/")
        {
            return path
        }
        let argument0 = CommandLine.arguments[0]
        if argument0.contains("/") { return absolutePath(argument0) }
        printError("isthmus lab up: cannot find this program's own path")
        throw ExitCode(1)
    }

    /// `ip netns exec NS isthmus run CONFIG --control S` with output into the gateway's log: the gateway
    /// creates its interfaces and routes itself.
    private func startGateway(_ gateway: LabState.Gateway, executable: String, passive: Bool) throws -> Int32 {
        let files = FileManager.default
        guard files.createFile(atPath: gateway.log, contents: nil, attributes: [.posixPermissions: 0o600]),
            let log = FileHandle(forWritingAtPath: gateway.log)
        else { throw LabError("cannot create \(gateway.log)") }
        defer { try? log.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: LabCommand.ip)
        process.arguments =
            [
                "netns", "exec", gateway.namespace, executable, "run", gateway.config,
                "--control", gateway.control, "--log-level", logLevel.rawValue,
                // Each namespace has a loopback of its own: both gateways serve metrics on the same port.
                "--metrics", "127.0.0.1:\(LabUp.metricsPort)",
                "--dashboard", "127.0.0.1:\(LabUp.dashboardPort)",
                "--dashboard-token-file", "\(lab.stateDir)/\(LabUp.tokenFile)",
            ] + (passive ? ["--passive"] : [])
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        return process.processIdentifier
    }
}

// MARK: - lab status

struct LabStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show both gateways' status and ping the VM from the office host.")

    @OptionGroup var lab: LabOptions

    func run() throws {
        try lab.requireRoot()
        guard let state = LabState.read(from: lab.statePath) else {
            printError(
                "isthmus lab status: no lab (\(lab.statePath) is missing or unreadable); start one with \(lab.command("up"))"
            )
            throw ExitCode(1)
        }
        var ok = LabReport.printStatus(state)
        let ping = LabReport.ping(state)
        print(ping.summary)
        ok = ok && ping.ok
        if !ok {
            printError("isthmus lab status: the lab is not healthy")
            LabReport.printLogTails(state)
            throw ExitCode(1)
        }
    }
}

// MARK: - lab down

struct LabDown: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down",
        abstract: "Stop both gateways and delete the lab's namespaces and state (also after a crash).")

    @OptionGroup var lab: LabOptions

    func run() throws {
        try lab.requireRoot()
        let state = LabState.read(from: lab.statePath)
        if state == nil && FileManager.default.fileExists(atPath: lab.statePath) {
            printError(
                "isthmus lab down: \(lab.statePath) is unreadable; removing namespaces named \(lab.prefix)* only")
        }
        var problems: [String] = []

        // Gateways: only the PIDs in the state file, and only while they still look like `isthmus run`.
        for gateway in state?.gateways ?? [] {
            guard let pid = gateway.pid, pid > 1 else { continue }
            guard LabProcess.isAlive(pid) else { continue }
            guard LabProcess.looksLikeIsthmus(pid) else {
                print("lab: pid \(pid) is no longer an isthmus gateway; left alone")
                continue
            }
            if LabProcess.stop(pid) {
                print("lab: \(gateway.name) gateway (pid \(pid)) stopped")
            } else {
                problems.append("pid \(pid) (\(gateway.name) gateway) did not exit after SIGKILL")
            }
        }

        // Namespaces: those in the state file and any other with the lab's prefix.
        let prefixes = Set([lab.prefix] + (state.map { [$0.prefix] } ?? []))
        var names = state?.namespaces ?? []
        for name in LabCommand.namespaces()
        where prefixes.contains(where: { name.hasPrefix($0) }) && !names.contains(name) {
            names.append(name)
        }
        let existing = Set(LabCommand.namespaces())
        var deleted: [String] = []
        for name in names where existing.contains(name) {
            let result = LabCommand.run(LabCommand.ip, ["netns", "del", name])
            if result.succeeded {
                deleted.append(name)
            } else {
                problems.append("ip netns del \(name): \(result.output.trimmed)")
            }
        }
        if !deleted.isEmpty { print("lab: namespaces \(deleted.joined(separator: ", ")) deleted") }

        // State directory: only the files `lab up` writes, then the folder itself.
        let files = FileManager.default
        if files.fileExists(atPath: lab.stateDir) {
            for name in [LabState.fileName, "office.sock", "cloud.sock", "office.log", "cloud.log", LabUp.tokenFile] {
                let path = "\(lab.stateDir)/\(name)"
                if files.fileExists(atPath: path) { try? files.removeItem(atPath: path) }
            }
            LabConfigCopy.remove(from: "\(lab.stateDir)/\(LabConfigCopy.folderName)")
            if rmdir(lab.stateDir) != 0 {
                problems.append("cannot remove \(lab.stateDir): \(String(cString: strerror(errno)))")
            } else {
                print("lab: \(lab.stateDir) removed")
            }
        }

        let left = LabCommand.namespaces().filter { name in prefixes.contains { name.hasPrefix($0) } }
        if !left.isEmpty { problems.append("namespaces still present: \(left.joined(separator: ", "))") }
        guard problems.isEmpty else {
            for problem in problems { printError("isthmus lab down: \(problem)") }
            throw ExitCode(1)
        }
        print("lab: nothing left")
    }
}
