import ArgumentParser
import Foundation
import IsthmusDaemon
import IsthmusGateway
import Logging

#if canImport(Glibc)
    import Glibc
#endif

// What `lab up`, `lab status` and `lab down` share: errors, the gateways' processes, the report.

struct LabError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

enum LabProcess {
    /// Alive and not a zombie.
    static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let rest = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces)
        return !rest.hasPrefix("Z") && !rest.hasPrefix("X")
    }

    /// /proc/PID/cmdline is `.../isthmus run ...`.
    static func looksLikeIsthmus(_ pid: Int32) -> Bool {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard let program = arguments.first else { return false }
        let name = program.split(separator: "/").last.map(String.init) ?? program
        return name.hasPrefix("isthmus") && arguments.dropFirst().first == "run"
    }

    /// SIGTERM, up to 5 s, then SIGKILL and up to 2 s. True once the process is gone.
    static func stop(_ pid: Int32) -> Bool {
        kill(pid, SIGTERM)
        for _ in 0..<50 {
            if !isAlive(pid) { return true }
            usleep(100_000)
        }
        kill(pid, SIGKILL)
        for _ in 0..<20 {
            if !isAlive(pid) { return true }
            usleep(100_000)
        }
        return false
    }
}

enum LabReport {
    /// An established IKE SA that carries a CHILD SA, and a CHILD SA installed.
    static func tunnelUp(_ status: ControlResponse) -> Bool {
        let established = (status.connections ?? []).contains { connection in
            connection.ikeSAs.contains { $0.state == .established && !$0.childSAs.isEmpty }
        }
        return established && !(status.childSAs ?? []).isEmpty
    }

    /// Prints both gateways' human status; false when one does not answer or has no tunnel.
    @discardableResult
    static func printStatus(_ state: LabState) -> Bool {
        var ok = true
        for gateway in state.gateways.sorted(by: { $0.name == "office" && $1.name != "office" }) {
            print(
                "=== \(gateway.name) gateway (namespace \(gateway.namespace), pid \(gateway.pid.map(String.init) ?? "?"))"
            )
            do {
                let reply = try ControlClient.send(
                    ControlRequest(command: "status"), to: gateway.control, timeoutSeconds: 5)
                print(Status.render(reply.response), terminator: "")
                if let plane = reply.response.dataplane {
                    var line =
                        "data plane on \(plane.interfaces.joined(separator: ", ")): ESP packets out \(plane.espPacketsOut) / in \(plane.espPacketsIn), "
                        + "SAs installed \(plane.installedSAs)"
                    if !plane.drops.isEmpty {
                        line +=
                            ", dropped "
                            + plane.drops.keys.sorted().map { "\($0) \(plane.drops[$0] ?? 0)" }.joined(separator: ", ")
                    }
                    print(line)
                }
                print()
                if !tunnelUp(reply.response) {
                    print("(no established IKE SA with a CHILD SA)\n")
                    ok = false
                }
            } catch {
                print("no answer: \(error)\n")
                ok = false
            }
        }
        return ok
    }

    /// `ping -c 3 10.0.1.4` from the office host; the summary lines.
    static func ping(_ state: LabState) -> (ok: Bool, summary: String) {
        let result = LabCommand.inNamespace(
            state.officeHost, ["ping", "-c", "3", "-i", "0.2", "-W", "2", "-w", "10", LabTopology.vmAddress],
            timeout: 15)
        let lines = result.output.split(separator: "\n").map(String.init)
        let summary = lines.filter { $0.contains("packets transmitted") || $0.hasPrefix("rtt") || $0.contains("---") }
        let text =
            "ping \(LabTopology.vmAddress) from the office host 192.168.1.10:\n"
            + (summary.isEmpty ? result.output.trimmed : summary.joined(separator: "\n"))
        return (result.succeeded, text)
    }

    /// The last lines of both gateways' logs, on standard error.
    static func printLogTails(_ state: LabState, lines: Int = 20) {
        for gateway in state.gateways {
            printError("--- last \(lines) lines of \(gateway.log):")
            guard let data = FileManager.default.contents(atPath: gateway.log) else {
                printError("(no log)")
                continue
            }
            let all = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            printError(all.suffix(lines + 1).joined(separator: "\n"))
        }
    }
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}

/// The copies of the example configurations the lab's gateways run when the examples folder's files are not
/// all the owner's alone (a repository's are 0644, and `run` refuses a shared key others may read): the YAML
/// and `.key` files of the folder (not its subfolders), mode 0600 in a 0700 folder of the state directory.
/// A folder whose files are all safe is run in place (`key rotate` there reaches the running gateways).
enum LabConfigCopy {
    static let folderName = "config"
    static let extensions = [".yaml", ".yml", ".key"]

    /// Whether some YAML or key file of `examples` may be read by others or belongs to another user.
    static func needed(for examples: String) -> Bool {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: examples)) ?? []
        return names.contains { name in
            extensions.contains(where: { name.hasSuffix($0) })
                && SecretFileAccess.problem(what: "", path: "\(examples)/\(name)") != nil
        }
    }

    /// Copies the files into `folder` (created); returns `folder`.
    static func copy(from examples: String, into folder: String) throws -> String {
        let files = FileManager.default
        try files.createDirectory(
            atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for name in try files.contentsOfDirectory(atPath: examples).sorted()
        where extensions.contains(where: { name.hasSuffix($0) }) {
            let source = "\(examples)/\(name)"
            var isFolder: ObjCBool = false
            guard files.fileExists(atPath: source, isDirectory: &isFolder), !isFolder.boolValue,
                let bytes = files.contents(atPath: source)
            else { continue }
            let target = "\(folder)/\(name)"
            try? files.removeItem(atPath: target)
            guard files.createFile(atPath: target, contents: bytes, attributes: [.posixPermissions: 0o600]) else {
                throw LabError("cannot write \(target)")
            }
        }
        return folder
    }

    /// Removes the copies (only files with the copied extensions) and the folder.
    static func remove(from folder: String) {
        let files = FileManager.default
        guard let names = try? files.contentsOfDirectory(atPath: folder) else { return }
        for name in names where extensions.contains(where: { name.hasSuffix($0) }) {
            try? files.removeItem(atPath: "\(folder)/\(name)")
        }
        rmdir(folder)
    }
}
