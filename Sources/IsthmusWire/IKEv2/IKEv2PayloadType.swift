/// An IKEv2 payload type, the value of a Next Payload field (RFC 7296 section 3.2,
/// IANA "IKEv2 Payload Types").
public struct IKEv2PayloadType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// No Next Payload (0): the chain ends.
    public static let none = IKEv2PayloadType(rawValue: 0)
    /// Security Association (SA), RFC 7296 section 3.3.
    public static let securityAssociation = IKEv2PayloadType(rawValue: 33)
    /// Key Exchange (KE), RFC 7296 section 3.4.
    public static let keyExchange = IKEv2PayloadType(rawValue: 34)
    /// Identification - Initiator (IDi), RFC 7296 section 3.5.
    public static let identificationInitiator = IKEv2PayloadType(rawValue: 35)
    /// Identification - Responder (IDr), RFC 7296 section 3.5.
    public static let identificationResponder = IKEv2PayloadType(rawValue: 36)
    /// Certificate (CERT), RFC 7296 section 3.6.
    public static let certificate = IKEv2PayloadType(rawValue: 37)
    /// Certificate Request (CERTREQ), RFC 7296 section 3.7.
    public static let certificateRequest = IKEv2PayloadType(rawValue: 38)
    /// Authentication (AUTH), RFC 7296 section 3.8.
    public static let authentication = IKEv2PayloadType(rawValue: 39)
    /// Nonce (Ni, Nr), RFC 7296 section 3.9.
    public static let nonce = IKEv2PayloadType(rawValue: 40)
    /// Notify (N), RFC 7296 section 3.10.
    public static let notify = IKEv2PayloadType(rawValue: 41)
    /// Delete (D), RFC 7296 section 3.11.
    public static let delete = IKEv2PayloadType(rawValue: 42)
    /// Vendor ID (V), RFC 7296 section 3.12.
    public static let vendorID = IKEv2PayloadType(rawValue: 43)
    /// Traffic Selector - Initiator (TSi), RFC 7296 section 3.13.
    public static let trafficSelectorInitiator = IKEv2PayloadType(rawValue: 44)
    /// Traffic Selector - Responder (TSr), RFC 7296 section 3.13.
    public static let trafficSelectorResponder = IKEv2PayloadType(rawValue: 45)
    /// Encrypted and Authenticated (SK), RFC 7296 section 3.14.
    public static let encrypted = IKEv2PayloadType(rawValue: 46)
    /// Configuration (CP), RFC 7296 section 3.15.
    public static let configuration = IKEv2PayloadType(rawValue: 47)
    /// Extensible Authentication (EAP), RFC 7296 section 3.16.
    public static let eap = IKEv2PayloadType(rawValue: 48)
    /// Encrypted and Authenticated Fragment (SKF), RFC 7383 section 2.5.
    public static let encryptedFragment = IKEv2PayloadType(rawValue: 53)

    public var description: String {
        "IKEv2PayloadType(\(self.rawValue))"
    }
}
