import Foundation
import IsthmusEvents
import Logging
import Synchronization
import XCTest

@testable import IsthmusDaemon

final class EventLogTests: XCTestCase {
    func record(_ index: Int) -> EventRecord {
        EventRecord(GatewayEvent(time: .seconds(index), connection: "c\(index)", kind: .retransmit, message: "m"))
    }

    func testRingKeepsTheNewestInOrder() {
        var ring = EventRing(capacity: 3)
        for index in 1...5 { ring.append(record(index)) }
        XCTAssertEqual(ring.count, 3)
        XCTAssertEqual(ring.records.map(\.connection), ["c3", "c4", "c5"])
        var small = EventRing(capacity: 0)
        small.append(record(1))
        XCTAssertEqual(small.records.count, 1, "capacity is at least one")
    }

    func testEventRecordLineMatchesTheEventDescription() {
        let event = GatewayEvent(
            time: .milliseconds(2500), connection: "office", saIDs: ["ike 7a17/044c", "esp 0x520462f0"],
            kind: .childSAInstalled, severity: .notice, message: "installed", details: ["esp": "aes256gcm16"])
        let record = EventRecord(event)
        XCTAssertEqual(record.line, event.description)
        XCTAssertEqual(record.uptimeSeconds, 2.5)
        XCTAssertEqual(record.severity, "notice")
    }

    func testJSONLogLinesAreOneObjectEach() throws {
        let lines = Mutex<[String]>([])
        var logger = Logger(label: "isthmus.test") { label in
            JSONLogHandler(label: label) { line in lines.withLock { $0.append(line) } }
        }
        logger.logLevel = .info
        logger.log(
            GatewayEvent(
                time: .zero, connection: "peer", saIDs: ["ike 1/2"], kind: .proposalMismatch, severity: .warning,
                message: "no proposal \"chosen\"\nat all", details: ["offered": "aes128"]))
        let written = lines.withLock { $0 }
        XCTAssertEqual(written.count, 1)
        let line = try XCTUnwrap(written.first)
        XCTAssertTrue(line.hasSuffix("}\n"))
        XCTAssertEqual(line.filter { $0 == "\n" }.count, 1, "one line per event")
        let object = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(object["level"] as? String, "warning")
        XCTAssertEqual(object["message"] as? String, "peer [ike 1/2] proposal-mismatch: no proposal \"chosen\"\nat all")
        XCTAssertEqual(object["kind"] as? String, "proposal-mismatch")
        XCTAssertEqual(object["sa_ids"] as? [String], ["ike 1/2"])
        XCTAssertEqual((object["details"] as? [String: String])?["offered"], "aes128")
    }

    func testControlMessagesRoundTrip() throws {
        let request = ControlRequest(command: "up", connection: "peer")
        XCTAssertEqual(
            String(decoding: ControlCodec.encode(request), as: UTF8.self), #"{"command":"up","connection":"peer"}"#)
        XCTAssertEqual(
            ControlCodec.decode(ControlRequest.self, from: Array(#"{"command":"status"}"#.utf8))?.command,
            "status")
        XCTAssertNil(ControlCodec.decode(ControlRequest.self, from: Array("[1,2".utf8)))
        XCTAssertNil(ControlCodec.decode(ControlRequest.self, from: Array(#"{"connection":"x"}"#.utf8)))
        let failure = String(decoding: ControlCodec.encode(ControlResponse.failure("nope")), as: UTF8.self)
        XCTAssertEqual(failure, #"{"error":"nope","ok":false}"#)
    }
}
