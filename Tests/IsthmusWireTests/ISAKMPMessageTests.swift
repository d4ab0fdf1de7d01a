import XCTest

@testable import IsthmusWire

final class ISAKMPMessageTests: XCTestCase {
    /// IKEv1 Main Mode message 1 laid out by hand from RFC 2408 section 3, RFC 2407 section 4.6.1
    /// and RFC 2409 Appendix A: SA (IPsec DOI, SIT_IDENTITY_ONLY) with one ISAKMP proposal holding
    /// one KEY_IKE transform (AES-CBC 256, SHA2-256, pre-shared key, group 14, 28800 seconds), then
    /// the Vendor IDs of RFC 3947 NAT-T, draft-ietf-ipsec-nat-t-ike-02 and RFC 3706 DPD.
    static let mainModeMessage1 = [UInt8](
        hex: """
            1122334455667788 0000000000000000 01 10 02 00 00000000 00000094
            0d 00 003c 00000001 00000001
               00 00 0030 01 01 00 01
                  00 00 0028 01 01 0000
                     80010007 800e0100 80020004 80030001 8004000e 800b0001 000c0004 00007080
            0d 00 0014 4a131c81070358455c5728f20e95452f
            0d 00 0014 90cb80913ebb696e086381b5ec427b1f
            00 00 0014 afcad71368a1f1c96b8696fc77570100
            """
    )

    func testParseMainModeMessage1Vector() throws {
        let bytes = Self.mainModeMessage1
        XCTAssertEqual(bytes.count, 148)
        let message = try ISAKMPMessage.parse(bytes)
        XCTAssertEqual(message.initiatorCookie, 0x1122_3344_5566_7788)
        XCTAssertEqual(message.responderCookie, 0)
        XCTAssertEqual(message.exchangeType, .identityProtection)
        XCTAssertEqual(message.flags, [])
        guard case .payloads(let payloads) = message.body else { return XCTFail("encrypted?") }
        XCTAssertEqual(payloads.map(\.payloadType), [.securityAssociation, .vendorID, .vendorID, .vendorID])
        guard case .securityAssociation(let sa) = payloads[0] else { return XCTFail("no SA") }
        XCTAssertEqual(sa.doi, 1)
        XCTAssertEqual(sa.situation, ISAKMPSecurityAssociationPayload.situationIdentityOnly)
        XCTAssertEqual(sa.proposals.count, 1)
        XCTAssertEqual(sa.proposals[0].protocolID, .isakmp)
        let transform = sa.proposals[0].transforms[0]
        XCTAssertEqual(transform.id, ISAKMPTransform.keyIKE)
        XCTAssertEqual(transform.attributes.map(\.type), [1, 14, 2, 3, 4, 11, 12])
        XCTAssertEqual(
            transform.attributes[0],
            DataAttribute(type: ISAKMPAttributeType.Phase1.encryptionAlgorithm, value: .basic(7))
        )
        XCTAssertEqual(transform.attributes[6].value, .variable([0, 0, 0x70, 0x80]))
        guard case .vendorID(let dpd) = payloads[3] else { return XCTFail("no VID") }
        XCTAssertEqual(dpd.data, [UInt8](hex: "afcad71368a1f1c96b8696fc77570100"))
        XCTAssertEqual(message.serialize(), bytes)
    }

    func testHeaderParseDistinguishesVersions() throws {
        XCTAssertEqual(try ISAKMPHeader.parse(Self.mainModeMessage1[...]).majorVersion, 1)
        XCTAssertEqual(try ISAKMPHeader.parse(IKEv2MessageTests.ikeSAInitRequest[...]).majorVersion, 2)
        let error = assertWireError(.unsupportedVersion) { try ISAKMPMessage.parse(IKEv2MessageTests.ikeSAInitRequest) }
        XCTAssertEqual(error?.value, 2)
    }

    static let everyPayload: [ISAKMPPayload] = [
        .securityAssociation(
            ISAKMPSecurityAssociationPayload(proposals: [
                ISAKMPProposal(
                    number: 1,
                    protocolID: .esp,
                    spi: [0xDE, 0xAD, 0xBE, 0xEF],
                    transforms: [
                        ISAKMPTransform(
                            number: 1,
                            id: 12,
                            attributes: [
                                DataAttribute(type: ISAKMPAttributeType.Phase2.encapsulationMode, value: .basic(1)),
                                DataAttribute(type: ISAKMPAttributeType.Phase2.keyLength, value: .basic(256)),
                            ]
                        ),
                        ISAKMPTransform(number: 2, id: 3, attributes: []),
                    ]
                ),
                ISAKMPProposal(
                    number: 2,
                    protocolID: .esp,
                    spi: [0xDE, 0xAD, 0xBE, 0xF0],
                    transforms: [
                        ISAKMPTransform(number: 1, id: 12, attributes: [])
                    ]
                ),
            ])
        ),
        .keyExchange(ISAKMPDataPayload(data: Array(0..<128))),
        .identification(
            ISAKMPIdentificationPayload(idType: .ipv4Address, protocolID: 17, port: 500, data: [192, 0, 2, 1])
        ),
        .identification(ISAKMPIdentificationPayload(idType: .fqdn, data: Array("vpn.example.org".utf8))),
        .identification(ISAKMPIdentificationPayload(idType: .userFQDN, data: Array("ops@example.org".utf8))),
        .identification(
            ISAKMPIdentificationPayload(idType: .ipv4AddressSubnet, data: [10, 1, 0, 0, 255, 255, 0, 0])
        ),
        .identification(ISAKMPIdentificationPayload(idType: .ipv6Address, data: Array(repeating: 0x20, count: 16))),
        .identification(
            ISAKMPIdentificationPayload(idType: .ipv6AddressSubnet, data: Array(repeating: 0xFF, count: 32))
        ),
        .identification(ISAKMPIdentificationPayload(idType: .ipv4AddressRange, data: [10, 0, 0, 1, 10, 0, 0, 9])),
        .certificate(
            CertificatePayload(encoding: .x509Signature, data: [0x30, 0])
        ),
        .certificateRequest(
            CertificatePayload(encoding: .x509Signature, data: [])
        ),
        .hash(ISAKMPDataPayload(data: Array(repeating: 0x11, count: 32))),
        .signature(ISAKMPDataPayload(data: Array(repeating: 0x22, count: 64))),
        .nonce(ISAKMPNoncePayload(nonce: Array(repeating: 0x33, count: 8))),
        .notification(
            ISAKMPNotificationPayload(
                protocolID: .isakmp,
                spi: Array(0..<16),
                notifyType: .areYouThere,
                data: [0, 0, 0, 42]
            )
        ),
        .notification(
            ISAKMPNotificationPayload(
                protocolID: .esp,
                spi: [1, 2, 3, 4],
                notifyType: .responderLifetime,
                data: [UInt8](hex: "80010001 00020004 00000e10")
            )
        ),
        .notification(ISAKMPNotificationPayload(protocolID: .isakmp, notifyType: .initialContact)),
        .delete(
            ISAKMPDeletePayload(protocolID: .esp, spiSize: 4, spis: [[1, 2, 3, 4], [5, 6, 7, 8], [9, 9, 9, 9]])
        ),
        .vendorID(ISAKMPDataPayload(data: [UInt8](hex: "4a131c81070358455c5728f20e95452f"))),
        .natDiscovery(ISAKMPDataPayload(data: Array(repeating: 0x44, count: 20))),
        .natOriginalAddress(ISAKMPNATOriginalAddressPayload(idType: .ipv4Address, address: [192, 168, 1, 10])),
        .natOriginalAddress(
            ISAKMPNATOriginalAddressPayload(idType: .ipv6Address, address: Array(repeating: 0xFE, count: 16))
        ),
        .unknown(type: ISAKMPPayloadType(rawValue: 130), body: [1, 2, 3]),
    ]

    func testEveryPayloadTypeRoundTrips() throws {
        let message = ISAKMPMessage(
            initiatorCookie: 0x0102_0304_0506_0708,
            responderCookie: 0x0807_0605_0403_0201,
            exchangeType: .quickMode,
            flags: [.commit],
            messageID: 0xABCD_EF01,
            body: .payloads(Self.everyPayload)
        )
        let bytes = message.serialize()
        let parsed = try ISAKMPMessage.parse(bytes)
        XCTAssertEqual(parsed, message)
        XCTAssertEqual(parsed.serialize(), bytes)
        for payload in Self.everyPayload {
            let chain = ISAKMPPayloadChain.serialize([payload])
            let back = try ISAKMPPayloadChain.parse(chain[...], firstPayloadType: payload.payloadType)
            XCTAssertEqual(back, [payload], "\(payload.payloadType)")
            XCTAssertEqual(ISAKMPPayloadChain.serialize(back), chain)
        }
    }

    // MARK: Encrypted bodies

    func testEncryptedBodyIsExposedRaw() throws {
        let message = ISAKMPMessage(
            initiatorCookie: 1,
            responderCookie: 2,
            exchangeType: .identityProtection,
            messageID: 0,
            body: .encrypted(firstPayloadType: .identification, ciphertext: Array(repeating: 0xC3, count: 32))
        )
        XCTAssertTrue(message.flags.contains(.encryption))
        let bytes = message.serialize()
        XCTAssertEqual(bytes[16], ISAKMPPayloadType.identification.rawValue)
        XCTAssertEqual(bytes[19] & 0x01, 0x01)
        let parsed = try ISAKMPMessage.parse(bytes)
        XCTAssertEqual(parsed, message)
        XCTAssertEqual(parsed.serialize(), bytes)
    }

    func testEncryptionFlagFollowsBodyOnSerialize() throws {
        var message = ISAKMPMessage(
            initiatorCookie: 1,
            responderCookie: 2,
            exchangeType: .informational,
            messageID: 7,
            body: .payloads([.hash(ISAKMPDataPayload(data: [1, 2, 3]))])
        )
        message.flags.insert(.encryption)
        let bytes = message.serialize()
        XCTAssertEqual(bytes[19] & 0x01, 0)
        guard case .payloads = try ISAKMPMessage.parse(bytes).body else { return XCTFail("expected plaintext") }
    }

    func testDecryptedBodyAcceptsZeroPaddingOnly() throws {
        let inner: [ISAKMPPayload] = [
            .identification(
                ISAKMPIdentificationPayload(idType: .ipv4Address, protocolID: 17, port: 500, data: [10, 0, 0, 1])
            ),
            .hash(ISAKMPDataPayload(data: Array(repeating: 0xAA, count: 20))),
        ]
        let plain = ISAKMPPayloadChain.serialize(inner)
        XCTAssertEqual(plain.count, 12 + 24)
        let padded = plain + Array(repeating: 0, count: 12)
        XCTAssertEqual(try ISAKMPPayloadChain.parseDecrypted(padded[...], firstPayloadType: .identification), inner)
        XCTAssertEqual(try ISAKMPPayloadChain.parseDecrypted(plain[...], firstPayloadType: .identification), inner)
        // Padding must be zero.
        let nonZero = plain + [0, 0, 0, 4]
        assertWireError(.trailingData) {
            try ISAKMPPayloadChain.parseDecrypted(nonZero[...], firstPayloadType: .identification)
        }
        // Too much padding.
        let tooLong = plain + Array(repeating: 0, count: WireLimits.maximumIKEv1PaddingLength + 1)
        assertWireError(.trailingData) {
            try ISAKMPPayloadChain.parseDecrypted(tooLong[...], firstPayloadType: .identification)
        }
        // Zero padding is not accepted in plaintext chains or plaintext messages.
        assertWireError(.trailingData) { try ISAKMPPayloadChain.parse(padded[...], firstPayloadType: .identification) }
        let header = [UInt8](hex: "0000000000000001 0000000000000002 05 10 02 00 00000000 00000000")
        assertWireError(.trailingData) { try ISAKMPMessage.parse(withFixedLength(header + padded)) }
        // Every proper prefix of a decrypted body fails.
        for length in 0..<plain.count {
            XCTAssertThrowsError(
                try ISAKMPPayloadChain.parseDecrypted(plain.prefix(length), firstPayloadType: .identification),
                "prefix \(length)"
            )
        }
    }

    // MARK: Malformed input

    func testEveryTruncationThrows() {
        let bytes = Self.mainModeMessage1
        for length in 0..<bytes.count {
            let prefix = Array(bytes.prefix(length))
            XCTAssertThrowsError(try ISAKMPMessage.parse(prefix), "prefix \(length)")
            XCTAssertThrowsError(try ISAKMPMessage.parse(withFixedLength(prefix)), "fixed prefix \(length)")
        }
    }

    func testHeaderLengthMustMatch() {
        var bytes = Self.mainModeMessage1
        bytes[27] = 0x95
        assertWireError(.lengthMismatch) { try ISAKMPMessage.parse(bytes) }
        bytes[27] = 0x93
        assertWireError(.lengthMismatch) { try ISAKMPMessage.parse(bytes) }
    }

    func testPayloadLengthTooLargeOrTooSmall() {
        var bytes = Self.mainModeMessage1
        bytes[bytes.count - 17] = 0x15  // last VID claims 21 bytes
        assertWireError(.lengthMismatch) { try ISAKMPMessage.parse(bytes) }
        bytes[bytes.count - 17] = 0x02
        assertWireError(.lengthMismatch) { try ISAKMPMessage.parse(bytes) }
        // Transform length beyond its proposal.
        bytes = Self.mainModeMessage1
        bytes[28 + 12 + 8 + 3] = 0x29
        assertWireError(.lengthMismatch) { try ISAKMPMessage.parse(bytes) }
    }

    func testTrailingData() {
        let bytes = withFixedLength(Self.mainModeMessage1 + [0, 0, 0, 0])
        assertWireError(.trailingData) { try ISAKMPMessage.parse(bytes) }
    }

    func testPayloadCountLimit() throws {
        func message(count: Int) -> [UInt8] {
            ISAKMPMessage(
                initiatorCookie: 1,
                responderCookie: 0,
                exchangeType: .identityProtection,
                messageID: 0,
                body: .payloads(Array(repeating: .vendorID(ISAKMPDataPayload(data: [])), count: count))
            ).serialize()
        }
        XCTAssertNoThrow(try ISAKMPMessage.parse(message(count: WireLimits.maximumPayloadCount)))
        assertWireError(.tooManyPayloads) {
            try ISAKMPMessage.parse(message(count: WireLimits.maximumPayloadCount + 1))
        }
    }

    func testTransformCountAndNextPayloadMustAgree() {
        // Transform count 2 with a single transform whose next payload is 0.
        var bytes = Self.mainModeMessage1
        bytes[28 + 12 + 7] = 2
        assertWireError(.invalidValue) { try ISAKMPMessage.parse(bytes) }
        // Proposal next payload pointing at a transform type.
        bytes = Self.mainModeMessage1
        bytes[28 + 12] = 3
        assertWireError(.invalidValue) { try ISAKMPMessage.parse(bytes) }
    }

    func testUnsupportedDOIAndSituation() {
        var bytes = Self.mainModeMessage1
        bytes[28 + 7] = 2
        assertWireError(.invalidValue) { try ISAKMPMessage.parse(bytes) }
        bytes = Self.mainModeMessage1
        bytes[28 + 11] = 3  // SIT_SECRECY
        assertWireError(.invalidValue) { try ISAKMPMessage.parse(bytes) }
    }

    func testProposalOutsideSAIsRejected() {
        let chain = [UInt8](hex: "00 00 0008 01 01 00 00")
        assertWireError(.invalidValue) { try ISAKMPPayloadChain.parse(chain[...], firstPayloadType: .proposal) }
    }

    func testNonceBounds() {
        func chain(_ length: Int) -> [UInt8] {
            [0, 0, 0, UInt8(4 + length)] + Array(repeating: 1, count: length)
        }
        assertWireError(.invalidValue) { try ISAKMPPayloadChain.parse(chain(7)[...], firstPayloadType: .nonce) }
        XCTAssertNoThrow(try ISAKMPPayloadChain.parse(chain(8)[...], firstPayloadType: .nonce))
        let long = [UInt8](hex: "00 00 0105") + Array(repeating: 1, count: 257)
        assertWireError(.invalidValue) { try ISAKMPPayloadChain.parse(long[...], firstPayloadType: .nonce) }
    }

    func testIdentificationAndNATOALengths() {
        let subnet = [UInt8](hex: "00 00 000c 04 00 0000 0a000000")
        assertWireError(.lengthMismatch) {
            try ISAKMPPayloadChain.parse(subnet[...], firstPayloadType: .identification)
        }
        let natOA = [UInt8](hex: "00 00 000c 05 000000 0a000001")
        assertWireError(.invalidValue) {
            try ISAKMPPayloadChain.parse(natOA[...], firstPayloadType: .natOriginalAddress)
        }
    }

    func testDeleteChecks() {
        let mismatch = [UInt8](hex: "00 00 0014 00000001 03 04 0003 01020304")
        assertWireError(.lengthMismatch) { try ISAKMPPayloadChain.parse(mismatch[...], firstPayloadType: .delete) }
        let zeroSize = [UInt8](hex: "00 00 000c 00000001 03 00 0001")
        assertWireError(.invalidValue) { try ISAKMPPayloadChain.parse(zeroSize[...], firstPayloadType: .delete) }
        let tooMany = [UInt8](hex: "00 00 000c 00000001 03 04 ffff")
        assertWireError(.limitExceeded) { try ISAKMPPayloadChain.parse(tooMany[...], firstPayloadType: .delete) }
    }

    func testNotifyTypeConstants() {
        XCTAssertEqual(ISAKMPNotifyType.responderLifetime.rawValue, 24576)
        XCTAssertEqual(ISAKMPNotifyType.initialContact.rawValue, 24578)
        XCTAssertEqual(ISAKMPNotifyType.areYouThere.rawValue, 36136)
        XCTAssertEqual(ISAKMPNotifyType.areYouThereAck.rawValue, 36137)
        XCTAssertEqual(ISAKMPNotifyType.unequalPayloadLengths.rawValue, 30)
        XCTAssertTrue(ISAKMPNotifyType.payloadMalformed.isError)
        XCTAssertFalse(ISAKMPNotifyType.areYouThere.isError)
    }
}

extension ISAKMPMessageTests {
    /// Random mutations never trap; whatever parses round-trips to an equal value.
    func testRandomMutationsNeverTrapAndRoundTrip() throws {
        let base = ISAKMPMessage(
            initiatorCookie: 1,
            responderCookie: 2,
            exchangeType: .quickMode,
            messageID: 3,
            body: .payloads(Self.everyPayload)
        ).serialize()
        var parsedCount = 0
        for (index, source) in [Self.mainModeMessage1, base].enumerated() {
            for mutant in mutants(of: source, count: 3000, seed: UInt64(100 + index)) {
                for candidate in [mutant, withFixedLength(mutant)] {
                    if let message = try? ISAKMPMessage.parse(candidate) {
                        parsedCount += 1
                        XCTAssertEqual(try ISAKMPMessage.parse(message.serialize()), message)
                    }
                    let body = candidate.dropFirst(min(candidate.count, ISAKMPHeader.size))
                    if let payloads = try? ISAKMPPayloadChain.parseDecrypted(
                        body,
                        firstPayloadType: .securityAssociation
                    ) {
                        let chain = ISAKMPPayloadChain.serialize(payloads)
                        let first = payloads.first?.payloadType ?? .none
                        XCTAssertEqual(try ISAKMPPayloadChain.parse(chain[...], firstPayloadType: first), payloads)
                    }
                }
            }
        }
        XCTAssertGreaterThan(parsedCount, 100)
    }
}
