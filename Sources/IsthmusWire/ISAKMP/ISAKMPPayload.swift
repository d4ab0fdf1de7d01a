/// One ISAKMP payload at the top level of a message (RFC 2408 section 3, RFC 3947).
///
/// Proposal and Transform payloads only occur nested in an SA payload and are modelled there.
public enum ISAKMPPayload: Hashable, Sendable {
    case securityAssociation(ISAKMPSecurityAssociationPayload)
    case keyExchange(DataPayload)
    case identification(ISAKMPIdentificationPayload)
    case certificate(CertificatePayload)
    case certificateRequest(CertificatePayload)
    case hash(DataPayload)
    case signature(DataPayload)
    case nonce(ISAKMPNoncePayload)
    case notification(ISAKMPNotificationPayload)
    case delete(ISAKMPDeletePayload)
    case vendorID(DataPayload)
    /// NAT-D: a hash of an address and port (RFC 3947 section 3.2).
    case natDiscovery(DataPayload)
    case natOriginalAddress(ISAKMPNATOriginalAddressPayload)
    /// A payload of a type this codec does not know, kept raw. ISAKMP has no critical bit; the
    /// caller decides whether to answer INVALID-PAYLOAD-TYPE.
    case unknown(type: ISAKMPPayloadType, body: [UInt8])

    /// The payload type written in the previous payload's Next Payload field.
    public var payloadType: ISAKMPPayloadType {
        switch self {
        case .securityAssociation: .securityAssociation
        case .keyExchange: .keyExchange
        case .identification: .identification
        case .certificate: .certificate
        case .certificateRequest: .certificateRequest
        case .hash: .hash
        case .signature: .signature
        case .nonce: .nonce
        case .notification: .notification
        case .delete: .delete
        case .vendorID: .vendorID
        case .natDiscovery: .natDiscovery
        case .natOriginalAddress: .natOriginalAddress
        case .unknown(let type, _): type
        }
    }
}

extension ISAKMPPayload: ChainedPayload {
    func serializeBody(into writer: inout WireWriter) {
        switch self {
        case .securityAssociation(let body): body.serializeBody(into: &writer)
        case .keyExchange(let body): body.serializeBody(into: &writer)
        case .identification(let body): body.serializeBody(into: &writer)
        case .certificate(let body): body.serializeBody(into: &writer)
        case .certificateRequest(let body): body.serializeBody(into: &writer)
        case .hash(let body): body.serializeBody(into: &writer)
        case .signature(let body): body.serializeBody(into: &writer)
        case .nonce(let body): body.serializeBody(into: &writer)
        case .notification(let body): body.serializeBody(into: &writer)
        case .delete(let body): body.serializeBody(into: &writer)
        case .vendorID(let body): body.serializeBody(into: &writer)
        case .natDiscovery(let body): body.serializeBody(into: &writer)
        case .natOriginalAddress(let body): body.serializeBody(into: &writer)
        case .unknown(_, let body): writer.writeBytes(body)
        }
    }
}

extension ISAKMPPayloadType: PayloadTypeCode {}
