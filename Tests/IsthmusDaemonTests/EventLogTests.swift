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

    func testTimestampsAreUTCWithMilliseconds() {
        let cases: [(Int64, Int, String)] = [
            (0, 0, "1970-01-01T00:00:00.000Z"),
            (1_795_960_987, 123, "2026-11-29T14:03:07.123Z"),
            (1_709_251_199, 999, "2024-02-29T23:59:59.999Z"),
            (951_868_800, 7, "2000-03-01T00:00:00.007Z"),
            (-1, 50, "1969-12-31T23:59:59.050Z"),
            (4_133_937_600, 0, "2100-12-31T12:00:00.000Z"),
        ]
        for (seconds, milliseconds, text) in cases {
            XCTAssertEqual(EventRecord.timestamp(.init(seconds: seconds, milliseconds: milliseconds)), text)
        }
        let now = EventRecord.timestamp(.now())
        XCTAssertEqual(now.count, 24, now)
        XCTAssertTrue(now.hasPrefix("20") && now.hasSuffix("Z"), now)
    }

    func testLogLineShowsTimeAndNonInfoSeverity() {
        let info = EventRecord(
            GatewayEvent(
                time: .seconds(1), connection: "office-cloud", saIDs: ["ike 7a17/044c"], kind: .ikeSAEstablished,
                message: "up"),
            time: "2026-11-29T14:03:07.123Z")
        XCTAssertEqual(info.logLine, "2026-11-29T14:03:07.123Z office-cloud [ike 7a17/044c] ike-sa-established: up")
        var warning = info
        warning.severity = "warning"
        XCTAssertEqual(
            warning.logLine, "2026-11-29T14:03:07.123Z WARNING office-cloud [ike 7a17/044c] ike-sa-established: up")
        let json = String(decoding: ControlCodec.encode(info), as: UTF8.self)
        XCTAssertEqual(
            json,
            #"{"connection":"office-cloud","details":{},"kind":"ike-sa-established","message":"up","#
                + #""saIDs":["ike 7a17/044c"],"sequence":0,"severity":"info","time":"2026-11-29T14:03:07.123Z","#
                + #""uptimeSeconds":1}"#)
    }

    func testHistoryKeepsEachConnectionsOwnRing() {
        var history = EventHistory(capacity: 3)
        for index in 1...2 { history.append(named("quiet", index)) }
        history.append(named("", 0))
        for index in 1...10 { history.append(named("chatty", index)) }
        XCTAssertEqual(history.records(of: "quiet").map(\.message), ["1", "2"], "not pushed out")
        XCTAssertEqual(history.records(of: "chatty").map(\.message), ["8", "9", "10"])
        XCTAssertEqual(history.records(of: "nobody"), [])
        let all = history.records
        XCTAssertEqual(all.map(\.connection), ["quiet", "quiet", "", "chatty", "chatty", "chatty"])
        XCTAssertEqual(all.map(\.sequence), [1, 2, 3, 11, 12, 13], "merged in recording order")
    }

    func testHistoryBoundsTheNumberOfRingsAndTheMergedAnswer() {
        var history = EventHistory(capacity: 50)
        let names = EventHistory.maximumConnectionRings + 40
        for round in 0..<50 {
            for index in 0..<names { history.append(named("c\(index)", round)) }
        }
        XCTAssertEqual(history.connectionRingCount, EventHistory.maximumConnectionRings)
        XCTAssertEqual(history.records(of: "c0").count, 50)
        // Names beyond the bound share one ring of the same capacity: their newest events are still found.
        let late = history.records(of: "c\(names - 1)")
        XCTAssertEqual(late.map(\.message), ["48", "49"])
        let all = history.records
        XCTAssertEqual(all.count, EventHistory.maximumMergedRecords)
        XCTAssertEqual(all.last?.sequence, UInt64(50 * names))
        XCTAssertEqual(all.map(\.sequence), all.map(\.sequence).sorted())
    }

    func named(_ connection: String, _ index: Int) -> EventRecord {
        EventRecord(GatewayEvent(time: .seconds(index), connection: connection, kind: .retransmit, message: "\(index)"))
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
        let follow = ControlRequest(command: "logs", connection: "x", follow: true)
        XCTAssertEqual(
            String(decoding: ControlCodec.encode(follow), as: UTF8.self),
            #"{"command":"logs","connection":"x","follow":true}"#)
        XCTAssertEqual(
            String(decoding: ControlCodec.encode(FollowNotice(dropped: 3)), as: UTF8.self), #"{"dropped":3}"#)
        let failure = String(decoding: ControlCodec.encode(ControlResponse.failure("nope")), as: UTF8.self)
        XCTAssertEqual(failure, #"{"error":"nope","ok":false}"#)
    }
}
