import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

/// IKE fragmentation (RFC 7383): announced in IKE_SA_INIT, used for protected messages over the size.
final class IKEv2FragmentationTests: XCTestCase {
    private func smallFragments(_ office: Bool, _ size: Int = 200) -> IKEv2Configuration {
        var config = configuration(office: office, ike: "aes256-sha256-modp2048", esp: "aes256-sha256")
        config.fragmentSize = size
        return config
    }

    private func isFragment(_ datagram: IKEDatagram) -> Bool {
        guard let message = try? IKEv2Message.parse(datagram.bytes) else { return false }
        if case .encryptedFragment? = message.payloads.last { return true }
        return false
    }

    func testLargeMessagesAreFragmentedAndReassembled() throws {
        let pair = Pair(initiator: smallFragments(true), responder: smallFragments(false))
        pair.establish()
        XCTAssertTrue(pair.kinds(.initiator).contains(.ikeSAEstablished), "\(pair.events[.initiator]!)")
        XCTAssertTrue(pair.kinds(.responder).contains(.ikeSAEstablished), "\(pair.events[.responder]!)")
        let fragments = pair.sent.filter { isFragment($0.datagram) }
        XCTAssertGreaterThan(fragments.filter { $0.from == .initiator }.count, 1, "IKE_AUTH request fragmented")
        XCTAssertGreaterThan(fragments.filter { $0.from == .responder }.count, 1, "IKE_AUTH response fragmented")
        for fragment in fragments { XCTAssertLessThanOrEqual(fragment.datagram.bytes.count, 200) }
        XCTAssertEqual(pair.installed[.initiator]?.count, 1)
        XCTAssertEqual(pair.installed[.responder]?.count, 1)
        // Unique IVs: no two fragments share their first 16 body bytes (CBC IVs are random).
        XCTAssertEqual(Set(fragments.map { Array($0.datagram.bytes.suffix(48).prefix(16)) }).count, fragments.count)
    }

    func testWithoutAnnouncementNothingIsFragmented() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        pair.establish()
        XCTAssertFalse(pair.sent.contains { isFragment($0.datagram) }, "default size: IKE_AUTH fits")
    }

    func testLostFragmentIsRecoveredByRetransmission() throws {
        let pair = Pair(initiator: smallFragments(true), responder: smallFragments(false))
        var lost = false
        pair.deliver = { side, datagram in
            if side == .initiator, !lost, self.isFragment(datagram) {
                lost = true
                return false
            }
            return true
        }
        pair.establish()
        XCTAssertFalse(pair.kinds(.initiator).contains(.ikeSAEstablished))
        pair.fireNextTimer { side, timer in side == .initiator && timer == .retransmit(messageID: 1) }
        pair.run()
        XCTAssertTrue(pair.kinds(.initiator).contains(.ikeSAEstablished))
        XCTAssertEqual(pair.installed[.responder]?.count, 1, "one CHILD SA despite the repeated fragments")
    }

    func testGCMFragmentsUseDistinctCounterIVs() throws {
        var office = configuration(office: true)
        office.fragmentSize = 150
        var cloud = configuration(office: false)
        cloud.fragmentSize = 150
        let pair = Pair(initiator: office, responder: cloud)
        pair.establish()
        XCTAssertTrue(pair.kinds(.initiator).contains(.ikeSAEstablished))
        let fragments = pair.sent.filter { $0.from == .initiator && isFragment($0.datagram) }.map(\.datagram.bytes)
        XCTAssertGreaterThan(fragments.count, 1)
        // Header 28 + SKF header 8, then the 8-byte IV.
        let ivs = fragments.map { Array($0[36..<44]) }
        XCTAssertEqual(Set(ivs).count, ivs.count, "an AEAD IV must never repeat under one key")
    }
}
