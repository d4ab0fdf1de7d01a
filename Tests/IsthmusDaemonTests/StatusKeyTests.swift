import Foundation
import IsthmusGateway
import XCTest

@testable import IsthmusDaemon

/// What `status` says about a connection's key: where it comes from and when its file was rotated, never
/// the key itself.
final class StatusKeyTests: XCTestCase {
    func testAnInlineKeyIsNamedOnly() throws {
        var entry = ConnectionStatus(name: "c", kind: "dynamic", ikeVersion: 2, remoteAddress: nil, ikeSAs: [])
        entry.describeKey(SharedKey(source: .inline, material: Array("an-inline-secret-0123456789".utf8)))
        XCTAssertEqual(entry.sharedKey, "inline")
        XCTAssertNil(entry.keyLastRotated)
        XCTAssertNil(entry.keyChangedSinceStart)
        XCTAssertFalse(String(decoding: ControlCodec.encode(entry), as: UTF8.self).contains("inline-secret"))
    }

    func testAKeyFileReportsItsRotationTimeAndAChangeSinceStart() throws {
        let folder = NSTemporaryDirectory() + "isthmus-status-key-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/office.key"
        try "file-secret-0123456789\n".write(toFile: path, atomically: true, encoding: .utf8)
        let written = Date(timeIntervalSince1970: 1_700_000_000)
        try FileManager.default.setAttributes([.modificationDate: written], ofItemAtPath: path)
        let key = SharedKey(
            source: .file("office.key"), material: Array("file-secret-0123456789".utf8),
            origin: KeyFileOrigin(path: path, modified: 1_700_000_000))

        var entry = ConnectionStatus(name: "c", kind: "static", ikeVersion: 1, remoteAddress: nil, ikeSAs: [])
        entry.describeKey(key)
        XCTAssertEqual(entry.sharedKey, "file:office.key")
        XCTAssertEqual(entry.keyLastRotated, 1_700_000_000)
        XCTAssertEqual(entry.keyChangedSinceStart, false)
        XCTAssertFalse(String(decoding: ControlCodec.encode(entry), as: UTF8.self).contains("file-secret"))

        // `isthmus key rotate` wrote the file after the gateway read it.
        try KeyFile.writeAtomically(Array("rotated-secret-0123456789".utf8), to: path)
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSince1970: 1_700_000_600)], ofItemAtPath: path)
        entry.describeKey(key)
        XCTAssertEqual(entry.keyLastRotated, 1_700_000_600)
        XCTAssertEqual(entry.keyChangedSinceStart, true)
        XCTAssertFalse(String(decoding: ControlCodec.encode(entry), as: UTF8.self).contains("rotated-secret"))
    }

    /// A rotation within the second the gateway read the key is seen too: the file is another one.
    func testARotationWithinTheSameSecondIsSeen() throws {
        let folder = NSTemporaryDirectory() + "isthmus-status-key-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/office.key"
        try KeyFile.writeAtomically(Array("file-secret-0123456789".utf8), to: path)
        let read = try XCTUnwrap(KeyFile.info(path: path))
        let key = SharedKey(
            source: .file("office.key"), material: Array("file-secret-0123456789".utf8),
            origin: KeyFileOrigin(path: path, modified: read.modified, version: read.version))
        var entry = ConnectionStatus(name: "c", kind: "static", ikeVersion: 1, remoteAddress: nil, ikeSAs: [])
        entry.describeKey(key)
        XCTAssertEqual(entry.keyChangedSinceStart, false)
        try KeyFile.writeAtomically(Array("rotated-secret-0123456789".utf8), to: path)
        // Pin the time to the second it was read in: only the file itself differs now.
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSince1970: TimeInterval(read.modified))], ofItemAtPath: path)
        entry.describeKey(key)
        XCTAssertEqual(entry.keyLastRotated, read.modified)
        XCTAssertEqual(entry.keyChangedSinceStart, true)
    }
}
