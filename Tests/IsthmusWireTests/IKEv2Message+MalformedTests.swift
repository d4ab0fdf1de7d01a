import XCTest

@testable import IsthmusWire

/// Malformed IKEv2 input: truncations, lengths, versions and limits, the SA payload's proposal and
/// transform framing, and the checks of the other payloads. The vectors (`ikeSAInitRequest`,
/// `everyPayload`) are in IKEv2MessageTests.swift.
extension IKEv2MessageTests {
    // MARK: Malformed input

    func testUnknownCriticalPayloadCarriesType() {
        let bytes = withFixedLength(
            [UInt8](hex: "0000000000000001 0000000000000002 29 20 25 08 00000002 00000000")
                + [UInt8](hex: "c8 00 0008 00 00 4000")  // notify, next = 200
                + [UInt8](hex: "00 80 0007 010203")
        )  // type 200, critical
        let error = assertWireError(.unsupportedCriticalPayload) { try IKEv2Message.parse(bytes) }
        XCTAssertEqual(error?.value, 200)
        XCTAssertEqual(error?.offset, 36)
    }

    func testCriticalBitOnKnownPayloadIsIgnored() throws {
        var bytes = Self.ikeSAInitRequest
        bytes[28 + 1] = 0x80
        let message = try IKEv2Message.parse(bytes)
        XCTAssertEqual(message.payloads.count, 7)
    }

    func testEveryTruncationThrows() {
        let bytes = Self.ikeSAInitRequest
        for length in 0..<bytes.count {
            let prefix = Array(bytes.prefix(length))
            XCTAssertThrowsError(try IKEv2Message.parse(prefix), "prefix \(length)")
            // Same prefix with a consistent header length, so the payload chain parser sees it.
            XCTAssertThrowsError(try IKEv2Message.parse(withFixedLength(prefix)), "fixed prefix \(length)")
        }
        let body = Array(bytes.dropFirst(28))
        for length in 0..<body.count {
            XCTAssertThrowsError(
                try IKEv2PayloadChain.parse(body.prefix(length), firstPayloadType: .securityAssociation),
                "chain prefix \(length)"
            )
        }
    }

    func testHeaderLengthMustEqualDatagramLength() {
        var bytes = Self.ikeSAInitRequest
        bytes[27] &+= 1
        assertWireError(.lengthMismatch) { try IKEv2Message.parse(bytes) }
        bytes[27] &-= 2
        assertWireError(.lengthMismatch) { try IKEv2Message.parse(bytes) }
    }

    func testPayloadLengthTooLargeOrTooSmall() {
        var bytes = Self.ikeSAInitRequest
        // Last notify claims 15 bytes instead of 14.
        bytes[bytes.count - 11] = 0x0f
        assertWireError(.lengthMismatch) { try IKEv2Message.parse(bytes) }
        // Last notify claims 3 bytes, below the generic header.
        bytes[bytes.count - 11] = 0x03
        assertWireError(.lengthMismatch) { try IKEv2Message.parse(bytes) }
        // SA payload length larger than the whole message.
        bytes = Self.ikeSAInitRequest
        bytes[30] = 0xFF
        assertWireError(.lengthMismatch) { try IKEv2Message.parse(bytes) }
    }

    func testTrailingDataAfterLastPayload() {
        let bytes = withFixedLength(Self.ikeSAInitRequest + [0, 0, 0, 0])
        assertWireError(.trailingData) { try IKEv2Message.parse(bytes) }
    }

    func testPayloadCountLimit() throws {
        func message(vendorIDs: Int) -> [UInt8] {
            IKEv2Message(
                initiatorSPI: 1,
                responderSPI: 0,
                exchangeType: .ikeSAInit,
                flags: [.initiator],
                messageID: 0,
                payloads: Array(repeating: .vendorID(DataPayload(data: [])), count: vendorIDs)
            ).serialize()
        }
        XCTAssertEqual(try IKEv2Message.parse(message(vendorIDs: WireLimits.maximumPayloadCount)).payloads.count, 64)
        assertWireError(.tooManyPayloads) {
            try IKEv2Message.parse(message(vendorIDs: WireLimits.maximumPayloadCount + 1))
        }
    }

    func testNonceLengthBounds() throws {
        func chain(nonceLength: Int) -> [UInt8] {
            var writer = WireWriter()
            writer.writeBytes([0, 0])
            writer.writeInteger(UInt16(4 + nonceLength))
            writer.writeBytes(Array(repeating: 0x42, count: nonceLength))
            return writer.bytes
        }
        assertWireError(.invalidValue) {
            try IKEv2PayloadChain.parse(chain(nonceLength: 15)[...], firstPayloadType: .nonce)
        }
        XCTAssertNoThrow(try IKEv2PayloadChain.parse(chain(nonceLength: 16)[...], firstPayloadType: .nonce))
        XCTAssertNoThrow(try IKEv2PayloadChain.parse(chain(nonceLength: 256)[...], firstPayloadType: .nonce))
        assertWireError(.invalidValue) {
            try IKEv2PayloadChain.parse(chain(nonceLength: 257)[...], firstPayloadType: .nonce)
        }
        assertWireError(.invalidValue) {
            try IKEv2PayloadChain.parse(chain(nonceLength: 0)[...], firstPayloadType: .nonce)
        }
    }

    func testUnsupportedMajorVersion() {
        var bytes = Self.ikeSAInitRequest
        bytes[17] = 0x30
        let error = assertWireError(.unsupportedVersion) { try IKEv2Message.parse(bytes) }
        XCTAssertEqual(error?.value, 3)
        // IKEv1 on the same port.
        bytes[17] = 0x10
        assertWireError(.unsupportedVersion) { try IKEv2Message.parse(bytes) }
    }

    func testMinorVersionIsKept() throws {
        var bytes = Self.ikeSAInitRequest
        bytes[17] = 0x21
        let message = try IKEv2Message.parse(bytes)
        XCTAssertEqual(message.minorVersion, 1)
        XCTAssertEqual(message.serialize(), bytes)
    }

    func testOversizedDatagramRejected() {
        let big = withFixedLength(
            [UInt8](hex: "0000000000000001 0000000000000000 00 20 22 08 00000000 00000000")
                + Array(repeating: 0, count: WireLimits.maximumMessageLength)
        )
        assertWireError(.lengthMismatch) { try IKEv2Message.parse(big) }
    }

    // MARK: SA framing

    private func saChain(_ body: String) -> [UInt8] {
        let bodyBytes = [UInt8](hex: body)
        var writer = WireWriter()
        writer.writeBytes([0, 0])
        writer.writeInteger(UInt16(4 + bodyBytes.count))
        writer.writeBytes(bodyBytes)
        return writer.bytes
    }

    func testProposalFlagsAndCounts() throws {
        // Valid: one proposal, one transform.
        XCTAssertNoThrow(
            try IKEv2PayloadChain.parse(
                saChain("00 00 0010 01 03 00 01 00 00 0008 01 00 0014")[...],
                firstPayloadType: .securityAssociation
            )
        )
        // Proposal says "more" (2) but nothing follows.
        assertWireError(.invalidValue) {
            try IKEv2PayloadChain.parse(
                saChain("02 00 0010 01 03 00 01 00 00 0008 01 00 0014")[...],
                firstPayloadType: .securityAssociation
            )
        }
        // Invalid last-substructure value.
        assertWireError(.invalidValue) {
            try IKEv2PayloadChain.parse(
                saChain("05 00 0010 01 03 00 01 00 00 0008 01 00 0014")[...],
                firstPayloadType: .securityAssociation
            )
        }
        // Transform says "more" (3) but the count is 1.
        assertWireError(.invalidValue) {
            try IKEv2PayloadChain.parse(
                saChain("00 00 0010 01 03 00 01 03 00 0008 01 00 0014")[...],
                firstPayloadType: .securityAssociation
            )
        }
        // Count says 2 transforms but only one is present.
        assertWireError(.truncated) {
            try IKEv2PayloadChain.parse(
                saChain("00 00 0010 01 03 00 02 03 00 0008 01 00 0014")[...],
                firstPayloadType: .securityAssociation
            )
        }
        // Proposal length shorter than its transforms.
        assertWireError(.lengthMismatch) {
            try IKEv2PayloadChain.parse(
                saChain("00 00 000c 01 03 00 01 00 00 0008 01 00 0014")[...],
                firstPayloadType: .securityAssociation
            )
        }
        // Transform length of zero.
        assertWireError(.lengthMismatch) {
            try IKEv2PayloadChain.parse(
                saChain("00 00 0010 01 03 00 01 00 00 0000 01 00 0014")[...],
                firstPayloadType: .securityAssociation
            )
        }
        // Empty SA payload.
        assertWireError(.invalidValue) {
            try IKEv2PayloadChain.parse(saChain("")[...], firstPayloadType: .securityAssociation)
        }
        // SPI size larger than the limit.
        assertWireError(.invalidValue) {
            try IKEv2PayloadChain.parse(
                saChain("00 00 0010 01 03 ff 01 00 00 0008 01 00 0014")[...],
                firstPayloadType: .securityAssociation
            )
        }
    }

    func testProposalCountLimit() {
        let proposal = IKEv2Proposal(number: 1, protocolID: .esp, spi: [1, 2, 3, 4], transforms: [])
        let sa = IKEv2SecurityAssociationPayload(
            proposals: Array(repeating: proposal, count: WireLimits.maximumProposalCount + 1)
        )
        let chain = IKEv2PayloadChain.serialize([.securityAssociation(sa)])
        assertWireError(.limitExceeded) {
            try IKEv2PayloadChain.parse(chain[...], firstPayloadType: .securityAssociation)
        }
    }

    func testTransformAttributeLoopIsBounded() {
        let attributes = Array(repeating: DataAttribute.keyLength(128), count: WireLimits.maximumAttributeCount + 1)
        let sa = IKEv2SecurityAssociationPayload(proposals: [
            IKEv2Proposal(
                number: 1,
                protocolID: .ike,
                transforms: [
                    IKEv2Transform(type: .encryption, id: 12, attributes: attributes)
                ]
            )
        ])
        let chain = IKEv2PayloadChain.serialize([.securityAssociation(sa)])
        assertWireError(.limitExceeded) {
            try IKEv2PayloadChain.parse(chain[...], firstPayloadType: .securityAssociation)
        }
    }

    // MARK: Other payload checks

    func testDeleteSPICountMustMatchLength() {
        // ESP delete claiming 3 SPIs with 8 bytes present.
        let chain = [UInt8](hex: "00 00 0010 03 04 0003 01020304 05060708")
        assertWireError(.lengthMismatch) { try IKEv2PayloadChain.parse(chain[...], firstPayloadType: .delete) }
        // SPI size 0 with a non-zero count.
        let zero = [UInt8](hex: "00 00 0008 03 00 0005")
        assertWireError(.invalidValue) { try IKEv2PayloadChain.parse(zero[...], firstPayloadType: .delete) }
    }

    func testTrafficSelectorChecks() {
        // IPv4 selector with IPv6 length.
        let wrongLength = [UInt8](hex: "00 00 0018 01 000000 07 00 0028 0000 ffff 0a000000 0a0000ff")
        assertWireError(.lengthMismatch) {
            try IKEv2PayloadChain.parse(wrongLength[...], firstPayloadType: .trafficSelectorInitiator)
        }
        // Unknown TS type.
        let unknown = [UInt8](hex: "00 00 0018 01 000000 09 00 0010 0000 ffff 0a000000 0a0000ff")
        assertWireError(.invalidValue) {
            try IKEv2PayloadChain.parse(unknown[...], firstPayloadType: .trafficSelectorInitiator)
        }
        // Count says 2, one present.
        let short = [UInt8](hex: "00 00 0018 02 000000 07 00 0010 0000 ffff 0a000000 0a0000ff")
        assertWireError(.truncated) {
            try IKEv2PayloadChain.parse(short[...], firstPayloadType: .trafficSelectorInitiator)
        }
        // Extra bytes after the selectors.
        let extra = [UInt8](hex: "00 00 0019 01 000000 07 00 0010 0000 ffff 0a000000 0a0000ff 00")
        assertWireError(.trailingData) {
            try IKEv2PayloadChain.parse(extra[...], firstPayloadType: .trafficSelectorInitiator)
        }
    }

    func testIdentificationAddressLength() {
        let chain = [UInt8](hex: "00 00 000b 01 000000 c00002")
        assertWireError(.lengthMismatch) {
            try IKEv2PayloadChain.parse(chain[...], firstPayloadType: .identificationInitiator)
        }
    }

    func testNotifySPISizeBeyondPayload() {
        let chain = [UInt8](hex: "00 00 000a 03 04 4009 0102")
        assertWireError(.truncated) { try IKEv2PayloadChain.parse(chain[...], firstPayloadType: .notify) }
    }

    func testNotifyTypeConstants() {
        XCTAssertEqual(IKEv2NotifyType.unsupportedCriticalPayload.rawValue, 1)
        XCTAssertEqual(IKEv2NotifyType.invalidKEPayload.rawValue, 17)
        XCTAssertEqual(IKEv2NotifyType.natDetectionDestinationIP.rawValue, 16389)
        XCTAssertEqual(IKEv2NotifyType.cookie.rawValue, 16390)
        XCTAssertTrue(IKEv2NotifyType.authenticationFailed.isError)
        XCTAssertFalse(IKEv2NotifyType.initialContact.isError)
    }
}
