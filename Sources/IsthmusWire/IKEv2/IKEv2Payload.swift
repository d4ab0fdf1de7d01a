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
    case certificate(IKEv2CertificatePayload)
    case certificateRequest(IKEv2CertificatePayload)
    case authentication(IKEv2AuthenticationPayload)
    case nonce(IKEv2NoncePayload)
    case notify(IKEv2NotifyPayload)
    case delete(IKEv2DeletePayload)
    case vendorID(IKEv2VendorIDPayload)
    case trafficSelectorInitiator(IKEv2TrafficSelectorPayload)
    case trafficSelectorResponder(IKEv2TrafficSelectorPayload)
    /// SK: must be the last payload of a chain.
    case encrypted(IKEv2EncryptedPayload)
    /// SKF: must be the last payload of a chain.
    case encryptedFragment(IKEv2EncryptedFragmentPayload)
    case configuration(IKEv2ConfigurationPayload)
    case eap(IKEv2EAPPayload)
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

    /// Whether this payload type ends a chain (SK, SKF): its Next Payload field names the first
    /// inner payload instead of a following outer one.
    var endsChain: Bool {
        switch self {
        case .encrypted, .encryptedFragment: true
        default: false
        }
    }
}
