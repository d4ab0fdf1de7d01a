import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// The repository (tests run `isthmus` from there, so `examples/...` paths work).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The `isthmus` binary `swift test` built beside the test bundle.
var isthmusBinary: URL {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("isthmus")
}

/// What one run of `isthmus` did.
struct CLIRun {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs `isthmus arguments...` in the repository as a user would and waits for it.
func runIsthmus(_ arguments: [String]) throws -> CLIRun {
    let binary = isthmusBinary
    guard FileManager.default.isExecutableFile(atPath: binary.path) else {
        XCTFail("no isthmus binary at \(binary.path): swift test should have built it")
        throw CocoaError(.fileNoSuchFile)
    }
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    process.currentDirectoryURL = repositoryRoot
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Standard error is drained on its own thread: a command that writes a lot there must not block
    // while standard output is being read.
    let errData = Locked(Data())
    let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
    reader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !reader.isFinished { usleep(1_000) }
    return CLIRun(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData.get(), as: UTF8.self))
}

/// A value handed between threads.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func set(_ new: Value) { lock.withLock { value = new } }
    func get() -> Value { lock.withLock { value } }
}

/// Starts `isthmus arguments...` in the repository; standard output and error go to `NAME.out` and
/// `NAME.err` in `folder`.
func launchIsthmus(_ arguments: [String], folder: URL, name: String) throws -> Process {
    let process = Process()
    process.executableURL = isthmusBinary
    process.arguments = arguments
    process.currentDirectoryURL = repositoryRoot
    for stream in ["out", "err"] {
        _ = FileManager.default.createFile(
            atPath: folder.appendingPathComponent("\(name).\(stream)").path, contents: nil)
    }
    process.standardOutput = try FileHandle(forWritingTo: folder.appendingPathComponent("\(name).out"))
    process.standardError = try FileHandle(forWritingTo: folder.appendingPathComponent("\(name).err"))
    try process.run()
    return process
}

/// What a launched process wrote to the file `name` of `folder` (empty when there is none).
func capturedOutput(_ folder: URL, _ name: String) -> String {
    (try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)) ?? ""
}

/// Waits for `process` to end, at most `timeout`; whether it ended.
func waitForExit(_ process: Process, timeout: Duration = .seconds(10)) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
    return !process.isRunning
}

/// A UDP port nobody uses right now on 127.0.0.1.
func freeLoopbackUDPPort() -> Int {
    let fd = socket(AF_INET, CInt(SOCK_DGRAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 ? getsockname(fd, $0, &length) : -1
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Starts `isthmus run` on the office example moved to loopback (public address 127.0.0.1; the peer's
/// address `peer` when given), IKE only, on free ports, with its control socket in `folder`: the running
/// daemon (standard output and error in `daemon.out`/`daemon.err`) and the socket's path.
func launchLoopbackOffice(folder: URL, peer: String? = nil) throws -> (daemon: Process, socket: String) {
    let office = try String(contentsOf: repositoryRoot.appendingPathComponent("examples/office.yaml"), encoding: .utf8)
    var local = office.replacingOccurrences(
        of: #"public_address: [0-9.]+"#, with: "public_address: 127.0.0.1", options: .regularExpression)
    if let peer {
        local = local.replacingOccurrences(
            of: #"gateway_address: [0-9.]+"#, with: "gateway_address: \(peer)", options: .regularExpression)
    }
    let config = folder.appendingPathComponent("office.yaml")
    try local.write(to: config, atomically: true, encoding: .utf8)
    // It holds the key inline: the owner's alone, or `run` refuses it.
    try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: config.path)
    let socket = folder.appendingPathComponent("ctl.sock").path
    let ike = freeLoopbackUDPPort()
    var nat = freeLoopbackUDPPort()
    while nat == ike { nat = freeLoopbackUDPPort() }
    let daemon = try launchIsthmus(
        ["run", config.path, "--control", socket, "--ike-port", "\(ike)", "--nat-port", "\(nat)", "--no-data-plane"],
        folder: folder, name: "daemon")
    return (daemon, socket)
}
