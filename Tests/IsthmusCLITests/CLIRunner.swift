import Foundation
import XCTest

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
