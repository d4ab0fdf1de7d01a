import IsthmusCrypto
import IsthmusEvents
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

extension IKEv2StateMachine {
    /// A CREATE_CHILD_SA request for one more CHILD SA (what a peer with several CHILD SAs sends; Isthmus
    /// itself never asks for one), sealed with this established SA's keys.
    mutating func newChildRequest(messageID: UInt32, peerSPI: UInt32? = nil) -> [UInt8]? {
        guard case .established(var sa) = state else { return nil }
        let inner: [IKEv2Payload] =
            [
                .securityAssociation(offerChild(spi: peerSPI ?? randomNonZeroSPI32(), pfs: false)),
                .nonce(IKEv2NoncePayload(nonce: randomBytes(32))),
            ]
            + trafficSelectorPayloads(initiator: configuration.localSelectors, responder: configuration.remoteSelectors)
        let bytes = seal(header(.createChildSA, messageID: messageID, response: false), inner, with: &sa.protection)
        state = .established(sa)
        return bytes?.first
    }

    /// The notifications of a protected response from the peer, opened with this SA's keys.
    func notifications(in datagram: IKEDatagram) throws -> [IKEv2NotifyType] {
        let message = try IKEv2Message.parse(datagram.bytes)
        let inner = try XCTUnwrap(currentProtection).crypto.open(datagram.bytes, message: message)
        return inner.notifies.map(\.notifyType)
    }
}

/// A hostile authenticated peer: CHILD SA flood, reused SPIs, spoofed liveness (the responder that keeps our
/// IKE_SA_INIT looping is in IKEv2CookieTests).
final class IKEv2HardeningTests: XCTestCase {
    private func pair(liveness: IKELiveness? = nil) -> Pair {
        Pair(initiator: configuration(office: true), responder: configuration(office: false, liveness: liveness))
    }

    /// A forged datagram with the IKE SA's SPIs and the next message ID fails integrity: it must not count as
    /// a sign of life (it used to, so a spoofer could keep a dead peer looking alive).
    func testOnlyAnAuthenticatedMessageHoldsOffTheLivenessCheck() throws {
        let pair = pair(liveness: IKELiveness(interval: .seconds(10), timeout: .seconds(30), action: .clear))
        pair.establish()
        var forged = try XCTUnwrap(pair.sent.last { $0.from == .initiator }?.datagram)
        forged.bytes[18] = IKEv2ExchangeType.informational.rawValue
        forged.bytes.replaceSubrange(20..<24, with: [0, 0, 0, 2])
        forged.bytes[forged.bytes.count - 1] ^= 0xFF
        pair.now = .seconds(9)
        pair.input(.responder, .datagram(forged))
        XCTAssertTrue(pair.kinds(.responder).contains(.messageDropped))
        let sentBefore = pair.sent.count
        XCTAssertEqual(pair.fireNextTimer { side, timer in side == .responder && timer == .liveness }?.1, .liveness)
        XCTAssertEqual(pair.now, .seconds(10))
        XCTAssertEqual(pair.sent.count, sentBefore + 1, "the liveness check goes out at 10 s, not at 19 s")
    }

    /// 10,000 CREATE_CHILD_SA requests from an authenticated peer: the first fill the IKE SA to its maximum,
    /// every later one is answered with NO_ADDITIONAL_SAS and installs nothing.
    func testCHILDSAFloodIsRefusedPastTheCap() throws {
        let pair = pair()
        pair.establish()
        XCTAssertEqual(pair.installed[.responder]?.count, 1)
        var refused = 0
        var answers: [IKEv2NotifyType: Int] = [:]
        for messageID in UInt32(2)..<UInt32(10_002) {
            let bytes = try XCTUnwrap(pair.initiator.machine.withLock { $0.newChildRequest(messageID: messageID) })
            let request = IKEDatagram(
                bytes: bytes, source: endpoint("198.51.100.1"), destination: endpoint("203.0.113.1"))
            let actions = pair.responder.handle(.datagram(request), now: pair.now)
            let responses = actions.compactMap { if case .send(let datagram) = $0 { datagram } else { nil } }
            let response = try XCTUnwrap(responses.first, "request \(messageID) unanswered")
            let notifies = try pair.initiator.machine.withLock { try $0.notifications(in: response) }
            for notify in notifies { answers[notify, default: 0] += 1 }
            if notifies.contains(.noAdditionalSAs) { refused += 1 }
            for action in actions {
                if case .childSA(.install(let sa)) = action { pair.installed[.responder, default: []].append(sa) }
            }
        }
        XCTAssertEqual(pair.installed[.responder]?.count, IKEv2StateMachine.maximumChildSAs)
        XCTAssertEqual(refused, 10_001 - IKEv2StateMachine.maximumChildSAs)
        XCTAssertEqual(answers.keys.sorted { $0.rawValue < $1.rawValue }, [.noAdditionalSAs])
        XCTAssertEqual(pair.responder.status(now: pair.now).childSAs.count, IKEv2StateMachine.maximumChildSAs)
        XCTAssertEqual(Set(pair.installed[.responder, default: []].map(\.inboundSPI)).count, 32, "no SPI twice")
        XCTAssertEqual(pair.responder.status(now: pair.now).state, .established, "the IKE SA stays up")
    }

    func testAPeerCannotReuseAnSPIForAnotherCHILDSA() throws {
        let pair = pair()
        pair.establish()
        let used = try XCTUnwrap(pair.installed[.responder]?.first?.outboundSPI)
        let bytes = try XCTUnwrap(
            pair.initiator.machine.withLock { $0.newChildRequest(messageID: 2, peerSPI: used) })
        let actions = pair.responder.handle(
            .datagram(
                IKEDatagram(bytes: bytes, source: endpoint("198.51.100.1"), destination: endpoint("203.0.113.1"))),
            now: pair.now)
        XCTAssertFalse(actions.contains { if case .childSA(.install) = $0 { true } else { false } })
        let response = try XCTUnwrap(actions.compactMap { if case .send(let d) = $0 { d } else { nil } }.first)
        XCTAssertEqual(try pair.initiator.machine.withLock { try $0.notifications(in: response) }, [.noProposalChosen])
    }
}
