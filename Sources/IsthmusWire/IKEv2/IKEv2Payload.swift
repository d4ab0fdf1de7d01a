/// One IKEv2 payload (RFC 7296 section 3.2 onwards).
///
/// The generic payload header (next payload, critical bit, length) is not stored: it is derived
/// from the position in the chain when serializing. The critical bit of known payloads is ignored
/// on receipt and sent as zero (RFC 7296 section 3.2).
public enum IKEv2Payload: Hashable, Sendable {
    case securityAssociation(IKEv2SecurityAssociationPayload)
    case keyExchange(IKEv2KeyExchangePayload)
    case identificationInitiator(IKEv2IdentificationPayload)
    case identificationResponder(IKEv2IdentificationPayload)
    case certificate(CertificatePayload)
    case certificateRequest(CertificatePayload)
    case authentication(IKEv2AuthenticationPayload)
    case nonce(IKEv2NoncePayload)
    case notify(IKEv2NotifyPayload)
    case delete(IKEv2DeletePayload)
    /// V: opaque bytes, usually a hash (RFC 7296 section 3.12).
    case vendorID(DataPayload)
    case trafficSelectorInitiator(IKEv2TrafficSelectorPayload)
    case trafficSelectorResponder(IKEv2TrafficSelectorPayload)
    /// SK: must be the last payload of a chain.
    case encrypted(IKEv2EncryptedPayload)
    /// SKF: must be the last payload of a chain.
    case encryptedFragment(IKEv2EncryptedFragmentPayload)
    case configuration(IKEv2ConfigurationPayload)
    /// EAP: one EAP message (RFC 3748: Code, Identifier, Length, Type, data), kept raw.
    case eap(DataPayload)
    /// A non-critical payload of an unknown type.
    case unknown(IKEv2UnknownPayload)

    /// The payload type written in the previous payload's Next Payload field.
    public var payloadType: IKEv2PayloadType {
        switch self {
        case .securityAssociation: .securityAssociation
        case .keyExchange: .keyExchange
        case .identificationInitiator: .identificationInitiator
        case .identificationResponder: .identificationResponder
        case .certificate: .certificate
        case .certificateRequest: .certificateRequest
        case .authentication: .authentication
        case .nonce: .nonce
        case .notify: .notify
        case .delete: .delete
        case .vendorID: .vendorID
        case .trafficSelectorInitiator: .trafficSelectorInitiator
        case .trafficSelectorResponder: .trafficSelectorResponder
        case .encrypted: .encrypted
        case .encryptedFragment: .encryptedFragment
        case .configuration: .configuration
        case .eap: .eap
        case .unknown(let payload): payload.payloadType
        }
    }
}

extension IKEv2Payload: ChainedPayload {
    /// SK and SKF end the chain: their Next Payload field names the first inner payload.
    var firstInnerPayloadType: IKEv2PayloadType? {
        switch self {
        case .encrypted(let sk): sk.firstInnerPayloadType
        case .encryptedFragment(let skf): skf.firstInnerPayloadType
        default: nil
        }
    }

    /// The critical bit is sent only on an unknown payload that had it (RFC 7296 section 3.2).
    var headerFlags: UInt8 {
        if case .unknown(let unknown) = self, unknown.isCritical {
            return IKEv2PayloadChain.criticalBit
        }
        return 0
    }

    func serializeBody(into writer: inout WireWriter) {
        switch self {
        case .securityAssociation(let body): body.serializeBody(into: &writer)
        case .keyExchange(let body): body.serializeBody(into: &writer)
        case .identificationInitiator(let body): body.serializeBody(into: &writer)
        case .identificationResponder(let body): body.serializeBody(into: &writer)
        case .certificate(let body): body.serializeBody(into: &writer)
        case .certificateRequest(let body): body.serializeBody(into: &writer)
        case .authentication(let body): body.serializeBody(into: &writer)
        case .nonce(let body): body.serializeBody(into: &writer)
        case .notify(let body): body.serializeBody(into: &writer)
        case .delete(let body): body.serializeBody(into: &writer)
        case .vendorID(let body): body.serializeBody(into: &writer)
        case .trafficSelectorInitiator(let body): body.serializeBody(into: &writer)
        case .trafficSelectorResponder(let body): body.serializeBody(into: &writer)
        case .configuration(let body): body.serializeBody(into: &writer)
        case .eap(let body): body.serializeBody(into: &writer)
        case .encrypted(let body): writer.writeBytes(body.body)
        case .encryptedFragment(let body): body.serializeBody(into: &writer)
        case .unknown(let body): writer.writeBytes(body.body)
        }
    }
}

extension IKEv2PayloadType: PayloadTypeCode {}
