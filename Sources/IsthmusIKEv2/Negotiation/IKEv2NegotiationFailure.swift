import IsthmusCrypto
import IsthmusWire

/// Why SA negotiation failed, with both sides written out in strongSwan keywords for the log.
public struct IKEv2NegotiationFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: Sendable, Hashable {
        /// Responder: no offered proposal matches ours; answer NO_PROPOSAL_CHOSEN (RFC 7296 section 2.7).
        case noProposalChosen
        /// Initiator: the responder's accepted proposal is not one we could have sent
        /// (RFC 7296 section 2.7: "the initiator MUST verify ... and if not, reject").
        case invalidResponse
    }

    public let code: Code
    /// IKE or ESP.
    public let proposalProtocol: ProposalProtocol
    /// The peer's proposals in strongSwan keywords (unknown IDs as `ENCR_99`), comma-separated.
    public let peerProposals: String
    /// Our proposals in strongSwan keywords, comma-separated.
    public let ourProposals: String
    /// For ``Code/invalidResponse``: what exactly was wrong with the response.
    public let reason: String?

    public init(
        code: Code, proposalProtocol: ProposalProtocol, peerProposals: String, ourProposals: String,
        reason: String? = nil
    ) {
        self.code = code
        self.proposalProtocol = proposalProtocol
        self.peerProposals = peerProposals
        self.ourProposals = ourProposals
        self.reason = reason
    }

    /// The notification a responder sends for this failure (NO_PROPOSAL_CHOSEN); nil for initiator failures,
    /// which are not answered (RFC 7296 section 2.21).
    public var notifyType: IKEv2NotifyType? {
        switch code {
        case .noProposalChosen: .noProposalChosen
        case .invalidResponse: nil
        }
    }

    /// One log line, e.g. `no acceptable IKE proposal: peer offered aes128-sha1-prfsha1-modp1024; we accept
    /// aes256gcm16-prfsha256-ecp256, aes256-sha256-prfsha256-modp2048`.
    public var description: String {
        switch code {
        case .noProposalChosen:
            return "no acceptable \(proposalProtocol) proposal: peer offered \(peerProposals); "
                + "we accept \(ourProposals)"
        case .invalidResponse:
            return "invalid \(proposalProtocol) proposal in the response: \(reason ?? "not acceptable"); "
                + "peer chose \(peerProposals); we offered \(ourProposals)"
        }
    }
}
