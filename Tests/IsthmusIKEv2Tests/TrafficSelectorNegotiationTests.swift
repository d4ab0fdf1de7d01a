import IsthmusIP
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

/// Traffic selector conversion, narrowing and the initiator's check (RFC 7296 sections 2.9 and 3.13).
final class TrafficSelectorNegotiationTests: XCTestCase {
    typealias TSN = IKEv2TrafficSelectorNegotiation

    func ts(_ prefix: String, proto: UInt8 = 0, ports: ClosedRange<UInt16> = 0...65535) throws -> TrafficSelector {
        var selector = TrafficSelector(prefix: try IPPrefix(parsing: prefix))
        selector.ipProtocol = proto
        selector.startPort = ports.lowerBound
        selector.endPort = ports.upperBound
        return selector
    }

    func range(_ start: String, _ end: String) throws -> TrafficSelector {
        TrafficSelector(startAddress: try IPAddress(parsing: start), endAddress: try IPAddress(parsing: end))
    }

    // MARK: - Wire conversion

    func testWireConversionRoundTrips() throws {
        let selectors = [
            try ts("10.0.1.0/24"), try ts("0.0.0.0/0"), try ts("192.168.1.7/32", proto: 6, ports: 443...443),
            try ts("2001:db8::/32"), try ts("::/0", proto: 17, ports: 500...4500), try range("10.0.0.5", "10.0.0.9"),
        ]
        let payload = TSN.payload(for: selectors)
        XCTAssertEqual(payload.selectors.map(\.family), [.ipv4, .ipv4, .ipv4, .ipv6, .ipv6, .ipv4])
        XCTAssertEqual(payload.selectors[0].startAddress, [10, 0, 1, 0])
        XCTAssertEqual(payload.selectors[0].endAddress, [10, 0, 1, 255])
        XCTAssertEqual(payload.selectors[2].ipProtocol, 6)
        XCTAssertEqual(payload.selectors[2].startPort, 443)
        XCTAssertEqual(payload.selectors[2].endPort, 443)
        XCTAssertEqual(payload.selectors[3].startAddress.count, 16)
        XCTAssertEqual(TSN.trafficSelectors(from: payload), selectors)

        // Through the wire codec as well.
        let message = IKEv2Message(
            initiatorSPI: 1, responderSPI: 2, exchangeType: .createChildSA, flags: .initiator, messageID: 3,
            payloads: [.trafficSelectorInitiator(payload)]
        )
        guard case .trafficSelectorInitiator(let parsed) = try IKEv2Message.parse(message.serialize()).payloads.first
        else { return XCTFail("no TSi after a round trip") }
        XCTAssertEqual(TSN.trafficSelectors(from: parsed), selectors)
    }

    func testUnrepresentableWireSelectorsAreLeftOut() throws {
        let backwards = IKEv2TrafficSelector(family: .ipv4, startAddress: [10, 0, 0, 9], endAddress: [10, 0, 0, 1])
        XCTAssertNil(TSN.trafficSelector(from: backwards))
        // OPAQUE ports (RFC 7296 section 3.13.1): start 65535, end 0.
        let opaque = IKEv2TrafficSelector(
            family: .ipv4, startPort: 65535, endPort: 0, startAddress: [10, 0, 0, 0], endAddress: [10, 0, 0, 255]
        )
        XCTAssertNil(TSN.trafficSelector(from: opaque))
        let good = IKEv2TrafficSelector(family: .ipv4, startAddress: [10, 0, 0, 0], endAddress: [10, 0, 0, 255])
        let payload = IKEv2TrafficSelectorPayload(selectors: [backwards, good, opaque])
        XCTAssertEqual(TSN.trafficSelectors(from: payload), [try ts("10.0.0.0/24")])
    }

    func testOtherTSTypesAreRefusedByTheWireCodec() {
        // TS type 10 (RFC 9478 security label) inside a TSi payload body: the parse fails, nothing traps.
        let any = TSN.payload(for: [TrafficSelector(prefix: IPPrefix(masking: IPAddress(v4: 0), length: 0))])
        var bytes = IKEv2Message(
            initiatorSPI: 1, responderSPI: 2, exchangeType: .createChildSA, flags: .initiator, messageID: 3,
            payloads: [.trafficSelectorInitiator(any)]
        ).serialize()
        // Header (28), generic payload header (4), TS count and reserved (4), then the first TS type.
        bytes[28 + 4 + 4] = 10
        XCTAssertThrowsError(try IKEv2Message.parse(bytes))
    }

    // MARK: - Responder narrowing

    func testExactMatch() throws {
        let local = [try ts("10.0.1.0/24")]
        let remote = [try ts("192.168.1.0/24")]
        let result = try XCTUnwrap(
            TSN.narrow(initiatorOffered: remote, responderOffered: local, ourLocal: local, ourRemote: remote)
        )
        XCTAssertEqual(result.initiator, remote)
        XCTAssertEqual(result.responder, local)
    }

    func testNarrowsAWiderOffer() throws {
        let result = try XCTUnwrap(
            TSN.narrow(
                initiatorOffered: [try ts("192.168.0.0/16")], responderOffered: [try ts("10.0.0.0/16")],
                ourLocal: [try ts("10.0.1.0/24")], ourRemote: [try ts("192.168.1.0/24")]
            )
        )
        XCTAssertEqual(result.initiator, [try ts("192.168.1.0/24")])
        XCTAssertEqual(result.responder, [try ts("10.0.1.0/24")])
    }

    func testNarrowsToTheOfferWhenOursIsWider() throws {
        let result = try XCTUnwrap(
            TSN.narrow(
                initiatorOffered: [try ts("192.168.1.0/24")], responderOffered: [try ts("10.0.1.0/24")],
                ourLocal: [try ts("10.0.0.0/8")], ourRemote: [try ts("0.0.0.0/0")]
            )
        )
        XCTAssertEqual(result.initiator, [try ts("192.168.1.0/24")])
        XCTAssertEqual(result.responder, [try ts("10.0.1.0/24")])
    }

    func testSeveralSubnetsPerSide() throws {
        let result = try XCTUnwrap(
            TSN.narrow(
                initiatorOffered: [try ts("192.168.1.0/24"), try ts("192.168.2.0/24"), try ts("172.16.0.0/12")],
                responderOffered: [try ts("10.0.0.0/16")],
                ourLocal: [try ts("10.0.1.0/24"), try ts("10.0.2.0/24"), try ts("10.9.0.0/16")],
                ourRemote: [try ts("192.168.0.0/16")]
            )
        )
        XCTAssertEqual(result.initiator, [try ts("192.168.1.0/24"), try ts("192.168.2.0/24")])
        XCTAssertEqual(result.responder, [try ts("10.0.1.0/24"), try ts("10.0.2.0/24")])
    }

    func testRouteBasedAnyToAny() throws {
        let any = [try ts("0.0.0.0/0")]
        let result = try XCTUnwrap(
            TSN.narrow(initiatorOffered: any, responderOffered: any, ourLocal: any, ourRemote: any))
        XCTAssertEqual(result.initiator, any)
        XCTAssertEqual(result.responder, any)
        XCTAssertEqual(TSN.describe(result.initiator), "0.0.0.0/0")
    }

    func testDisjointIsUnacceptable() throws {
        XCTAssertNil(
            TSN.narrow(
                initiatorOffered: [try ts("192.168.1.0/24")], responderOffered: [try ts("10.0.1.0/24")],
                ourLocal: [try ts("10.0.2.0/24")], ourRemote: [try ts("192.168.1.0/24")]
            )
        )
        // One side fine, the other disjoint.
        XCTAssertNil(
            TSN.narrow(
                initiatorOffered: [try ts("192.168.9.0/24")], responderOffered: [try ts("10.0.1.0/24")],
                ourLocal: [try ts("10.0.1.0/24")], ourRemote: [try ts("192.168.1.0/24")]
            )
        )
        // Sides swapped: TSi is the initiator's side, our remote.
        XCTAssertNil(
            TSN.narrow(
                initiatorOffered: [try ts("10.0.1.0/24")], responderOffered: [try ts("192.168.1.0/24")],
                ourLocal: [try ts("10.0.1.0/24")], ourRemote: [try ts("192.168.1.0/24")]
            )
        )
        XCTAssertNil(TSN.narrow(initiatorOffered: [], responderOffered: [], ourLocal: [], ourRemote: []))
    }

    func testIPv6AndMixedFamilies() throws {
        let result = try XCTUnwrap(
            TSN.narrow(
                initiatorOffered: [try ts("0.0.0.0/0"), try ts("::/0")],
                responderOffered: [try ts("0.0.0.0/0"), try ts("::/0")],
                ourLocal: [try ts("2001:db8:1::/48")], ourRemote: [try ts("2001:db8:2::/48"), try ts("10.2.0.0/16")]
            )
        )
        XCTAssertEqual(result.initiator, [try ts("10.2.0.0/16"), try ts("2001:db8:2::/48")])
        XCTAssertEqual(result.responder, [try ts("2001:db8:1::/48")])
        XCTAssertNil(
            TSN.narrow(
                initiatorOffered: [try ts("0.0.0.0/0")], responderOffered: [try ts("0.0.0.0/0")],
                ourLocal: [try ts("::/0")], ourRemote: [try ts("::/0")]
            )
        )
    }

    func testProtocolAndPortNarrowing() throws {
        let result = try XCTUnwrap(
            TSN.narrow(
                initiatorOffered: [try ts("192.168.1.0/24")],
                responderOffered: [try ts("10.0.1.0/24", ports: 1...1024)],
                ourLocal: [try ts("10.0.0.0/16", proto: 6, ports: 443...8443)],
                ourRemote: [try ts("0.0.0.0/0", proto: 6)]
            )
        )
        XCTAssertEqual(result.initiator, [try ts("192.168.1.0/24", proto: 6)])
        XCTAssertEqual(result.responder, [try ts("10.0.1.0/24", proto: 6, ports: 443...1024)])
        XCTAssertEqual(TSN.describe(result.responder), "10.0.1.0/24 proto 6 ports 443-1024")
        XCTAssertNil(
            TSN.narrow(
                initiatorOffered: [try ts("192.168.1.0/24", proto: 17)], responderOffered: [try ts("10.0.1.0/24")],
                ourLocal: [try ts("10.0.1.0/24")], ourRemote: [try ts("0.0.0.0/0", proto: 6)]
            )
        )
    }

    func testDuplicatesAndContainedResultsAreDropped() throws {
        let result = try XCTUnwrap(
            TSN.narrow(
                initiatorOffered: [try ts("192.168.1.0/24"), try ts("192.168.1.0/24")],
                responderOffered: [try ts("10.0.1.0/24"), try ts("10.0.0.0/8")],
                ourLocal: [try ts("10.0.0.0/16"), try ts("10.0.1.0/24")],
                ourRemote: [try ts("192.168.0.0/16"), try ts("192.168.1.0/24")]
            )
        )
        XCTAssertEqual(result.initiator, [try ts("192.168.1.0/24")])
        XCTAssertEqual(result.responder, [try ts("10.0.0.0/16")])
    }

    func testPacketSpecificFirstSelectorIsCovered() throws {
        // RFC 7296 section 2.9: a triggering packet's addresses come first; the narrowed result covers them.
        let result = try XCTUnwrap(
            TSN.narrow(
                initiatorOffered: [try ts("192.168.1.10/32", proto: 6, ports: 5000...5000), try ts("192.168.1.0/24")],
                responderOffered: [try ts("10.0.1.20/32", proto: 6, ports: 22...22), try ts("10.0.1.0/24")],
                ourLocal: [try ts("10.0.1.0/24")], ourRemote: [try ts("192.168.1.0/24")]
            )
        )
        XCTAssertEqual(result.initiator, [try ts("192.168.1.0/24")])
        XCTAssertEqual(result.responder, [try ts("10.0.1.0/24")])
    }

    // MARK: - Initiator check

    func testInitiatorAcceptsANarrowedResult() throws {
        let offeredI = [try ts("192.168.0.0/16")]
        let offeredR = [try ts("10.0.0.0/16")]
        let narrowed = try XCTUnwrap(
            TSN.narrow(
                initiatorOffered: offeredI, responderOffered: offeredR,
                ourLocal: [try ts("10.0.1.0/24"), try ts("10.0.2.0/24")], ourRemote: [try ts("192.168.1.0/24")]
            )
        )
        XCTAssertTrue(
            TSN.accept(
                initiatorOffered: offeredI, responderOffered: offeredR, returnedInitiator: narrowed.initiator,
                returnedResponder: narrowed.responder
            )
        )
        XCTAssertTrue(
            TSN.accept(
                initiatorOffered: offeredI, responderOffered: offeredR, returnedInitiator: offeredI,
                returnedResponder: offeredR
            )
        )
    }

    func testInitiatorRejectsAWidenedResult() throws {
        let offeredI = [try ts("192.168.1.0/24")]
        let offeredR = [try ts("10.0.1.0/24", proto: 6)]
        XCTAssertFalse(
            TSN.accept(
                initiatorOffered: offeredI, responderOffered: offeredR, returnedInitiator: [try ts("192.168.0.0/16")],
                returnedResponder: offeredR
            )
        )
        // Any protocol is wider than TCP only.
        XCTAssertFalse(
            TSN.accept(
                initiatorOffered: offeredI, responderOffered: offeredR, returnedInitiator: offeredI,
                returnedResponder: [try ts("10.0.1.0/24")]
            )
        )
        // One good and one foreign selector.
        XCTAssertFalse(
            TSN.accept(
                initiatorOffered: offeredI, responderOffered: offeredR,
                returnedInitiator: offeredI + [try ts("172.16.0.0/24")], returnedResponder: offeredR
            )
        )
        // Sides swapped.
        XCTAssertFalse(
            TSN.accept(
                initiatorOffered: offeredI, responderOffered: offeredR, returnedInitiator: offeredR,
                returnedResponder: offeredI
            )
        )
        // Nothing returned.
        XCTAssertFalse(
            TSN.accept(
                initiatorOffered: offeredI, responderOffered: offeredR, returnedInitiator: [],
                returnedResponder: offeredR)
        )
    }

    func testDescribe() throws {
        XCTAssertEqual(TSN.describe([]), "(none)")
        XCTAssertEqual(
            TSN.describe([try ts("10.0.1.0/24"), try ts("2001:db8::/32", proto: 17, ports: 53...53)]),
            "10.0.1.0/24, 2001:db8::/32 proto 17 port 53"
        )
        XCTAssertEqual(TSN.describe([try range("10.0.0.5", "10.0.0.9")]), "10.0.0.5-10.0.0.9")
    }

    /// A hostile initiator: 255 port-distinct TSi against four prefixes of ours would narrow to 1,020
    /// selectors, more than a payload's one-octet count (this trapped in the payload's precondition).
    func testNarrowingIsCappedAndAlwaysFitsAPayload() throws {
        let offered = try (1...255).map { try ts("192.168.1.0/24", proto: 6, ports: UInt16($0)...UInt16($0)) }
        let ours = try ["192.168.1.0/26", "192.168.1.64/26", "192.168.1.128/26", "192.168.1.192/26"].map { try ts($0) }
        let local = [try ts("10.0.1.0/24")]
        let narrowed = try XCTUnwrap(
            TSN.narrow(initiatorOffered: offered, responderOffered: local, ourLocal: local, ourRemote: ours))
        XCTAssertEqual(narrowed.initiator.count, TSN.maximumSelectorsPerSide)
        for selector in narrowed.initiator {
            XCTAssertTrue(offered.contains { selector.isSubset(of: $0) }, "within what was offered")
            XCTAssertTrue(ours.contains { selector.isSubset(of: $0) }, "within what we allow")
        }
        XCTAssertTrue(
            TSN.accept(
                initiatorOffered: offered, responderOffered: local, returnedInitiator: narrowed.initiator,
                returnedResponder: narrowed.responder), "a narrowing the initiator accepts")
        let payload = TSN.payload(for: narrowed.initiator)
        XCTAssertEqual(payload.selectors.count, TSN.maximumSelectorsPerSide)
        let many = Array(repeating: try ts("10.0.1.0/24"), count: 300)
        XCTAssertEqual(TSN.payload(for: many).selectors.count, 255, "never more than the count octet holds")
    }
}
