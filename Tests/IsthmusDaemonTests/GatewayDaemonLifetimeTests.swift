import Foundation
import IsthmusCrypto
import IsthmusEvents
import IsthmusESP
import IsthmusIKEv2
import IsthmusIP
import NIOPosix
import Synchronization
import XCTest

@testable import IsthmusDaemon

/// The data plane's lifetime events reach the IKE SA that negotiated the CHILD SA: a soft limit (bytes,
/// packets, time) asks it to rekey now, a hard one to delete; unknown SPIs are ignored.
extension GatewayDaemonTests {
    private func parameters(inbound: UInt32) throws -> ESPSecurityAssociation {
        let any = [TrafficSelector(prefix: IPPrefix(masking: try IPAddress(parsing: "0.0.0.0"), length: 0))]
        return ESPSecurityAssociation(
            inboundSPI: inbound, outboundSPI: inbound + 1,
            encryption: try XCTUnwrap(AlgorithmRegistry.algorithm(keyword: "aes128gcm16")), integrity: nil,
            extendedSequenceNumbers: false, inboundEncryptionKey: SecretBytes(Array(repeating: 1, count: 20)),
            inboundIntegrityKey: SecretBytes([]), outboundEncryptionKey: SecretBytes(Array(repeating: 2, count: 20)),
            outboundIntegrityKey: SecretBytes([]), localSelectors: any, remoteSelectors: any,
            tunnel: ESPTunnel(
                local: endpoint("127.0.0.1", 4500), remote: endpoint("127.0.0.2", 4500), udpEncapsulated: true),
            softLifetime: ESPLifetime(time: .seconds(3000), bytes: 900_000),
            hardLifetime: ESPLifetime(time: .seconds(3600), bytes: 1_000_000), connection: "peer")
    }

    private func event(_ kind: ESPLifetimeEvent.Kind, _ spi: UInt32) -> ESPLifetimeEvent {
        ESPLifetimeEvent(
            kind: kind, trigger: .bytes, inboundSPI: spi, outboundSPI: spi + 1, connection: "peer", time: .seconds(5))
    }

    func testDataplaneLifetimeLimitsGoToTheOwningSession() async throws {
        let child = try parameters(inbound: 0xC0FF_EE00)
        let made = Mutex<FakeSession?>(nil)
        let harness = try makeHarness(
            initiateOnStart: true,
            makeInitiator: { name in
                let session = FakeSession(connection: name, spi: 0x7100) { _, input, _ in
                    if case .initiate = input { return [.childSA(.install(child))] }
                    return []
                }
                made.withLock { $0 = session }
                return session
            })
        _ = try await harness.daemon.start().get()
        let session = try XCTUnwrap(made.withLock { $0 })
        let daemon = harness.daemon
        let soft = event(.soft, 0xC0FF_EE00)
        let hard = event(.hard, 0xC0FF_EE00)
        let stranger = event(.soft, 0x1234_5678)
        try await daemon.eventLoop.submit {
            daemon.state.value.espLifetimeReached(soft)
            daemon.state.value.espLifetimeReached(stranger)
            daemon.state.value.espLifetimeReached(hard)
        }.get()
        // (The timers compared by value: their printed form names the module that declares IKETimer.)
        let inputs = session.inputs
        XCTAssertEqual(inputs.count, 3)
        guard inputs.count == 3, case .initiate = inputs[0], case .timer(let first) = inputs[1],
            case .timer(let second) = inputs[2]
        else { return XCTFail("expected initiate, then two timers: \(inputs)") }
        XCTAssertEqual(first, .rekeyChildSA(inboundSPI: 0xC0FF_EE00))
        XCTAssertEqual(second, .expireChildSA(inboundSPI: 0xC0FF_EE00))
        let kinds = try await daemon.eventLoop.submit { daemon.state.value.events.records.map { $0.kind } }.get()
        XCTAssertTrue(kinds.contains("child-sa-soft-expired"), "\(kinds)")
        XCTAssertTrue(kinds.contains("child-sa-hard-expired"), "\(kinds)")
        try await harness.stop()
    }

    /// Two IKE SAs that picked the same inbound SPI (each core only avoids its own): the second install never
    /// reaches the data plane, the first keeps its entry, and the second IKE SA is deleted to start over.
    func testASecondInstallOfAnInboundSPIIsRefused() async throws {
        let child = try parameters(inbound: 0xC0FF_EE00)
        let handled = Mutex<[String]>([])
        let second = FakeSession(spi: 0x7300) { _, input, _ in
            switch input {
            case .datagram: [.childSA(.install(child))]
            case .terminate: [.childSA(.remove(inboundSPI: 0xC0FF_EE00)), .ikeSAClosed(restart: false)]
            default: []
            }
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let folder = try temporaryFolder()
        let daemon = GatewayDaemon(
            config: try loopbackConfig(), options: loopbackOptions(folder: folder, initiateOnStart: true), group: group,
            logger: quietLogger(),
            makeInitiator: { name in
                FakeSession(connection: name, spi: 0x7200) { _, input, _ in
                    if case .initiate = input { return [.childSA(.install(child))] }
                    return []
                }
            },
            makeResponder: { _ in second },
            childSAHandler: { change in handled.withLock { $0.append("\(change)".prefix(14).description) } })
        let ports = try await daemon.start().get()
        let client = try LoopbackUDPClient()
        client.send(ikeHeader(initiatorSPI: 0xB4, responderSPI: 0), to: ports.ike)
        for _ in 0..<100 where !second.inputs.contains(where: { if case .terminate = $0 { true } else { false } }) {
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertTrue(second.inputs.contains { if case .terminate = $0 { true } else { false } })
        XCTAssertEqual(handled.withLock { $0 }.count, 1, "only the first install reached the data plane")
        let owner = try await daemon.eventLoop.submit { daemon.state.value.childSAs[0xC0FF_EE00]?.owner.localSPI }
            .get()
        XCTAssertEqual(owner, 0x7200, "the first SA keeps its entry; the refused one's remove did not take it")
        try await daemon.shutdown().get()
        try await group.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: folder)
    }
}
