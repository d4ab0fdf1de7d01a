import Foundation
import IsthmusCrypto
import IsthmusGateway
import IsthmusIKEv2
import IsthmusIP
import Logging
import NIOCore
import NIOPosix
import Synchronization
import XCTest

@testable import IsthmusDaemon

/// `reload`: only the difference is applied; a configuration that cannot be used changes nothing.
final class GatewayDaemonReloadTests: XCTestCase {
    /// Every initiator the daemon asked for, in order.
    final class Initiators: Sendable {
        let made = Mutex<[FakeSession]>([])
        let nextSPI = Mutex<UInt64>(0x7000)
        /// When set, `.initiate` closes the new session at once asking for a restart.
        let failInitiate = Mutex(false)

        func make(_ name: String) -> FakeSession {
            let spi = nextSPI.withLock { value -> UInt64 in
                value += 1
                return value
            }
            // Terminate closes the IKE SA at once (no peer to answer the DELETE).
            let fail = failInitiate.withLock { $0 }
            let session = FakeSession(connection: name, spi: spi) { _, input, _ in
                if case .terminate = input { return [.ikeSAClosed(restart: false)] }
                if case .initiate = input, fail { return [.ikeSAClosed(restart: true)] }
                return []
            }
            made.withLock { $0.append(session) }
            return session
        }

        func of(_ name: String) -> [FakeSession] { made.withLock { $0.filter { $0.connectionName == name } } }
    }

    struct Harness {
        let group: MultiThreadedEventLoopGroup
        let daemon: GatewayDaemon
        let folder: String
        let initiators: Initiators
        /// What the next `reload` reads.
        let next: Locked<Result<GatewayConfig, GatewayDaemon.ReloadRejected>>

        func reload() async throws -> ControlResponse {
            try await daemon.reload().get()
        }

        func status() async throws -> ControlResponse {
            try await daemon.control(ControlRequest(command: "status")).get()
        }

        func stop() async throws {
            try await daemon.shutdown().get()
            try await group.shutdownGracefully()
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    private func makeHarness(config: GatewayConfig, withReloader: Bool = true) throws -> Harness {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let folder = try temporaryFolder()
        let logger = quietLogger()
        let options = loopbackOptions(folder: folder, initiateOnStart: true)
        let initiators = Initiators()
        let next = Locked<Result<GatewayConfig, GatewayDaemon.ReloadRejected>>(.success(config))
        let reloader: GatewayDaemon.ConfigReloader = { [next, initiators] in
            next.withLock { $0 }.map { config in
                // Like `isthmus run`: initiators only for configured names.
                let names = Set(config.connections.map(\.name))
                return GatewayDaemon.Reload(
                    config: config, makeInitiator: { names.contains($0) ? initiators.make($0) : nil },
                    makeResponder: { _ in nil })
            }
        }
        let names = Set(config.connections.map(\.name))
        let daemon = GatewayDaemon(
            config: config, options: options, group: group, logger: logger,
            makeInitiator: { [initiators] in names.contains($0) ? initiators.make($0) : nil },
            makeResponder: { _ in nil }, reloader: withReloader ? reloader : nil)
        return Harness(group: group, daemon: daemon, folder: folder, initiators: initiators, next: next)
    }

    /// `loopbackConfig()` with a second connection `lab` to another remote site.
    private func twoConnectionConfig() throws -> GatewayConfig {
        var config = try loopbackConfig()
        config.localNetworks.append(
            LocalNetwork(
                name: "lab", gatewayAddress: try IPAddress(parsing: "127.0.0.3"),
                prefixes: [try IPPrefix(parsing: "10.3.0.0/16")]))
        var lab = config.connections[0]
        lab.name = "lab"
        lab.localNetwork = "lab"
        config.connections.append(lab)
        return config
    }

    private func terminated(_ session: FakeSession) -> Bool {
        session.inputs.contains { if case .terminate = $0 { true } else { false } }
    }

    /// Polls until `condition` holds or two seconds pass.
    private func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<100 where !condition() { try await Task.sleep(for: .milliseconds(20)) }
    }

    func testUnchangedAndKeyOnlyReloadsKeepTheSAs() async throws {
        let config = try twoConnectionConfig()
        let harness = try makeHarness(config: config)
        _ = try await harness.daemon.start().get()
        XCTAssertEqual(harness.initiators.made.withLock { $0.count }, 2)

        let same = try await harness.reload()
        XCTAssertTrue(same.ok, same.error ?? "")
        XCTAssertEqual(same.message, "configuration reloaded: nothing changed")
        XCTAssertEqual(same.reloaded?.map(\.change), ["unchanged", "unchanged"])

        var rekeyed = config
        rekeyed.connections[1].sharedKey = SharedKey(
            source: .inline, material: Array("another-key-of-good-length-456".utf8))
        harness.next.withLock { $0 = .success(rekeyed) }
        let key = try await harness.reload()
        XCTAssertTrue(key.ok)
        XCTAssertEqual(key.reloaded?.map(\.change), ["unchanged", "key-changed"])

        // Nobody was terminated and nothing new was initiated; the lab session got the new key.
        XCTAssertEqual(harness.initiators.made.withLock { $0.count }, 2)
        let keys = harness.initiators.of("lab")[0].inputs.compactMap { input -> [UInt8]? in
            if case .sharedKeyChanged(let key) = input { return key.withUnsafeBytes { Array($0) } }
            return nil
        }
        XCTAssertEqual(keys, [Array("another-key-of-good-length-456".utf8)])
        XCTAssertFalse(
            harness.initiators.of("peer")[0].inputs.contains { if case .sharedKeyChanged = $0 { true } else { false } })
        XCTAssertFalse(harness.initiators.made.withLock { $0 }.contains { terminated($0) })
        let events = try await harness.daemon.control(ControlRequest(command: "events", connection: "lab")).get()
        XCTAssertTrue(
            events.events?.contains { $0.kind == "config-reloaded" && $0.message.contains("new shared key") } ?? false)
        try await harness.stop()
    }

    func testChangedConnectionRestartsAndOthersStay() async throws {
        let config = try twoConnectionConfig()
        let harness = try makeHarness(config: config)
        _ = try await harness.daemon.start().get()
        var changed = config
        changed.connections[1].esp = try ProposalList(parsing: ["aes128gcm16"], for: .esp, version: .v2)
        harness.next.withLock { $0 = .success(changed) }
        let response = try await harness.reload()
        XCTAssertTrue(response.ok, response.error ?? "")
        XCTAssertEqual(response.reloaded?.map(\.change), ["unchanged", "changed"])
        XCTAssertEqual(response.reloaded?[1].fields, ["esp"])
        XCTAssertEqual(response.message, "configuration reloaded: 1 of 2 connections changed")
        try await eventually { harness.initiators.of("lab").count == 2 }
        let lab = harness.initiators.of("lab")
        XCTAssertEqual(lab.count, 2, "the changed connection is initiated again")
        XCTAssertTrue(terminated(lab[0]), "its old IKE SA is deleted")
        XCTAssertFalse(terminated(lab[1]))
        XCTAssertEqual(harness.initiators.of("peer").count, 1)
        XCTAssertFalse(terminated(harness.initiators.of("peer")[0]), "the unchanged connection is left alone")
        try await harness.stop()
    }

    func testAddedAndRemovedConnections() async throws {
        let one = try loopbackConfig()
        let two = try twoConnectionConfig()
        let harness = try makeHarness(config: one)
        _ = try await harness.daemon.start().get()
        harness.next.withLock { $0 = .success(two) }
        let added = try await harness.reload()
        XCTAssertEqual(added.reloaded?.map(\.change), ["unchanged", "added"])
        XCTAssertEqual(harness.initiators.of("lab").count, 1, "an added connection starts")
        var names = try await harness.status().connections?.map(\.name)
        XCTAssertEqual(names, ["peer", "lab"])

        harness.next.withLock { $0 = .success(one) }
        let removed = try await harness.reload()
        XCTAssertEqual(removed.reloaded?.map(\.change), ["unchanged", "removed"])
        XCTAssertTrue(terminated(harness.initiators.of("lab")[0]))
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertEqual(harness.initiators.of("lab").count, 1, "a removed connection does not start again")
        names = try await harness.status().connections?.map(\.name)
        XCTAssertEqual(names, ["peer"])
        try await harness.stop()
    }

    func testRejectedConfigurationChangesNothing() async throws {
        let config = try twoConnectionConfig()
        let harness = try makeHarness(config: config)
        _ = try await harness.daemon.start().get()
        harness.next.withLock {
            $0 = .failure(
                GatewayDaemon.ReloadRejected(
                    summary: "gw.yaml: 1 error; the new configuration was not accepted",
                    diagnostics: ["gw.yaml:12:3: error: unexpected end of file"]))
        }
        let broken = try await harness.reload()
        XCTAssertFalse(broken.ok)
        XCTAssertEqual(
            broken.error, "gw.yaml: 1 error; the new configuration was not accepted; the running configuration stays")
        XCTAssertEqual(broken.diagnostics, ["gw.yaml:12:3: error: unexpected end of file"])

        var renamed = config
        renamed.gateway.name = "another"
        renamed.connections.removeLast()
        harness.next.withLock { $0 = .success(renamed) }
        let identity = try await harness.reload()
        XCTAssertFalse(identity.ok)
        XCTAssertTrue(identity.error?.contains("gateway.name") ?? false, identity.error ?? "")

        // Both refusals left everything as it was: two connections, nobody terminated or re-initiated.
        let status = try await harness.status()
        XCTAssertEqual(status.gateway, "test-gw")
        XCTAssertEqual(status.connections?.map(\.name), ["peer", "lab"])
        XCTAssertEqual(harness.initiators.made.withLock { $0.count }, 2)
        XCTAssertFalse(harness.initiators.made.withLock { $0 }.contains { terminated($0) })
        try await harness.stop()
    }

    func testNewKeyStartsAConnectionThatIsWaitingToRetry() async throws {
        let config = try loopbackConfig()
        let harness = try makeHarness(config: config)
        // Every attempt fails at once and asks for a restart, as a failed authentication does.
        harness.initiators.failInitiate.withLock { $0 = true }
        _ = try await harness.daemon.start().get()
        XCTAssertEqual(harness.initiators.of("peer").count, 1)
        let idle = try await harness.status()
        XCTAssertEqual(idle.connections?.first?.ikeSAs.count, 0, "the failed attempt left no IKE SA")
        // The next retry is 5 s away; a new key is tried at once.
        harness.initiators.failInitiate.withLock { $0 = false }
        var rekeyed = config
        rekeyed.connections[0].sharedKey = SharedKey(source: .inline, material: Array("yet-another-good-key-789".utf8))
        harness.next.withLock { $0 = .success(rekeyed) }
        let response = try await harness.reload()
        XCTAssertEqual(response.reloaded?.map(\.change), ["key-changed"])
        XCTAssertEqual(harness.initiators.of("peer").count, 2, "initiated with the new key without waiting")
        // A connection the operator took down stays down, new key or not.
        _ = try await harness.daemon.control(ControlRequest(command: "down", connection: "peer")).get()
        harness.next.withLock { $0 = .success(config) }
        _ = try await harness.reload()
        try await Task.sleep(for: .milliseconds(100))
        XCTAssertEqual(harness.initiators.of("peer").count, 2)
        try await harness.stop()
    }

    func testReloadNeedsAConfigurationFile() async throws {
        let harness = try makeHarness(config: try loopbackConfig(), withReloader: false)
        _ = try await harness.daemon.start().get()
        let response = try await harness.reload()
        XCTAssertFalse(response.ok)
        XCTAssertEqual(
            response.error, "this gateway was started without a configuration file; reload is not available")
        try await harness.stop()
    }
}

/// A `Mutex` that can be stored in a copyable struct.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
}
