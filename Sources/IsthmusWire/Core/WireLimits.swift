/// Hard limits applied while parsing untrusted input.
///
/// Every count read from the wire is checked against one of these before it is used, so a hostile
/// peer cannot make the parser loop or allocate without bound.
public enum WireLimits {
    /// The largest IKE or ISAKMP message accepted: 65535 bytes.
    ///
    /// IKE runs over UDP whose length field is 16 bits (RFC 768), so no datagram can be larger.
    /// The 32-bit message length of RFC 7296 section 3.1 / RFC 2408 section 3.1 is checked against it.
    public static let maximumMessageLength = 65535

    /// The largest number of payloads in one payload chain (outer or inner): 64.
    ///
    /// A real IKE_AUTH carries about a dozen payloads; 64 leaves room for many notifications and
    /// vendor IDs while bounding the work done on one message (each payload costs at least 4 bytes,
    /// so without a limit a 64 KiB datagram could hold 16k empty payloads).
    public static let maximumPayloadCount = 64

    /// The largest number of proposals in one SA payload: 64.
    ///
    /// RFC 7296 section 3.3 numbers proposals with one octet; real configurations offer a handful.
    public static let maximumProposalCount = 64

    /// The largest number of transforms in one proposal: 128.
    ///
    /// The transform count is one octet (RFC 7296 section 3.3.1, RFC 2408 section 3.5). A proposal
    /// offering every cipher, PRF, integrity algorithm and group stays well below this.
    public static let maximumTransformCount = 128

    /// The largest number of attributes in one transform or one configuration payload: 64.
    ///
    /// IKEv2 transforms carry at most a key length (RFC 7296 section 3.3.5); IKEv1 Phase 1
    /// transforms carry about eight (RFC 2409 Appendix A); CP payloads ask for a few addresses.
    public static let maximumAttributeCount = 64

    /// The largest number of traffic selectors in one TS payload: 64 (RFC 7296 section 3.13).
    public static let maximumTrafficSelectorCount = 64

    /// The largest number of SPIs in one Delete payload: 1024.
    ///
    /// Bounded anyway by the message length; the limit caps the per-message work of a peer that
    /// deletes many Child SAs at once (RFC 7296 section 3.11, RFC 2408 section 3.15).
    public static let maximumDeleteSPICount = 1024

    /// The largest SPI accepted in a proposal, notification or delete payload: 16 bytes.
    ///
    /// IKE SPIs are 8 bytes, ESP/AH SPIs 4 bytes, ISAKMP Phase 1 SPIs are the 16-byte cookie pair
    /// (RFC 2408 section 2.4); nothing larger is defined.
    public static let maximumSPISize = 16

    /// The smallest IKEv2 nonce: 16 bytes (RFC 7296 section 3.9).
    public static let minimumIKEv2NonceLength = 16

    /// The largest IKEv2 nonce: 256 bytes (RFC 7296 section 3.9).
    public static let maximumIKEv2NonceLength = 256

    /// The smallest IKEv1 nonce: 8 bytes (RFC 2409 section 5).
    public static let minimumIKEv1NonceLength = 8

    /// The largest IKEv1 nonce: 256 bytes (RFC 2409 section 5).
    public static let maximumIKEv1NonceLength = 256

    /// The longest run of trailing padding accepted after the last payload of a decrypted
    /// IKEv1 body: 255 bytes.
    ///
    /// IKEv1 encrypts whole cipher blocks (RFC 2409 Appendix B); block sizes are
    /// 8 or 16 bytes, but some implementations add extra blocks, so the bound is one octet's worth.
    public static let maximumIKEv1PaddingLength = 255
}
