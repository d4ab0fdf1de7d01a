import XCTest

@testable import IsthmusWire

/// IKEv2 messages on the wire: a hand-laid IKE_SA_INIT vector, round trips of every payload type, the SK
/// and SKF payloads, random mutations. Malformed input is in IKEv2Message+MalformedTests.swift.
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
