import XCTest

@testable import IsthmusWire

final class IKEv2MessageTests: XCTestCase {
    // MARK: Vectors

    /// An IKE_SA_INIT request laid out by hand from RFC 7296 sections 3.1 to 3.10: SA with one IKE
    /// proposal (AES-CBC-256, PRF-HMAC-SHA2-256, HMAC-SHA2-256-128, group 19), KE (group 19, 64 bytes),
    /// Ni (32 bytes), NAT detection source/destination, IKEV2_FRAGMENTATION_SUPPORTED and
    /// SIGNATURE_HASH_ALGORITHMS (SHA2-256, SHA2-384, SHA2-512).
    static let ikeSAInitRequest = [UInt8](
        hex: """
            0102030405060708 0000000000000000 21 20 22 08 00000000 00000106
            22 00 0030
               00 00 002c 01 01 00 04
                  03 00 000c 01 00 000c 800e0100
                  03 00 0008 02 00 0005
                  03 00 0008 03 00 000c
                  00 00 0008 04 00 0013
            28 00 0048 0013 0000
               e98e1a65eb81baaee9d5300e27096d63 bf4bb24faa25c825d44de32c99ca42db
               0d827dc07805aac9ad9ccd45a3c3015a f115c1c2da76112281109d503e0fa70f
            29 00 0024 400c76b623c6c6d86a9f883bb6c9e31a 6221fd55fbefb129de1bdb0b7d7d893d
            29 00 001c 00 00 4004 68e4b2f266034028d642fb6d74b6e2b7 848d3d9f
            29 00 001c 00 00 4005 3b2bbb4078555937c6dd6a6cc614f154 39e059a5
            29 00 0008 00 00 402e
            00 00 000e 00 00 402f 0002 0003 0004
            """
    )

    func testParseIKESAInitVector() throws {
        let bytes = Self.ikeSAInitRequest
        XCTAssertEqual(bytes.count, 262)
        let message = try IKEv2Message.parse(bytes)
        XCTAssertEqual(message.initiatorSPI, 0x0102_0304_0506_0708)
        XCTAssertEqual(message.responderSPI, 0)
        XCTAssertEqual(message.exchangeType, .ikeSAInit)
        XCTAssertEqual(message.flags, .initiator)
        XCTAssertEqual(message.messageID, 0)
        XCTAssertEqual(
            message.payloads.map(\.payloadType),
            [
                .securityAssociation, .keyExchange, .nonce, .notify, .notify, .notify, .notify,
            ]
        )
        guard case .securityAssociation(let sa) = message.payloads[0] else { return XCTFail("no SA") }
        XCTAssertEqual(sa.proposals.count, 1)
        let proposal = sa.proposals[0]
        XCTAssertEqual(proposal.number, 1)
        XCTAssertEqual(proposal.protocolID, .ike)
        XCTAssertEqual(proposal.spi, [])
        XCTAssertEqual(
            proposal.transforms.map(\.type),
            [
                .encryption, .pseudorandomFunction, .integrity, .keyExchangeMethod,
            ]
        )
        XCTAssertEqual(proposal.transforms.map(\.id), [12, 5, 12, 19])
        XCTAssertEqual(proposal.transforms[0].keyLength, 256)
        XCTAssertNil(proposal.transforms[1].keyLength)
        guard case .keyExchange(let ke) = message.payloads[1] else { return XCTFail("no KE") }
        XCTAssertEqual(ke.group, 19)
        XCTAssertEqual(ke.keyExchangeData.count, 64)
        XCTAssertEqual(ke.keyExchangeData.first, 0xE9)
        guard case .nonce(let nonce) = message.payloads[2] else { return XCTFail("no Ni") }
        XCTAssertEqual(nonce.nonce.count, 32)
        guard case .notify(let natSource) = message.payloads[3] else { return XCTFail("no notify") }
        XCTAssertEqual(natSource.notifyType, .natDetectionSourceIP)
        XCTAssertEqual(natSource.data.count, 20)
        XCTAssertFalse(natSource.notifyType.isError)
        guard case .notify(let fragmentation) = message.payloads[5] else { return XCTFail("no notify") }
        XCTAssertEqual(fragmentation.notifyType, .ikev2FragmentationSupported)
        guard case .notify(let hashes) = message.payloads[6] else { return XCTFail("no notify") }
        XCTAssertEqual(hashes.notifyType, .signatureHashAlgorithms)
        XCTAssertEqual(hashes.data, [0, 2, 0, 3, 0, 4])
        XCTAssertEqual(message.serialize(), bytes)
    }

    func testHeaderParseWithoutValidation() throws {
        let header = try IKEv2Header.parse(Self.ikeSAInitRequest[...])
        XCTAssertEqual(header.nextPayload, .securityAssociation)
        XCTAssertEqual(header.majorVersion, 2)
        XCTAssertEqual(header.length, 262)
        var writer = WireWriter()
        header.serialize(into: &writer)
        XCTAssertEqual(writer.bytes, Array(Self.ikeSAInitRequest.prefix(28)))
    }

    // MARK: Round trips

    static let everyPayload: [IKEv2Payload] = [
        .securityAssociation(
            IKEv2SecurityAssociationPayload(proposals: [
                IKEv2Proposal(
                    number: 1,
                    protocolID: .esp,
                    spi: [0xC0, 0xFF, 0xEE, 0x01],
                    transforms: [
                        IKEv2Transform(type: .encryption, id: 20, attributes: [.keyLength(128)]),
                        IKEv2Transform(type: .extendedSequenceNumbers, id: 0),
                    ]
                ),
                IKEv2Proposal(
                    number: 2,
                    protocolID: .esp,
                    spi: [0xC0, 0xFF, 0xEE, 0x02],
                    transforms: [
                        IKEv2Transform(
                            type: .encryption,
                            id: 12,
                            attributes: [.keyLength(256), DataAttribute(type: 99, value: .variable([1, 2, 3]))]
                        ),
                        IKEv2Transform(type: .integrity, id: 12),
                        IKEv2Transform(type: .extendedSequenceNumbers, id: 1),
                    ]
                ),
            ])
        ),
        .keyExchange(IKEv2KeyExchangePayload(group: 31, keyExchangeData: Array(0..<32))),
        .identificationInitiator(IKEv2IdentificationPayload(idType: .fqdn, data: Array("gw1.example.net".utf8))),
        .identificationResponder(IKEv2IdentificationPayload(idType: .ipv4Address, data: [192, 0, 2, 1])),
        .certificate(CertificatePayload(encoding: .x509Signature, data: [0x30, 0x03, 0x02, 0x01, 0x00])),
        .certificateRequest(CertificatePayload(encoding: .x509Signature, data: Array(repeating: 0xAB, count: 20))),
        .authentication(IKEv2AuthenticationPayload(method: .sharedKeyMessageIntegrityCode, data: Array(0..<32))),
        .nonce(IKEv2NoncePayload(nonce: Array(repeating: 0x5A, count: 16))),
        .notify(IKEv2NotifyPayload(notifyType: .initialContact)),
        .notify(IKEv2NotifyPayload(protocolID: .esp, spi: [1, 2, 3, 4], notifyType: .rekeySA)),
        .notify(IKEv2NotifyPayload(notifyType: .cookie, data: Array(repeating: 7, count: 24))),
        .delete(IKEv2DeletePayload(protocolID: .esp, spiSize: 4, spis: [[1, 2, 3, 4], [5, 6, 7, 8]])),
        .delete(IKEv2DeletePayload(protocolID: .ike, spiSize: 0, spis: [])),
        .vendorID(DataPayload(data: Array("isthmus".utf8))),
        .trafficSelectorInitiator(
            IKEv2TrafficSelectorPayload(selectors: [
                IKEv2TrafficSelector(
                    family: .ipv4,
                    startAddress: [10, 1, 0, 0],
                    endAddress: [10, 1, 255, 255]
                ),
                IKEv2TrafficSelector(
                    family: .ipv6,
                    ipProtocol: 6,
                    startPort: 443,
                    endPort: 443,
                    startAddress: [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 12),
                    endAddress: [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0xFF, count: 12)
                ),
            ])
        ),
        .trafficSelectorResponder(
            IKEv2TrafficSelectorPayload(selectors: [
                IKEv2TrafficSelector(family: .ipv4, startAddress: [10, 2, 0, 0], endAddress: [10, 2, 0, 255])
            ])
        ),
        .configuration(
            IKEv2ConfigurationPayload(
                configurationType: .reply,
                attributes: [
                    IKEv2ConfigurationAttribute(
                        type: IKEv2ConfigurationAttribute.internalIPv4AddressType,
                        value: [100, 64, 0, 2]
                    ),
                    IKEv2ConfigurationAttribute(type: IKEv2ConfigurationAttribute.internalIPv4DNSType),
                ]
            )
        ),
        .eap(DataPayload(data: [1, 7, 0, 5, 1])),
        .unknown(IKEv2UnknownPayload(payloadType: IKEv2PayloadType(rawValue: 200), body: [9, 9, 9])),
    ]

    func testEveryPayloadTypeRoundTrips() throws {
        let message = IKEv2Message(
            initiatorSPI: 0xAAAA_BBBB_CCCC_DDDD,
            responderSPI: 0x1111_2222_3333_4444,
            exchangeType: .ikeAuth,
            flags: [.initiator],
            messageID: 1,
            payloads: Self.everyPayload
        )
        let bytes = message.serialize()
        XCTAssertEqual(bytes.count, Int(try IKEv2Header.parse(bytes[...]).length))
        let parsed = try IKEv2Message.parse(bytes)
        XCTAssertEqual(parsed, message)
        XCTAssertEqual(parsed.serialize(), bytes)
        // Each payload on its own, so a failure names the payload.
        for payload in Self.everyPayload {
            let chain = IKEv2PayloadChain.serialize([payload])
            let back = try IKEv2PayloadChain.parse(chain[...], firstPayloadType: payload.payloadType)
            XCTAssertEqual(back, [payload], "\(payload.payloadType)")
            XCTAssertEqual(IKEv2PayloadChain.serialize(back), chain)
        }
    }

    func testEncryptedPayloadEndsTheChainAndInnerChainParses() throws {
        let inner: [IKEv2Payload] = [
            .identificationInitiator(IKEv2IdentificationPayload(idType: .rfc822Address, data: Array("a@b.c".utf8))),
            .authentication(IKEv2AuthenticationPayload(method: .digitalSignature, data: [1, 2, 3])),
            .notify(IKEv2NotifyPayload(notifyType: .useTransportMode)),
        ]
        let innerBytes = IKEv2PayloadChain.serialize(inner)
        let sk = IKEv2EncryptedPayload(firstInnerPayloadType: .identificationInitiator, body: Array(0..<48))
        let message = IKEv2Message(
            initiatorSPI: 1,
            responderSPI: 2,
            exchangeType: .ikeAuth,
            flags: [.initiator],
            messageID: 1,
            payloads: [.vendorID(DataPayload(data: [1])), .encrypted(sk)]
        )
        let bytes = message.serialize()
        // The SK payload's Next Payload field names the first inner payload (RFC 7296 section 3.14).
        XCTAssertEqual(bytes[28 + 5], IKEv2PayloadType.identificationInitiator.rawValue)
        let parsed = try IKEv2Message.parse(bytes)
        XCTAssertEqual(parsed, message)
        XCTAssertEqual(parsed.serialize(), bytes)
        guard case .encrypted(let parsedSK) = parsed.payloads.last else { return XCTFail("no SK") }
        XCTAssertEqual(parsedSK.body, Array(0..<48))
        let decrypted = try IKEv2PayloadChain.parse(innerBytes[...], firstPayloadType: parsedSK.firstInnerPayloadType)
        XCTAssertEqual(decrypted, inner)
    }

    func testEncryptedFragmentRoundTripAndValidation() throws {
        let skf = IKEv2EncryptedFragmentPayload(
            firstInnerPayloadType: .identificationInitiator,
            fragmentNumber: 1,
            totalFragments: 3,
            body: [1, 2, 3, 4]
        )
        let message = IKEv2Message(
            initiatorSPI: 1,
            responderSPI: 2,
            exchangeType: .ikeAuth,
            flags: [.initiator],
            messageID: 1,
            payloads: [.encryptedFragment(skf)]
        )
        let bytes = message.serialize()
        XCTAssertEqual(bytes.count, 28 + 4 + 4 + 4)
        XCTAssertEqual(try IKEv2Message.parse(bytes), message)
        // Fragment 4 of 3 is invalid (RFC 7383 section 2.5).
        var bad = bytes
        bad[33] = 4
        assertWireError(.invalidValue) { try IKEv2Message.parse(bad) }
        // Fragment number 0 is invalid.
        bad = bytes
        bad[33] = 0
        assertWireError(.invalidValue) { try IKEv2Message.parse(bad) }
    }

    func testPayloadAfterEncryptedPayloadIsRejected() {
        // SK (empty body) followed by 4 more bytes that would be another payload.
        let bytes = withFixedLength(
            [UInt8](hex: "0000000000000001 0000000000000002 2e 20 23 08 00000001 00000000")
                + [UInt8](hex: "00 00 0004") + [UInt8](hex: "00 00 0004")
        )
        assertWireError(.trailingData) { try IKEv2Message.parse(bytes) }
    }

    func testUnknownNonCriticalPayloadIsKept() throws {
        let bytes = withFixedLength(
            [UInt8](hex: "0000000000000001 0000000000000002 c8 20 25 08 00000002 00000000")
                + [UInt8](hex: "00 00 0007 010203")
        )
        let message = try IKEv2Message.parse(bytes)
        XCTAssertEqual(
            message.payloads,
            [.unknown(IKEv2UnknownPayload(payloadType: IKEv2PayloadType(rawValue: 200), body: [1, 2, 3]))]
        )
        XCTAssertEqual(message.serialize(), bytes)
    }

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

extension IKEv2MessageTests {
    func testEncryptedPayloadInsideDecryptedChainIsRejected() {
        // A decrypted SK body that itself holds an SK payload (RFC 7296 section 3.14).
        let inner = [UInt8](hex: "2e 00 0008 01020304 00 00 0004")
        assertWireError(.invalidValue) { try IKEv2PayloadChain.parse(inner[...], firstPayloadType: .vendorID) }
        let skOnly = [UInt8](hex: "00 00 0004")
        assertWireError(.invalidValue) { try IKEv2PayloadChain.parse(skOnly[...], firstPayloadType: .encrypted) }
    }
}

extension IKEv2MessageTests {
    /// Random mutations of valid messages never trap, and whatever parses re-serializes to bytes that
    /// parse back to the same value. Each mutant is tried as sent and with a consistent header length.
    func testRandomMutationsNeverTrapAndRoundTrip() throws {
        let base = IKEv2Message(
            initiatorSPI: 1,
            responderSPI: 2,
            exchangeType: .ikeAuth,
            flags: [.initiator],
            messageID: 1,
            payloads: Self.everyPayload
        ).serialize()
        var parsedCount = 0
        for seed in [Self.ikeSAInitRequest, base].indices {
            let source = [Self.ikeSAInitRequest, base][seed]
            for mutant in mutants(of: source, count: 3000, seed: UInt64(seed + 1)) {
                for candidate in [mutant, withFixedLength(mutant)] {
                    guard let message = try? IKEv2Message.parse(candidate) else { continue }
                    parsedCount += 1
                    let again = message.serialize()
                    XCTAssertEqual(try IKEv2Message.parse(again), message)
                }
            }
        }
        // Some mutants (for example changed SPIs or data bytes) must still parse.
        XCTAssertGreaterThan(parsedCount, 100)
    }
}
