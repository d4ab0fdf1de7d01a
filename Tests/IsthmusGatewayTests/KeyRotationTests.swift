import Foundation
import IsthmusTestSupport
import XCTest

@testable import IsthmusGateway

/// New keys (`SharedKeyGenerator`), atomic key file replacement (`AtomicFile`, `KeyFile`) and what the
/// loader remembers about a key file.
final class KeyRotationTests: XCTestCase {
    /// Decodes a base-62 key back to its 32 bytes (the inverse of the generator's encoding).
    func decode(_ key: [UInt8]) -> [UInt8] {
        var number = [UInt8](repeating: 0, count: SharedKeyGenerator.keyBytes)
        for character in key {
            var carry = SharedKeyGenerator.alphabet.firstIndex(of: character)!
            for index in number.indices.reversed() {
                let value = Int(number[index]) * 62 + carry
                number[index] = UInt8(value & 0xFF)
                carry = value >> 8
            }
            XCTAssertEqual(carry, 0, "overflow: not a 256-bit number")
        }
        return number
    }

    // MARK: - Generator

    func testKeysAre43LettersAndDigitsCarryingAll256Bits() {
        var generator = SplitMix64(seed: 42)
        var seen = Set<[UInt8]>()
        for _ in 0..<200 {
            var copy = generator
            let key = SharedKeyGenerator.generate(using: &generator)
            XCTAssertEqual(key.count, 43)
            XCTAssertTrue(key.allSatisfy { SharedKeyGenerator.alphabet.contains($0) })
            // The same 32 bytes the generator drew, recovered from the text: nothing was lost.
            var bytes = [UInt8](repeating: 0, count: 32)
            for index in bytes.indices { bytes[index] = UInt8.random(in: .min ... .max, using: &copy) }
            XCTAssertEqual(decode(key), bytes)
            seen.insert(key)
        }
        XCTAssertEqual(seen.count, 200)
    }

    func testEncodingEdges() {
        XCTAssertEqual(
            String(decoding: SharedKeyGenerator.encode([UInt8](repeating: 0, count: 32)), as: UTF8.self),
            String(repeating: "0", count: 43))
        let top = SharedKeyGenerator.encode([UInt8](repeating: 0xFF, count: 32))
        XCTAssertEqual(top.count, 43, "2^256 - 1 needs exactly 43 base-62 digits")
        XCTAssertEqual(decode(top), [UInt8](repeating: 0xFF, count: 32))
        XCTAssertEqual(String(decoding: SharedKeyGenerator.encode([0, 61]), as: UTF8.self).suffix(1), "z")
    }

    func testTheSystemGeneratorGivesDifferentValidKeys() {
        let a = SharedKeyGenerator.generate()
        let b = SharedKeyGenerator.generate()
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(a.count, SharedKeyGenerator.keyCharacters)
    }

    // MARK: - Atomic replacement

    func testReplaceWritesMode0600WhateverTheUmask() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("office.key", "old-key-old-key-old-key\n", mode: 0o644)
        let saved = umask(0)
        defer { umask(saved) }
        try KeyFile.writeAtomically(Array("NEWKEY0123456789NEWKEY".utf8), to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "NEWKEY0123456789NEWKEY\n")
        XCTAssertEqual(KeyFile.info(path: path)?.mode, 0o600)
        let created = "\(folder.path)/new.key"
        try KeyFile.writeAtomically(Array("created-key-0123456789".utf8), to: created)
        XCTAssertEqual(KeyFile.info(path: created)?.mode, 0o600)
        XCTAssertEqual(try leftovers(folder), [])
    }

    /// Any failure before the rename: the old file keeps its content, mode and inode; no temporary file
    /// is left; the error names the step and never contains the new key.
    func testTheOldFileIsIntactWhenAnyStepBeforeTheRenameFails() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("office.key", "old-key-old-key-old-key\n", mode: 0o640)
        let before = try FileManager.default.attributesOfItem(atPath: path)
        let newKey = Array("SECRETNEWKEYSECRETNEWKEY".utf8)
        for step in [AtomicFile.Step.createTemporary, .write, .sync, .rename] {
            XCTAssertThrowsError(try AtomicFile.replace(path, with: newKey, failing: step)) { error in
                let failure = error as? AtomicFileError
                XCTAssertEqual(failure?.step, step)
                XCTAssertEqual(failure?.oldFileIntact, true)
                XCTAssertFalse("\(error)".contains("SECRETNEWKEY"), "\(error)")
                XCTAssertTrue("\(error)".contains("was not changed"), "\(error)")
            }
            XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "old-key-old-key-old-key\n", "\(step)")
            let after = try FileManager.default.attributesOfItem(atPath: path)
            XCTAssertEqual(after[.systemFileNumber] as? Int, before[.systemFileNumber] as? Int, "\(step)")
            XCTAssertEqual(after[.posixPermissions] as? Int, 0o640, "\(step)")
            XCTAssertEqual(try leftovers(folder), [], "\(step)")
        }
    }

    func testAFailedFolderFlushReportsThatTheNewFileIsInPlace() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("office.key", "old\n")
        XCTAssertThrowsError(try AtomicFile.replace(path, with: Array("new\n".utf8), failing: .syncDirectory)) {
            XCTAssertEqual(($0 as? AtomicFileError)?.oldFileIntact, false)
            XCTAssertTrue("\($0)".contains("the new file is in place"))
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "new\n")
    }

    func testAReaderSeesTheOldOrTheNewKeyNeverAMix() throws {
        let folder = try TemporaryFolder()
        let old = String(repeating: "a", count: 43)
        let path = try folder.write("office.key", old + "\n")
        let new = String(repeating: "b", count: 43)
        let done = expectation(description: "reader")
        let box = Box()
        DispatchQueue.global().async {
            while !box.stop {
                let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "missing"
                if text != old + "\n" && text != new + "\n" { box.bad.append(text) }
            }
            done.fulfill()
        }
        for round in 0..<200 {
            try KeyFile.writeAtomically(Array((round % 2 == 0 ? new : old).utf8), to: path)
        }
        box.stop = true
        wait(for: [done], timeout: 10)
        XCTAssertEqual(box.bad, [])
    }

    final class Box: @unchecked Sendable {
        var stop = false
        var bad: [String] = []
    }

    func testASymbolicLinkIsFollowedAndKept() throws {
        let folder = try TemporaryFolder()
        try FileManager.default.createDirectory(atPath: folder.path + "/keys", withIntermediateDirectories: true)
        let target = try folder.write("keys/real.key", "old\n")
        let link = folder.path + "/office.key"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        try KeyFile.writeAtomically(Array("new-key".utf8), to: link)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link), target)
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "new-key\n")
    }

    // MARK: - What the loader remembers

    func testTheLoaderRecordsTheKeyFilesPathAndModificationTime() throws {
        let folder = try TemporaryFolder()
        try folder.write("office.key", "a-long-enough-key-0123456789\n")
        let config = try folder.write(
            "cloud.yaml",
            validCloud.replacingOccurrences(of: "shared_key: 0123456789abcdef0123", with: "shared_key: file:office.key")
        )
        let result = ConfigLoader.load(path: config)
        let key = try XCTUnwrap(result.config?.connections.first?.sharedKey)
        XCTAssertEqual(key.source, .file("office.key"))
        XCTAssertEqual(key.origin?.path, folder.path + "/office.key")
        XCTAssertEqual(key.origin?.modified, KeyFile.info(path: folder.path + "/office.key")?.modified)
        XCTAssertEqual(result.positions["connections[0].shared_key"], SourceLocation(line: 19, column: 17))
        // An inline key has no file.
        let inline = ConfigLoader.load(bytes: Array(validCloud.utf8), file: "c.yaml", baseDirectory: "/")
        XCTAssertNil(inline.config?.connections.first?.sharedKey.origin)
    }

    private func leftovers(_ folder: TemporaryFolder) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".tmp") }
    }
}
