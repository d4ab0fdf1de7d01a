import Foundation
import XCTest

@testable import IsthmusDaemon

/// `GatewayDaemon.events()`, the dashboard's in-process follower: every event after subscribing, in order,
/// bounded for a reader that does not read, finished at shutdown (on the control server tests' daemon).
extension ControlServerTests {
    func testEventSubscriberGetsEachNewEventInOrderAndTheStreamEndsAtShutdown() async throws {
        let harness = try await makeHarness()
        try harness.emit([("peer", "before")])
        let stream = harness.daemon.events()
        // The subscription is registered on the event loop: a status answer comes after it.
        _ = try harness.status()
        try harness.emit([("peer", "one"), ("peer", "two")])
        var iterator = stream.makeAsyncIterator()
        var messages: [String] = []
        while messages.count < 2, let record = await iterator.next() {
            if record.kind == "retransmit" { messages.append(record.message) }
        }
        XCTAssertEqual(messages, ["one", "two"])
        let subscribed = try await harness.onLoop { $0.subscriptions.count }
        XCTAssertEqual(subscribed, 1)
        try await harness.stop()
        while await iterator.next() != nil {}
    }

    func testEventSubscriberThatDoesNotReadKeepsOnlyTheNewest() async throws {
        let harness = try await makeHarness()
        let stream = harness.daemon.events(bufferingNewest: 2)
        _ = try harness.status()
        try harness.emit((1...20).map { ("peer", "event \($0)") })
        _ = try harness.status()
        var iterator = stream.makeAsyncIterator()
        let first = await iterator.next()
        let second = await iterator.next()
        XCTAssertNotEqual(first?.message, "event 1", "the oldest gave way")
        XCTAssertNotNil(second)
        try await harness.stop()
    }

    func testCancelledEventSubscriberIsForgotten() async throws {
        let harness = try await makeHarness()
        let task = Task {
            for await _ in harness.daemon.events() {}
        }
        _ = try harness.status()
        try await Task.sleep(for: .milliseconds(50))
        let subscribed = try await harness.onLoop { $0.subscriptions.count }
        XCTAssertEqual(subscribed, 1)
        task.cancel()
        var remaining = 1
        for _ in 0..<50 where remaining > 0 {
            try await Task.sleep(for: .milliseconds(20))
            remaining = try await harness.onLoop { $0.subscriptions.count }
        }
        XCTAssertEqual(remaining, 0)
        try await harness.stop()
    }
}
