import IsthmusCrypto
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

/// SA payload construction and responder selection (RFC 7296 sections 2.7 and 3.3). The ESP proposals (SPIs,
/// PFS, ESN) are in NegotiationProposal+ESPTests.swift.
final class NegotiationProposalTests: XCTestCase {
    typealias F = NegotiationFixtures
    let espSPI: [UInt8] = [0xc1, 0x00, 0x00, 0x01]
    let peerESPSPI: [UInt8] = [0xd2, 0x00, 0x00, 0x02]

    // MARK: - SA payload construction

    func testIKESAPayloadLayout() throws {
        let list = try F.ike("aes256gcm16-prfsha256-ecp256, aes256-sha256-modp2048")
        let sa = IKEv2ProposalCodec.saPayload(for: list, protocol: .ike, spi: [])
        XCTAssertEqual(sa.proposals.map(\.number), [1, 2])
        XCTAssertEqual(sa.proposals.map(\.protocolID), [.ike, .ike])
        XCTAssertEqual(sa.proposals.map(\.spi), [[], []])
        XCTAssertEqual(
            sa.proposals[0].transforms,
            [
                F.transform(.encryption, 20, keyLength: 256), F.transform(.pseudorandomFunction, 5),
                F.transform(.keyExchangeMethod, 19),
            ]
        )
        XCTAssertEqual(
            sa.proposals[1].transforms,
            [
                F.transform(.encryption, 12, keyLength: 256), F.transform(.pseudorandomFunction, 5),
                F.transform(.integrity, 12), F.transform(.keyExchangeMethod, 14),
            ]
        )
    }

    func testIKERekeySAPayloadCarriesEightByteSPI() throws {
        let spi: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let sa = IKEv2ProposalCodec.saPayload(for: try F.ike("aes128-sha1-modp2048"), protocol: .ike, spi: spi)
        XCTAssertEqual(sa.proposals[0].spi, spi)
    }

    func testESPSAPayloadLayout() throws {
        let list = try F.esp("aes128-sha256-modp2048-esn-noesn, aes256gcm16, chacha20poly1305-esn")
        let sa = IKEv2ProposalCodec.saPayload(for: list, protocol: .esp, spi: espSPI)
        XCTAssertEqual(sa.proposals.map(\.number), [1, 2, 3])
        XCTAssertEqual(sa.proposals.map(\.protocolID), [.esp, .esp, .esp])
        XCTAssertEqual(sa.proposals.map(\.spi), [espSPI, espSPI, espSPI])
        XCTAssertEqual(
            sa.proposals[0].transforms,
            [
                F.transform(.encryption, 12, keyLength: 128), F.transform(.integrity, 12),
                F.transform(.keyExchangeMethod, 14), F.transform(.extendedSequenceNumbers, 1),
                F.transform(.extendedSequenceNumbers, 0),
            ]
        )
        // No ESN choice: a single "no ESN" transform; no D-H without PFS; ChaCha20 has no key length.
        XCTAssertEqual(
            sa.proposals[1].transforms,
            [F.transform(.encryption, 20, keyLength: 256), F.transform(.extendedSequenceNumbers, 0)]
        )
        XCTAssertEqual(
            sa.proposals[2].transforms,
            [F.transform(.encryption, 28), F.transform(.extendedSequenceNumbers, 1)]
        )
    }

    func testSAPayloadSurvivesTheWire() throws {
        let list = try F.ike("aes256gcm16-aes128gcm16-prfsha384-prfsha256-ecp384-ecp256, aes256-sha512-sha256-modp4096")
        let sa = IKEv2ProposalCodec.saPayload(for: list, protocol: .ike, spi: [])
        let message = IKEv2Message(
            initiatorSPI: 0x0102_0304_0506_0708, responderSPI: 0, exchangeType: .ikeSAInit, flags: .initiator,
            messageID: 0, payloads: [.securityAssociation(sa)]
        )
        let parsed = try IKEv2Message.parse(message.serialize())
        guard case .securityAssociation(let back) = parsed.payloads.first else {
            return XCTFail("no SA payload after a round trip")
        }
        XCTAssertEqual(back, sa)
        let selection = try F.success(IKEv2ProposalCodec.selectIKE(offered: back, ours: list))
        XCTAssertEqual(selection.suite.description, "aes256gcm16-prfsha384-ecp384")
    }

    // MARK: - Responder selection

    func testRoundTripSelectsOurFirstProposal() throws {
        let list = try F.ike("aes256gcm16-prfsha256-ecp256, aes256-sha256-modp2048")
        let offered = IKEv2ProposalCodec.saPayload(for: list, protocol: .ike, spi: [])
        let selection = try F.success(IKEv2ProposalCodec.selectIKE(offered: offered, ours: list))
        XCTAssertEqual(selection.proposalNumber, 1)
        XCTAssertEqual(selection.peerSPI, [])
        XCTAssertEqual(selection.suite.description, "aes256gcm16-prfsha256-ecp256")
        XCTAssertNil(selection.suite.integrity)
        XCTAssertEqual(selection.reply.proposals.count, 1)
        XCTAssertEqual(selection.reply.proposals[0].number, 1)
        XCTAssertEqual(selection.reply.proposals[0].protocolID, .ike)
        XCTAssertEqual(selection.reply.proposals[0].spi, [])
        XCTAssertEqual(
            selection.reply.proposals[0].transforms,
            [
                F.transform(.encryption, 20, keyLength: 256), F.transform(.pseudorandomFunction, 5),
                F.transform(.keyExchangeMethod, 19),
            ]
        )
    }

    func testResponderPreferenceWinsAcrossProposals() throws {
        let peer = IKEv2ProposalCodec.saPayload(
            for: try F.ike("aes128-sha256-modp2048, aes256-sha256-modp2048"), protocol: .ike, spi: []
        )
        let ours = try F.ike("aes256-sha256-modp2048, aes128-sha256-modp2048")
        let selection = try F.success(IKEv2ProposalCodec.selectIKE(offered: peer, ours: ours))
        XCTAssertEqual(selection.proposalNumber, 2)
        XCTAssertEqual(selection.reply.proposals[0].number, 2)
        XCTAssertEqual(selection.suite.encryption.keyword, "aes256")
        XCTAssertEqual(selection.suite.description, "aes256-sha256-prfsha256-modp2048")
    }

    func testResponderPreferenceWinsWithinATransformType() throws {
        let peer = IKEv2ProposalCodec.saPayload(
            for: try F.ike("aes128-aes256-sha1-sha256-modp2048-ecp256"), protocol: .ike, spi: []
        )
        let ours = try F.ike("aes256-aes128-sha256-sha1-ecp256-modp2048")
        let selection = try F.success(IKEv2ProposalCodec.selectIKE(offered: peer, ours: ours))
        XCTAssertEqual(selection.suite.description, "aes256-sha256-prfsha256-ecp256")
        XCTAssertEqual(selection.reply.proposals[0].transforms.count, 4)
    }

    func testPeerKeyExchangeGroupWinsWithinTheChosenProposal() throws {
        let peer = IKEv2ProposalCodec.saPayload(
            for: try F.ike("aes256-sha256-modp2048-ecp256"), protocol: .ike, spi: [])
        let ours = try F.ike("aes256-sha256-ecp256-modp2048")
        let hinted = try F.success(IKEv2ProposalCodec.selectIKE(offered: peer, ours: ours, peerKeyExchangeGroup: 14))
        XCTAssertEqual(hinted.suite.keyExchange.keyword, "modp2048")
        // A group outside the intersection changes nothing.
        let other = try F.success(IKEv2ProposalCodec.selectIKE(offered: peer, ours: ours, peerKeyExchangeGroup: 21))
        XCTAssertEqual(other.suite.keyExchange.keyword, "ecp256")
    }

    func testAEADAndCBCProposalsDoNotMix() throws {
        let peer = IKEv2ProposalCodec.saPayload(for: try F.ike("aes256gcm16-prfsha256-ecp256"), protocol: .ike, spi: [])
        let cbcOnly = try F.ike("aes256-sha256-ecp256")
        let failure = try F.failure(IKEv2ProposalCodec.selectIKE(offered: peer, ours: cbcOnly))
        XCTAssertEqual(failure.code, .noProposalChosen)

        let both = try F.ike("aes256-sha256-ecp256, aes256gcm16-prfsha256-ecp256")
        let selection = try F.success(IKEv2ProposalCodec.selectIKE(offered: peer, ours: both))
        XCTAssertTrue(selection.suite.encryption.isAEAD)
        XCTAssertNil(selection.suite.integrity)
        XCTAssertFalse(selection.reply.proposals[0].transforms.contains { $0.type == .integrity })
    }

    func testKeyLengthIsPartOfTheCipher() throws {
        let peer = IKEv2ProposalCodec.saPayload(for: try F.ike("aes128-sha256-modp2048"), protocol: .ike, spi: [])
        let failure = try F.failure(
            IKEv2ProposalCodec.selectIKE(offered: peer, ours: try F.ike("aes256-sha256-modp2048")))
        XCTAssertTrue(failure.peerProposals.hasPrefix("aes128-"), failure.description)

        let gcm = IKEv2ProposalCodec.saPayload(for: try F.ike("aes128gcm16-prfsha256-ecp256"), protocol: .ike, spi: [])
        _ = try F.failure(IKEv2ProposalCodec.selectIKE(offered: gcm, ours: try F.ike("aes256gcm16-prfsha256-ecp256")))
        // ICV length is part of the transform ID: GCM-8 is not GCM-16.
        _ = try F.failure(IKEv2ProposalCodec.selectIKE(offered: gcm, ours: try F.ike("aes128gcm8-prfsha256-ecp256")))
    }

    func testUnknownTransformsAreSkippedAndNamed() throws {
        let peer = F.sa(
            F.proposal([
                F.transform(.encryption, 99),
                F.transform(.encryption, 12, keyLength: 100),
                F.transform(.encryption, 12, keyLength: 256),
                F.transform(.pseudorandomFunction, 99),
                F.transform(.pseudorandomFunction, 5),
                F.transform(.integrity, 7),
                F.transform(.integrity, 12),
                F.transform(.keyExchangeMethod, 99),
                F.transform(.keyExchangeMethod, 14),
            ])
        )
        let selection = try F.success(
            IKEv2ProposalCodec.selectIKE(offered: peer, ours: try F.ike("aes256-sha256-modp2048")))
        XCTAssertEqual(selection.suite.description, "aes256-sha256-prfsha256-modp2048")

        let failure = try F.failure(
            IKEv2ProposalCodec.selectIKE(offered: peer, ours: try F.ike("aes128gcm16-prfsha256-ecp256"))
        )
        XCTAssertEqual(
            failure.peerProposals, "ENCR_99-ENCR_12_100-aes256-INTEG_7-sha256-PRF_99-prfsha256-DH_99-modp2048"
        )
    }

    func testUnsupportedAttributesMakeATransformUnacceptable() throws {
        let ours = try F.ike("aes256-sha256-modp2048")
        var encryption = F.transform(.encryption, 12, keyLength: 256)
        encryption.attributes.append(DataAttribute(type: 99, value: .basic(1)))
        let extraAttribute = F.sa(
            F.proposal([
                encryption, F.transform(.pseudorandomFunction, 5), F.transform(.integrity, 12),
                F.transform(.keyExchangeMethod, 14),
            ])
        )
        _ = try F.failure(IKEv2ProposalCodec.selectIKE(offered: extraAttribute, ours: ours))

        let variableKeyLength = F.sa(
            F.proposal([
                IKEv2Transform(
                    type: .encryption, id: 12,
                    attributes: [DataAttribute(type: DataAttribute.keyLengthType, value: .variable([1, 0]))]
                ),
                F.transform(.pseudorandomFunction, 5), F.transform(.integrity, 12), F.transform(.keyExchangeMethod, 14),
            ])
        )
        _ = try F.failure(IKEv2ProposalCodec.selectIKE(offered: variableKeyLength, ours: ours))

        let keyLengthOnPRF = F.sa(
            F.proposal([
                F.transform(.encryption, 12, keyLength: 256), F.transform(.pseudorandomFunction, 5, keyLength: 256),
                F.transform(.integrity, 12), F.transform(.keyExchangeMethod, 14),
            ])
        )
        _ = try F.failure(IKEv2ProposalCodec.selectIKE(offered: keyLengthOnPRF, ours: ours))

        let missingKeyLength = F.sa(
            F.proposal([
                F.transform(.encryption, 12), F.transform(.pseudorandomFunction, 5),
                F.transform(.integrity, 12), F.transform(.keyExchangeMethod, 14),
            ])
        )
        _ = try F.failure(IKEv2ProposalCodec.selectIKE(offered: missingKeyLength, ours: ours))
    }

    func testUnknownTransformTypeMakesTheProposalUnacceptable() throws {
        let ours = try F.ike("aes256-sha256-modp2048")
        let base = [
            F.transform(.encryption, 12, keyLength: 256), F.transform(.pseudorandomFunction, 5),
            F.transform(.integrity, 12), F.transform(.keyExchangeMethod, 14),
        ]
        let unknownType = F.sa(F.proposal(base + [F.transform(IKEv2TransformType(rawValue: 200), 1)]))
        let failure = try F.failure(IKEv2ProposalCodec.selectIKE(offered: unknownType, ours: ours))
        XCTAssertTrue(failure.peerProposals.hasSuffix("-TRANSFORM200_1"), failure.peerProposals)

        // An ESN transform has no place in an IKE proposal.
        let esnInIKE = F.sa(F.proposal(base + [F.transform(.extendedSequenceNumbers, 0)]))
        _ = try F.failure(IKEv2ProposalCodec.selectIKE(offered: esnInIKE, ours: ours))

        // RFC 9370: an additional key exchange with NONE is optional; we take NONE and echo it.
        let optionalMLKEM = F.sa(
            F.proposal(
                base + [
                    F.transform(IKEv2TransformType(rawValue: 6), 36), F.transform(IKEv2TransformType(rawValue: 6), 0),
                ]
            )
        )
        let selection = try F.success(IKEv2ProposalCodec.selectIKE(offered: optionalMLKEM, ours: ours))
        XCTAssertEqual(selection.reply.proposals[0].transforms.last, F.transform(IKEv2TransformType(rawValue: 6), 0))
        XCTAssertEqual(selection.reply.proposals[0].transforms.count, 5)

        let mandatoryMLKEM = F.sa(F.proposal(base + [F.transform(IKEv2TransformType(rawValue: 6), 36)]))
        let refused = try F.failure(IKEv2ProposalCodec.selectIKE(offered: mandatoryMLKEM, ours: ours))
        XCTAssertTrue(refused.peerProposals.hasSuffix("-ADDKE1_36"), refused.peerProposals)
    }

    func testLaterPeerProposalIsFoundWhenEarlierOnesAreUnacceptable() throws {
        let ours = try F.ike("aes256-sha256-modp2048")
        let good = [
            F.transform(.encryption, 12, keyLength: 256), F.transform(.pseudorandomFunction, 5),
            F.transform(.integrity, 12), F.transform(.keyExchangeMethod, 14),
        ]
        let offered = F.sa(
            F.proposal(1, .esp, spi: peerESPSPI, good),
            F.proposal(2, .ike, spi: [1, 2, 3], good),
            F.proposal(3, .ike, good)
        )
        let selection = try F.success(IKEv2ProposalCodec.selectIKE(offered: offered, ours: ours))
        XCTAssertEqual(selection.proposalNumber, 3)
    }

    func testProtocolMismatchIsNamedInTheFailure() throws {
        let espOffer = IKEv2ProposalCodec.saPayload(for: try F.esp("aes256-sha256"), protocol: .esp, spi: peerESPSPI)
        let failure = try F.failure(
            IKEv2ProposalCodec.selectIKE(offered: espOffer, ours: try F.ike("aes256-sha256-modp2048")))
        XCTAssertEqual(failure.peerProposals, "[ESP] aes256-sha256")
        _ = try F.failure(
            IKEv2ProposalCodec.selectChild(offered: F.sa(), ours: try F.esp("aes256-sha256"), localSPI: espSPI))
    }

    func testNoOverlapDescribesBothSidesInStrongSwanKeywords() throws {
        let peer = IKEv2ProposalCodec.saPayload(for: try F.ike("aes128-sha1-modp1024"), protocol: .ike, spi: [])
        let ours = try F.ike("aes256gcm16-prfsha256-ecp256, aes256-sha256-modp2048")
        let failure = try F.failure(IKEv2ProposalCodec.selectIKE(offered: peer, ours: ours))
        XCTAssertEqual(failure.code, .noProposalChosen)
        XCTAssertEqual(failure.notifyType, .noProposalChosen)
        XCTAssertEqual(failure.proposalProtocol, .ike)
        XCTAssertEqual(failure.peerProposals, "aes128-sha1-prfsha1-modp1024")
        XCTAssertEqual(failure.ourProposals, "aes256gcm16-prfsha256-ecp256, aes256-sha256-prfsha256-modp2048")
        XCTAssertEqual(
            failure.description,
            "no acceptable IKE proposal: peer offered aes128-sha1-prfsha1-modp1024; "
                + "we accept aes256gcm16-prfsha256-ecp256, aes256-sha256-prfsha256-modp2048"
        )
    }

    func testFailureDescribesSeveralPeerProposals() throws {
        let peer = IKEv2ProposalCodec.saPayload(
            for: try F.esp("3des-md5, aes128-sha1-modp1024-esn"), protocol: .esp, spi: peerESPSPI
        )
        let failure = try F.failure(
            IKEv2ProposalCodec.selectChild(offered: peer, ours: try F.esp("aes256gcm16"), localSPI: espSPI)
        )
        XCTAssertEqual(
            failure.description,
            "no acceptable ESP proposal: peer offered 3des-md5, aes128-sha1-modp1024-esn; we accept aes256gcm16"
        )
    }

    // MARK: - Suites

    func testSuiteDescriptions() throws {
        func algorithm(_ keyword: String) throws -> Algorithm {
            try XCTUnwrap(AlgorithmRegistry.algorithm(keyword: keyword))
        }
        let ike = NegotiatedIKESuite(
            encryption: try algorithm("aes256"), prf: try algorithm("prfsha256"), integrity: try algorithm("sha256"),
            keyExchange: try algorithm("modp2048")
        )
        XCTAssertEqual(ike.description, "aes256-sha256-prfsha256-modp2048")
        let parsed = try Proposal(parsing: ike.description, for: .ike, version: .v2)
        XCTAssertEqual(parsed.description, ike.description)
        let aead = NegotiatedIKESuite(
            encryption: try algorithm("aes256gcm16"), prf: try algorithm("prfsha256"), integrity: nil,
            keyExchange: try algorithm("ecp256")
        )
        XCTAssertEqual(aead.description, "aes256gcm16-prfsha256-ecp256")
        let child = NegotiatedChildSuite(
            encryption: try algorithm("aes256"), integrity: try algorithm("sha256"), keyExchange: nil,
            extendedSequenceNumbers: false
        )
        XCTAssertEqual(child.description, "aes256-sha256")
        let pfs = NegotiatedChildSuite(
            encryption: try algorithm("aes128"), integrity: try algorithm("sha256"),
            keyExchange: try algorithm("modp2048"), extendedSequenceNumbers: true
        )
        XCTAssertEqual(pfs.description, "aes128-sha256-modp2048-esn")
        XCTAssertEqual(try Proposal(parsing: pfs.description, for: .esp, version: .v2).description, pfs.description)
    }

    // MARK: - Hostile input

    func testRandomProposalsNeverTrap() throws {
        var generator = SplitMix64(seed: 0x15_7A_05)
        let ike = try F.ike("aes256gcm16-prfsha256-ecp256, aes128-sha256-modp2048")
        let esp = try F.esp("aes256gcm16, aes128-sha1-modp2048-esn-noesn")
        let types: [UInt8] = [0, 1, 2, 3, 4, 5, 6, 13, 255]
        let ids: [UInt16] = [0, 1, 2, 3, 5, 12, 14, 19, 20, 28, 31, 99, 65535]
        for _ in 0..<2000 {
            var proposals: [IKEv2Proposal] = []
            for number in 0..<Int(generator.next() % 3) + 1 {
                var transforms: [IKEv2Transform] = []
                for _ in 0..<Int(generator.next() % 7) {
                    var attributes: [DataAttribute] = []
                    switch generator.next() % 4 {
                    case 0: attributes = [.keyLength([128, 256, 0, 65535][Int(generator.next() % 4)])]
                    case 1: attributes = [DataAttribute(type: UInt16(generator.next() % 20), value: .variable([1]))]
                    default: break
                    }
                    transforms.append(
                        IKEv2Transform(
                            type: IKEv2TransformType(rawValue: types[Int(generator.next() % UInt64(types.count))]),
                            id: ids[Int(generator.next() % UInt64(ids.count))], attributes: attributes
                        )
                    )
                }
                let spi: [UInt8] = [[], [1, 2, 3, 4], [1, 2, 3, 4, 5, 6, 7, 8]][Int(generator.next() % 3)]
                let protocolID = IKEv2ProtocolID(rawValue: UInt8(generator.next() % 4))
                proposals.append(
                    IKEv2Proposal(
                        number: UInt8(number + Int(generator.next() % 2)), protocolID: protocolID, spi: spi,
                        transforms: transforms)
                )
            }
            let sa = IKEv2SecurityAssociationPayload(proposals: proposals)
            _ = IKEv2ProposalCodec.selectIKE(offered: sa, ours: ike).map(\.suite.description)
            _ = IKEv2ProposalCodec.selectChild(offered: sa, ours: esp, localSPI: espSPI).map(\.suite.description)
            _ = IKEv2ProposalCodec.acceptIKE(response: sa, offered: ike).map(\.suite.description)
            _ = IKEv2ProposalCodec.acceptChild(response: sa, offered: esp).map(\.suite.description)
            _ = IKEv2ProposalCodec.describe(sa, protocol: .esp)
        }
    }
}
