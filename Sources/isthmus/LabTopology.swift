import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The seed's two sites in four network namespaces (nothing is done in the root namespace):
///
///     PREFIXoh 192.168.1.10 -oh0/lan0- 192.168.1.1 PREFIXofc 198.51.100.10/24
///         -wan0/wan0- 203.0.113.20/24 PREFIXcld 10.0.1.1 -lan0/vm0- 10.0.1.4 PREFIXvm
///
/// Each gateway creates its own tunnel interface and routes (10.0.1.0/24 in the office, 192.168.1.0/24 in the
/// cloud) when it starts.
struct LabTopology {
    let prefix: String

    var officeHost: String { prefix + "oh" }
    var officeGateway: String { prefix + "ofc" }
    var cloudGateway: String { prefix + "cld" }
    var vm: String { prefix + "vm" }
    var namespaces: [String] { [officeHost, officeGateway, cloudGateway, vm] }

    static let defaultPrefix = "ist-lab-"
    static let vmAddress = "10.0.1.4"

    /// A prefix of 1 to 12 characters of `a-z 0-9 - _ .` (so every namespace name stays <= 15).
    static func validate(prefix: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
        guard (1...12).contains(prefix.count), prefix.allSatisfy({ allowed.contains($0) }),
            prefix.first != "-", prefix.first != "."
        else {
            return "--prefix must be 1 to 12 characters of a-z 0-9 - _ . (not starting with - or .), not '\(prefix)'"
        }
        return nil
    }

    /// Every step that builds the topology: (what, namespace or nil for `ip` itself, arguments).
    var steps: [(namespace: String?, arguments: [String])] {
        var steps: [(String?, [String])] = []
        for namespace in namespaces {
            steps.append((nil, ["netns", "add", namespace]))
            steps.append((namespace, ["ip", "link", "set", "lo", "up"]))
        }
        // The veths are created directly inside the namespaces.
        steps.append(
            (
                nil,
                [
                    "link", "add", "oh0", "netns", officeHost, "type", "veth", "peer", "name", "lan0", "netns",
                    officeGateway,
                ]
            ))
        steps.append(
            (
                nil,
                [
                    "link", "add", "wan0", "netns", officeGateway, "type", "veth", "peer", "name", "wan0", "netns",
                    cloudGateway,
                ]
            ))
        steps.append(
            (nil, ["link", "add", "lan0", "netns", cloudGateway, "type", "veth", "peer", "name", "vm0", "netns", vm]))
        let ip: [(String, [String])] = [
            (officeHost, ["addr", "add", "192.168.1.10/24", "dev", "oh0"]),
            (officeHost, ["link", "set", "oh0", "up"]),
            (officeHost, ["route", "add", "default", "via", "192.168.1.1"]),
            (officeGateway, ["addr", "add", "192.168.1.1/24", "dev", "lan0"]),
            (officeGateway, ["link", "set", "lan0", "up"]),
            (officeGateway, ["addr", "add", "198.51.100.10/24", "dev", "wan0"]),
            (officeGateway, ["link", "set", "wan0", "up"]),
            (officeGateway, ["route", "add", "203.0.113.0/24", "dev", "wan0"]),
            (cloudGateway, ["addr", "add", "203.0.113.20/24", "dev", "wan0"]),
            (cloudGateway, ["link", "set", "wan0", "up"]),
            (cloudGateway, ["route", "add", "198.51.100.0/24", "dev", "wan0"]),
            (cloudGateway, ["addr", "add", "10.0.1.1/24", "dev", "lan0"]),
            (cloudGateway, ["link", "set", "lan0", "up"]),
            (vm, ["addr", "add", "10.0.1.4/24", "dev", "vm0"]),
            (vm, ["link", "set", "vm0", "up"]),
            (vm, ["route", "add", "default", "via", "10.0.1.1"]),
        ]
        for (namespace, arguments) in ip { steps.append((namespace, ["ip"] + arguments)) }
        for namespace in [officeGateway, cloudGateway] {
            steps.append(
                (
                    namespace,
                    [
                        "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                        "net.ipv4.conf.default.rp_filter=0",
                    ]
                ))
        }
        return steps
    }

}

/// What `isthmus lab up` leaves in the state directory (state.json) for `lab status` and `lab down`.
struct LabState: Codable {
    struct Gateway: Codable {
        var name: String
        var namespace: String
        var config: String
        var control: String
        var log: String
        var pid: Int32?
    }

    var prefix: String
    var namespaces: [String]
    var officeHost: String
    var gateways: [Gateway]
    var created: String

    static let fileName = "state.json"

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(self)
        data.append(0x0A)
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    static func read(from path: String) -> LabState? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(LabState.self, from: data)
    }
}

/// Runs external programs (`ip`, `ping`) without a shell, output captured, with a deadline.
enum LabCommand {
    struct Result {
        var status: Int32
        var output: String
        var succeeded: Bool { status == 0 }
    }

    /// The first existing candidate, or the bare name (then `run` reports it missing).
    static func locate(_ name: String) -> String {
        for folder in ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"] {
            let path = "\(folder)/\(name)"
            if access(path, X_OK) == 0 { return path }
        }
        return name
    }

    static let ip = locate("ip")
    static let ping = locate("ping")
    static let sysctl = locate("sysctl")

    /// Runs `executable arguments`; standard output and error together. Killed after `timeout` seconds.
    static func run(_ executable: String, _ arguments: [String], timeout: Double = 15) -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return Result(status: 127, output: "cannot run \(executable): \(error)")
        }
        let pid = process.processIdentifier
        let timer = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: timer)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        timer.cancel()
        var output = String(decoding: data, as: UTF8.self)
        if process.terminationReason == .uncaughtSignal {
            output += "\n(killed after \(Int(timeout)) s)"
            return Result(status: 128 + process.terminationStatus, output: output)
        }
        return Result(status: process.terminationStatus, output: output)
    }

    /// `ip ARGUMENTS` (namespace nil) or `ip netns exec NAMESPACE PROGRAM ARGUMENTS`.
    static func inNamespace(_ namespace: String?, _ arguments: [String], timeout: Double = 15) -> Result {
        guard let namespace else { return run(ip, arguments, timeout: timeout) }
        var program = arguments
        switch program.first {
        case "ip": program[0] = ip
        case "ping": program[0] = ping
        case "sysctl": program[0] = sysctl
        default: break
        }
        return run(ip, ["netns", "exec", namespace] + program, timeout: timeout)
    }

    /// Names from `ip netns list` (`NAME (id: N)` or `NAME`).
    static func namespaces() -> [String] {
        let result = run(ip, ["netns", "list"])
        guard result.succeeded else { return [] }
        return result.output.split(separator: "\n").compactMap { line in
            line.split(separator: " ").first.map(String.init)
        }
    }
}
