import IsthmusCrypto
import IsthmusIKE
import IsthmusIP

/// Everything an IKEv2 SA needs to know about its connection: the settings every IKE connection has
/// (``IKEConnectionSettings``, whose members read as this type's own: `configuration.local`), its identities
/// and fragmentation. The daemon builds it from the gateway configuration (IsthmusGateway), so this module
/// never sees YAML.
public struct IKEv2Configuration: IKEConfiguration {
    /// What IKEv2 shares with IKEv1.
    public var settings: IKEConnectionSettings
    /// Our identity (IDi or IDr) and the one the peer must authenticate as (RFC 7296 section 3.5): by
    /// default ID_IPV4_ADDR / ID_IPV6_ADDR of the public addresses.
    public var localIdentity: IKEIdentity
    public var remoteIdentity: IKEIdentity
    /// Largest IKE message sent whole; larger protected messages are fragmented (RFC 7383) when the
    /// peer announced support.
    public var fragmentSize: Int
    /// The users EAP-MSCHAPv2 clients authenticate as (RFC 7296 section 2.16; point-to-site with
    /// `eap-mschapv2` in `point_to_site.auth`); nil: a responder asks for AUTH in the first IKE_AUTH.
    public var eapUsers: EAPUserDatabase? = nil
    /// With ``eapUsers``: clients must use EAP (`point_to_site.auth` without `psk`); an IKE_AUTH whose AUTH is
    /// the pre-shared key's is refused with AUTHENTICATION_FAILED.
    public var eapRequired = false
    /// Pre-shared key (the default) or certificates.
    public var authentication: IKEv2Authentication = .sharedKey
    /// Whether ``remoteIdentity`` was configured (`remote_id`). With certificates and no `remote_id`, any
    /// identity the peer's certificate certifies is accepted and an initiator sends no IDr (strongSwan's
    /// `%any`); with a pre-shared key the default identity (the peer's address) is always checked.
    public var remoteIdentityConfigured = true
    /// With certificates: the SHA-1 hashes of our trust roots' SubjectPublicKeyInfo, sent in CERTREQ (RFC 7296
    /// section 3.7) so the peer picks a certificate we can verify; ``IKEv2Authentication/keyHashes(ofRootsDER:)``
    /// makes them.
    public var certificateRequestHashes: [[UInt8]] = []
    /// Responder of point-to-site clients: answer their CFG_REQUEST with an address of the pool (nil: a
    /// site-to-site connection, which ignores CP payloads). Any identity the peer authenticates as is
    /// accepted; the pool keys on it.
    public var pointToSite: IKEv2PointToSite?
    /// Initiator: ask for a virtual address with CP(CFG_REQUEST) in IKE_AUTH, as a remote-access client does.
    public var requestsVirtualAddress = false

    /// strongSwan's default `fragment_size`: fits IPv6's minimum MTU with room for the headers.
    public static let defaultFragmentSize = 1280

    public init(
        _ settings: IKEConnectionSettings, localIdentity: IKEIdentity, remoteIdentity: IKEIdentity,
        fragmentSize: Int = IKEv2Configuration.defaultFragmentSize
    ) {
        self.settings = settings
        self.localIdentity = localIdentity
        self.remoteIdentity = remoteIdentity
        self.fragmentSize = fragmentSize
    }
}
