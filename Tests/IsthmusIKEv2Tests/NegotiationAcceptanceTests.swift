import IsthmusCrypto
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

/// The initiator's check of the responder's accepted proposal (RFC 7296 section 2.7).
final class NegotiationAcceptanceTests: XCTestCase {
    typealias F = NegotiationFixtures
    let ourSPI: [UInt8] = [0xc1, 0x00, 0x00, 0x01]
    let peerSPI: [UInt8] = [0xd2, 0x00, 0x00, 0x02]

    /// Our IKE offer and the responder's (our own selection code's) answer.
    func ikeExchange(offer: String, responder: String) throws -> (ProposalList, IKEv2SecurityAssociationPayload) {
        let offered = try F.ike(offer)
        let request = IKEv2ProposalCodec.saPayload(for: offered, protocol: .ike, spi: [])
        let selection = try F.success(IKEv2ProposalCodec.selectIKE(offered: request, ours: try F.ike(responder)))
        return (offered, selection.reply)
    }

    func testAcceptsTheResponderSelection() throws {
        let (offered, reply) = try ikeExchange(
            offer: "aes256gcm16-prfsha256-ecp256, aes256-sha256-modp2048", responder: "aes256-sha256-modp2048"
        )
        let accepted = try F.success(IKEv2ProposalCodec.acceptIKE(response: reply, offered: offered))
        XCTAssertEqual(accepted.proposalNumber, 2)
        XCTAssertEqual(accepted.peerSPI, [])
        XCTAssertEqual(accepted.suite.description, "aes256-sha256-prfsha256-modp2048")
    }

    func testAcceptsAnIKERekeyResponseWithItsSPI() throws {
        let offered = try F.ike("aes128gcm16-prfsha256-ecp256")
        let request = IKEv2ProposalCodec.saPayload(for: offered, protocol: .ike, spi: [1, 2, 3, 4, 5, 6, 7, 8])
        let responderSPI: [UInt8] = [9, 10, 11, 12, 13, 14, 15, 16]
        let selection = try F.success(
            IKEv2ProposalCodec.selectIKE(offered: request, ours: offered, localSPI: responderSPI)
        )
        XCTAssertEqual(selection.peerSPI, [1, 2, 3, 4, 5, 6, 7, 8])
        let accepted = try F.success(IKEv2ProposalCodec.acceptIKE(response: selection.reply, offered: offered))
        XCTAssertEqual(accepted.peerSPI, responderSPI)
    }

    func testRejectsTwoProposals() throws {
        let offered = try F.ike("aes256-sha256-modp2048, aes128-sha256-modp2048")
        let echoed = IKEv2ProposalCodec.saPayload(for: offered, protocol: .ike, spi: [])
        let failure = try F.failure(IKEv2ProposalCodec.acceptIKE(response: echoed, offered: offered))
        XCTAssertEqual(failure.code, .invalidResponse)
        XCTAssertNil(failure.notifyType)
        XCTAssertEqual(failure.reason, "2 proposals instead of exactly one")
        XCTAssertTrue(failure.description.hasPrefix("invalid IKE proposal in the response: 2 proposals"))
        XCTAssertEqual(
            try F.failure(IKEv2ProposalCodec.acceptIKE(response: F.sa(), offered: offered)).reason,
            "0 proposals instead of exactly one"
        )
    }

    func testRejectsAnUnknownProposalNumber() throws {
        var (offered, reply) = try ikeExchange(offer: "aes256-sha256-modp2048", responder: "aes256-sha256-modp2048")
        reply.proposals[0].number = 2
        XCTAssertEqual(
            try F.failure(IKEv2ProposalCodec.acceptIKE(response: reply, offered: offered)).reason,
            "proposal number 2 was not offered"
        )
        reply.proposals[0].number = 0
        _ = try F.failure(IKEv2ProposalCodec.acceptIKE(response: reply, offered: offered))
    }

    func testRejectsATransformFromAnotherProposal() throws {
        // Both ciphers were offered, but in different proposals: proposal 1 has aes256 only.
        let (offered, reply) = try ikeExchange(
            offer: "aes256-sha256-modp2048, aes128-sha256-modp2048", responder: "aes256-sha256-modp2048"
        )
        var swapped = reply
        swapped.proposals[0].transforms[0] = F.transform(.encryption, 12, keyLength: 128)
        let failure = try F.failure(IKEv2ProposalCodec.acceptIKE(response: swapped, offered: offered))
        XCTAssertEqual(failure.reason, "encryption aes128 was not offered in proposal 1")
        XCTAssertEqual(failure.peerProposals, "aes128-sha256-prfsha256-modp2048")

        var unknown = reply
        unknown.proposals[0].transforms[3] = F.transform(.keyExchangeMethod, 99)
        XCTAssertEqual(
            try F.failure(IKEv2ProposalCodec.acceptIKE(response: unknown, offered: offered)).reason,
            "DH group DH_99 was not offered in proposal 1"
        )
    }

    func testRejectsAMissingOrDuplicatedType() throws {
        let (offered, reply) = try ikeExchange(offer: "aes256-sha256-modp2048", responder: "aes256-sha256-modp2048")
        var missing = reply
        missing.proposals[0].transforms.removeAll { $0.type == .pseudorandomFunction }
        XCTAssertEqual(
            try F.failure(IKEv2ProposalCodec.acceptIKE(response: missing, offered: offered)).reason, "no PRF transform"
        )
        var twice = reply
        twice.proposals[0].transforms.append(F.transform(.integrity, 12))
        XCTAssertEqual(
            try F.failure(IKEv2ProposalCodec.acceptIKE(response: twice, offered: offered)).reason,
            "2 integrity transforms"
        )
        var extra = reply
        extra.proposals[0].transforms.append(F.transform(.extendedSequenceNumbers, 0))
        _ = try F.failure(IKEv2ProposalCodec.acceptIKE(response: extra, offered: offered))
    }

    func testRejectsIntegrityNextToAnAEADCipher() throws {
        let (offered, reply) = try ikeExchange(
            offer: "aes256gcm16-prfsha256-ecp256", responder: "aes256gcm16-prfsha256-ecp256"
        )
        var withIntegrity = reply
        withIntegrity.proposals[0].transforms.append(F.transform(.integrity, 12))
        XCTAssertEqual(
            try F.failure(IKEv2ProposalCodec.acceptIKE(response: withIntegrity, offered: offered)).reason,
            "unexpected integrity transform (none was offered)"
        )
    }

    func testRejectsWrongProtocolOrSPI() throws {
        let (offered, reply) = try ikeExchange(offer: "aes256-sha256-modp2048", responder: "aes256-sha256-modp2048")
        var esp = reply
        esp.proposals[0].protocolID = .esp
        XCTAssertEqual(
            try F.failure(IKEv2ProposalCodec.acceptIKE(response: esp, offered: offered)).reason,
            "protocol ESP instead of IKE"
        )
        var oddSPI = reply
        oddSPI.proposals[0].spi = [1, 2, 3]
        _ = try F.failure(IKEv2ProposalCodec.acceptIKE(response: oddSPI, offered: offered))
    }

    // MARK: - ESP

    func testAcceptsAChildSelection() throws {
        let offered = try F.esp("aes256gcm16, aes128-sha256-modp2048-esn-noesn")
        let request = IKEv2ProposalCodec.saPayload(for: offered, protocol: .esp, spi: ourSPI)
        let selection = try F.success(
            IKEv2ProposalCodec.selectChild(
                offered: request, ours: try F.esp("aes128-sha256-modp2048-esn"),
                localSPI: peerSPI)
        )
        XCTAssertEqual(selection.peerSPI, ourSPI)
        let accepted = try F.success(IKEv2ProposalCodec.acceptChild(response: selection.reply, offered: offered))
        XCTAssertEqual(accepted.proposalNumber, 2)
        XCTAssertEqual(accepted.peerSPI, peerSPI)
        XCTAssertEqual(accepted.suite.description, "aes128-sha256-modp2048-esn")
        XCTAssertEqual(accepted.suite, selection.suite)
    }

    func testChildResponseMustMatchPFSAndESN() throws {
        let offered = try F.esp("aes128-sha256")
        let request = IKEv2ProposalCodec.saPayload(for: offered, protocol: .esp, spi: ourSPI)
        let selection = try F.success(
            IKEv2ProposalCodec.selectChild(offered: request, ours: offered, localSPI: peerSPI))
        _ = try F.success(IKEv2ProposalCodec.acceptChild(response: selection.reply, offered: offered))

        var withGroup = selection.reply
        withGroup.proposals[0].transforms.insert(F.transform(.keyExchangeMethod, 14), at: 2)
        XCTAssertEqual(
            try F.failure(IKEv2ProposalCodec.acceptChild(response: withGroup, offered: offered)).reason,
            "unexpected DH group transform (none was offered)"
        )
        var withoutESN = selection.reply
        withoutESN.proposals[0].transforms.removeLast()
        XCTAssertEqual(
            try F.failure(IKEv2ProposalCodec.acceptChild(response: withoutESN, offered: offered)).reason,
            "no ESN transform"
        )
        var esnOn = selection.reply
        esnOn.proposals[0].transforms[esnOn.proposals[0].transforms.count - 1] = F.transform(
            .extendedSequenceNumbers, 1)
        XCTAssertEqual(
            try F.failure(IKEv2ProposalCodec.acceptChild(response: esnOn, offered: offered)).reason,
            "esn was not offered in proposal 1"
        )

        let pfsOffer = try F.esp("aes128-sha256-modp2048")
        var noGroup = IKEv2ProposalCodec.saPayload(for: pfsOffer, protocol: .esp, spi: peerSPI)
        noGroup.proposals[0].transforms.removeAll { $0.type == .keyExchangeMethod }
        XCTAssertEqual(
            try F.failure(IKEv2ProposalCodec.acceptChild(response: noGroup, offered: pfsOffer)).reason,
            "no DH group transform"
        )
    }
}
