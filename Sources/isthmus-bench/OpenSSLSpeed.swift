import Foundation

/// Runs `openssl speed -evp` as a reference for the AEAD numbers.
enum OpenSSLSpeed {
    /// The `openssl` executable on `PATH`, or `nil` when there is none.
    static func locate() -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent("openssl")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// The `openssl version` line, for the report.
    static func version(_ executable: URL) -> String? {
        guard let output = try? run(executable, ["version"]) else { return nil }
        return output.split(separator: "\n").first.map(String.init)
    }

    /// Encrypt throughput of `cipher` (an `openssl speed -evp` name) on `size`-byte blocks, in MB/s
    /// (10^6 bytes per second).
    ///
    /// Plain `-evp` streams `EVP_EncryptUpdate` calls over one context (no per-block IV, AAD or tag);
    /// with `aead` set, `-aead` adds what a packet costs: a new IV, 13 bytes of AAD, final and tag per block.
    static func megabytesPerSecond(
        _ executable: URL, cipher: String, size: Int, seconds: Int, aead: Bool = false
    ) throws -> Double {
        let arguments = ["speed"] + (aead ? ["-aead"] : []) + ["-evp", cipher, "-bytes", String(size)]
        let output = try run(executable, arguments + ["-seconds", String(seconds)])
        guard let value = parse(output) else {
            let command = arguments.joined(separator: " ")
            throw OpenSSLSpeedError(message: "could not parse `openssl \(command)` output:\n\(output)")
        }
        return value
    }

    /// Reads the figure below the `type ... N bytes` header. `openssl speed` reports 1000s of bytes
    /// per second with a `k` suffix (e.g. `AES-256-GCM    1165486.88k`), so MB/s is that over 1000.
    static func parse(_ output: String) -> Double? {
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let header = lines.lastIndex(where: { $0.hasPrefix("type") }), header + 1 < lines.count,
            let last = lines[header + 1].split(separator: " ").last, last.hasSuffix("k"),
            let thousands = Double(last.dropLast())
        else {
            return nil
        }
        return thousands / 1000
    }

    private static func run(_ executable: URL, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw OpenSSLSpeedError(
                message: "openssl \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// `openssl` ran but did not give a usable number.
struct OpenSSLSpeedError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
