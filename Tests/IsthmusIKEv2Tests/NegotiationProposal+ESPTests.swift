import IsthmusCrypto
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

/// ESP proposals of NegotiationProposalTests: SPIs, PFS (a KE group in the CHILD SA proposal) and
/// extended sequence numbers, AEAD with integrity none, wrong SPI sizes.
extension NegotiationProposalTests {
    // MARK: - ESP: PFS and ESN

    func testChildSelectionCarriesSPIsAndPFS() throws {
        let peer = IKEv2ProposalCodec.saPayload(
            for: try F.esp("aes128-sha256-modp2048"), protocol: .esp, spi: peerESPSPI)
        let selection = try F.success(
            IKEv2ProposalCodec.selectChild(offered: peer, ours: try F.esp("aes128-sha256-modp2048"), localSPI: espSPI)
        )
        XCTAssertEqual(selection.peerSPI, peerESPSPI)
        XCTAssertEqual(selection.reply.proposals[0].spi, espSPI)
        XCTAssertEqual(selection.reply.proposals[0].protocolID, .esp)
        XCTAssertEqual(selection.suite.keyExchange?.keyword, "modp2048")
        XCTAssertFalse(selection.suite.extendedSequenceNumbers)
        XCTAssertEqual(selection.suite.description, "aes128-sha256-modp2048")
        XCTAssertEqual(
            selection.reply.proposals[0].transforms,
            [
                F.transform(.encryption, 12, keyLength: 128), F.transform(.integrity, 12),
                F.transform(.keyExchangeMethod, 14), F.transform(.extendedSequenceNumbers, 0),
            ]
        )
    }

    func testPFSMustAgree() throws {
        let withPFS = IKEv2ProposalCodec.saPayload(
            for: try F.esp("aes128-sha256-modp2048"), protocol: .esp, spi: peerESPSPI)
        let withoutPFS = IKEv2ProposalCodec.saPayload(for: try F.esp("aes128-sha256"), protocol: .esp, spi: peerESPSPI)
        let oursPFS = try F.esp("aes128-sha256-modp2048")
        let oursNoPFS = try F.esp("aes128-sha256")
        _ = try F.failure(IKEv2ProposalCodec.selectChild(offered: withoutPFS, ours: oursPFS, localSPI: espSPI))
        _ = try F.failure(IKEv2ProposalCodec.selectChild(offered: withPFS, ours: oursNoPFS, localSPI: espSPI))
        let plain = try F.success(
            IKEv2ProposalCodec.selectChild(offered: withoutPFS, ours: oursNoPFS, localSPI: espSPI))
        XCTAssertNil(plain.suite.keyExchange)
        XCTAssertEqual(plain.suite.description, "aes128-sha256")
        XCTAssertFalse(plain.reply.proposals[0].transforms.contains { $0.type == .keyExchangeMethod })
    }

    func testOptionalPFSWithNone() throws {
        let optional = F.sa(
            F.proposal(
                1, .esp, spi: peerESPSPI,
                [
                    F.transform(.encryption, 12, keyLength: 128), F.transform(.integrity, 12),
                    F.transform(.keyExchangeMethod, 14), F.transform(.keyExchangeMethod, 0),
                    F.transform(.extendedSequenceNumbers, 0),
                ])
        )
        let noPFS = try F.success(
            IKEv2ProposalCodec.selectChild(offered: optional, ours: try F.esp("aes128-sha256"), localSPI: espSPI)
        )
        XCTAssertNil(noPFS.suite.keyExchange)
        // The reply has exactly one transform of each type the proposal had: D-H NONE.
        XCTAssertEqual(noPFS.reply.proposals[0].transforms[2], F.transform(.keyExchangeMethod, 0))
        let pfs = try F.success(
            IKEv2ProposalCodec.selectChild(
                offered: optional, ours: try F.esp("aes128-sha256-modp2048"), localSPI: espSPI)
        )
        XCTAssertEqual(pfs.suite.keyExchange?.ikev2ID, 14)
        let failure = try F.failure(
            IKEv2ProposalCodec.selectChild(offered: optional, ours: try F.esp("aes256gcm16"), localSPI: espSPI)
        )
        XCTAssertEqual(failure.peerProposals, "aes128-sha256-modp2048-none")
    }

    func testExtendedSequenceNumbers() throws {
        func offer(_ text: String) throws -> IKEv2SecurityAssociationPayload {
            IKEv2ProposalCodec.saPayload(for: try F.esp(text), protocol: .esp, spi: peerESPSPI)
        }
        let esn = try F.success(
            IKEv2ProposalCodec.selectChild(
                offered: try offer("aes128-sha256-modp2048-esn"),
                ours: try F.esp("aes128-sha256-modp2048-esn"), localSPI: espSPI)
        )
        XCTAssertTrue(esn.suite.extendedSequenceNumbers)
        XCTAssertEqual(esn.suite.description, "aes128-sha256-modp2048-esn")
        XCTAssertEqual(esn.reply.proposals[0].transforms.last, F.transform(.extendedSequenceNumbers, 1))

        // We want ESN only; the peer offers only "no ESN".
        _ = try F.failure(
            IKEv2ProposalCodec.selectChild(
                offered: try offer("aes128-sha256"), ours: try F.esp("aes128-sha256-esn"),
                localSPI: espSPI)
        )
        // Our empty ESN list means "no ESN only".
        _ = try F.failure(
            IKEv2ProposalCodec.selectChild(
                offered: try offer("aes128-sha256-esn"), ours: try F.esp("aes128-sha256"),
                localSPI: espSPI)
        )
        // Both offered by the peer: our preference decides.
        let either = try offer("aes128-sha256-esn-noesn")
        let off = try F.success(
            IKEv2ProposalCodec.selectChild(offered: either, ours: try F.esp("aes128-sha256"), localSPI: espSPI))
        XCTAssertFalse(off.suite.extendedSequenceNumbers)
        let on = try F.success(
            IKEv2ProposalCodec.selectChild(
                offered: either, ours: try F.esp("aes128-sha256-esn-noesn"), localSPI: espSPI)
        )
        XCTAssertTrue(on.suite.extendedSequenceNumbers)

        // No ESN transform at all: "no ESN", and none in the reply.
        let noESNTransform = F.sa(
            F.proposal(
                1, .esp, spi: peerESPSPI, [F.transform(.encryption, 12, keyLength: 128), F.transform(.integrity, 12)])
        )
        let bare = try F.success(
            IKEv2ProposalCodec.selectChild(offered: noESNTransform, ours: try F.esp("aes128-sha256"), localSPI: espSPI)
        )
        XCTAssertFalse(bare.suite.extendedSequenceNumbers)
        XCTAssertEqual(bare.reply.proposals[0].transforms.count, 2)
        _ = try F.failure(
            IKEv2ProposalCodec.selectChild(
                offered: noESNTransform, ours: try F.esp("aes128-sha256-esn"), localSPI: espSPI)
        )
    }

    func testAEADChildWithIntegrityNone() throws {
        let offered = F.sa(
            F.proposal(
                1, .esp, spi: peerESPSPI,
                [
                    F.transform(.encryption, 20, keyLength: 256), F.transform(.integrity, 0),
                    F.transform(.extendedSequenceNumbers, 0),
                ])
        )
        let selection = try F.success(
            IKEv2ProposalCodec.selectChild(offered: offered, ours: try F.esp("aes256gcm16"), localSPI: espSPI)
        )
        XCTAssertEqual(selection.suite.description, "aes256gcm16")
        XCTAssertEqual(selection.reply.proposals[0].transforms[1], F.transform(.integrity, 0))

        // A real integrity algorithm next to an AEAD cipher is not acceptable for our AEAD proposal.
        let mixed = F.sa(
            F.proposal(
                1, .esp, spi: peerESPSPI,
                [
                    F.transform(.encryption, 20, keyLength: 256), F.transform(.integrity, 12),
                    F.transform(.extendedSequenceNumbers, 0),
                ])
        )
        _ = try F.failure(
            IKEv2ProposalCodec.selectChild(offered: mixed, ours: try F.esp("aes256gcm16"), localSPI: espSPI))
    }

    func testESPProposalWithWrongSPISizeIsSkipped() throws {
        let ours = try F.esp("aes256-sha256")
        var offered = IKEv2ProposalCodec.saPayload(for: ours, protocol: .esp, spi: peerESPSPI)
        offered.proposals[0].spi = [1, 2, 3, 4, 5, 6, 7, 8]
        _ = try F.failure(IKEv2ProposalCodec.selectChild(offered: offered, ours: ours, localSPI: espSPI))
        offered.proposals[0].spi = []
        _ = try F.failure(IKEv2ProposalCodec.selectChild(offered: offered, ours: ours, localSPI: espSPI))
    }
}
