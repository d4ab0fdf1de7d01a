import Foundation
import IsthmusCrypto
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
        try Hex.decode(string(key))
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

enum Hex {
    static func decode(_ string: String) throws -> [UInt8] {
        let digits = Array(string.utf8)
        guard digits.count % 2 == 0 else { throw VectorsFileError(message: "odd-length hex") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else {
                throw VectorsFileError(message: "invalid hex digit")
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    static func encode(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    private static func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// A deterministic generator for tests (SplitMix64). Not for production use.
struct VectorsSeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { self.state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
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
