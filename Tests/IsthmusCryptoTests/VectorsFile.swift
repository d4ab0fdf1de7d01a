import Foundation
import IsthmusCrypto
import IsthmusTestSupport
import XCTest

/// One record of a vector file: `key = value` lines between blank lines.
struct VectorRecord {
    let fields: [String: String]
    let line: Int

    var name: String { fields["name"] ?? "record at line \(line)" }

    func string(_ key: String) throws -> String {
        guard let value = fields[key] else {
            throw VectorsFileError(message: "\(name): missing field \(key)")
        }
        return value
    }

    func has(_ key: String) -> Bool { !(fields[key] ?? "").isEmpty }

    func hex(_ key: String) throws -> [UInt8] {
        guard let bytes = [UInt8](hexDigits: try string(key)) else {
            throw VectorsFileError(message: "\(name): field \(key) is not hex")
        }
        return bytes
    }

    func int(_ key: String) throws -> Int {
        guard let value = Int(try string(key)) else {
            throw VectorsFileError(message: "\(name): field \(key) is not an integer")
        }
        return value
    }
}

struct VectorsFileError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Loads `Vectors/<name>` next to this source file (no SwiftPM resources needed).
enum VectorsFile {
    static func load(_ name: String, sourceFile: String = #filePath) throws -> [VectorRecord] {
        let url = URL(fileURLWithPath: sourceFile)
            .deletingLastPathComponent()
            .appendingPathComponent("Vectors")
            .appendingPathComponent(name)
        let text = try String(contentsOf: url, encoding: .utf8)
        var records: [VectorRecord] = []
        var current: [String: String] = [:]
        var start = 0
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") { continue }
            if line.isEmpty {
                if !current.isEmpty { records.append(VectorRecord(fields: current, line: start)) }
                current = [:]
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw VectorsFileError(message: "\(name):\(index + 1): expected key = value")
            }
            if current.isEmpty { start = index + 1 }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            current[key] = value
        }
        if !current.isEmpty { records.append(VectorRecord(fields: current, line: start)) }
        guard !records.isEmpty else { throw VectorsFileError(message: "\(name): no records") }
        return records
    }
}

/// Array-based helpers over the in-place packet APIs.
enum VectorsPacket {
    /// Builds IV | plaintext | zeroed ICV, seals it and returns the packet.
    static func seal(
        _ protection: any PacketProtection,
        iv: [UInt8],
        plaintext: [UInt8],
        aad: [UInt8]
    ) throws -> [UInt8] {
        var packet = iv + plaintext + [UInt8](repeating: 0, count: protection.icvLength)
        try packet.withUnsafeMutableBytes { buffer in
            try aad.withUnsafeBytes { try protection.seal(buffer, associatedData: $0) }
        }
        return packet
    }

    /// Opens `packet` in place and returns the whole buffer afterwards (even on failure, via `after`).
    static func open(
        _ protection: any PacketProtection,
        packet: inout [UInt8],
        aad: [UInt8]
    ) throws {
        try packet.withUnsafeMutableBytes { buffer in
            try aad.withUnsafeBytes { try protection.open(buffer, associatedData: $0) }
        }
    }
}
