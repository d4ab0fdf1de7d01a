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
