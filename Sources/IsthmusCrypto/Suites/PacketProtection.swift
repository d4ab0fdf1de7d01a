/// Negotiated protection for one direction of one SA: ESP packets or IKE `SK` payloads.
///
/// A value is created once per SA from the key (the per-SA state — key schedule, pre-keyed HMAC,
/// libcrypto context — lives inside) and then seals or opens packets in place, so the backend can
/// change (swift-crypto, system libcrypto) without touching callers.
///
/// ## Buffer layout
/// Both ``seal(_:associatedData:trailingData:)`` and ``open(_:associatedData:trailingData:)`` work on one
/// contiguous buffer:
///
/// ```
/// | IV (ivLength) | payload (plaintext <-> ciphertext, same length) | ICV (icvLength) |
/// ```
///
/// - The caller writes the IV before sealing. For AES-GCM and ChaCha20-Poly1305 it must never repeat
///   under one key (the ESP sequence number is the usual choice, RFC 4106 section 3.1); for CBC
///   ciphers it must be unpredictable (fill it from a CSPRNG, RFC 3602 section 2.4).
/// - The payload must already be padded by the caller to a multiple of ``blockSize`` (ESP: RFC 4303
///   section 2.4, including Pad Length and Next Header; IKE: RFC 7296 section 3.14).
/// - `associatedData` is authenticated but neither encrypted nor copied. For ESP with 32-bit
///   sequence numbers it is SPI || sequence number (the ESP header, RFC 4106 section 5 and RFC 4303
///   section 3.3.2); for an IKE `SK` payload it is the IKE header and all payloads up to and
///   including the `SK` generic payload header (RFC 7296 section 3.14, RFC 5282 section 5.1).
/// - `trailingData` is authenticated after the payload but not transmitted: the high-order 32 bits
///   of an extended sequence number for encrypt-then-MAC transforms (RFC 4303 section 3.3.2.1).
///   AEADs take ESN differently — `associatedData` = SPI || seq-high || seq-low (RFC 4106 section 5) —
///   and reject a non-empty `trailingData`.
///
/// ## Invariants
/// - `open` never exposes unauthenticated plaintext: when it throws, the payload region holds either
///   the untouched ciphertext (encrypt-then-MAC verifies before decrypting) or zeros (AEAD backends
///   that decrypt in place wipe the region before throwing).
/// - Neither method allocates per packet on the backends the factory builds (libcrypto AES-GCM,
///   ChaCha20-Poly1305, AES-CBC, 3DES and DES with libcrypto HMAC, all in place; ESPAllocationTests
///   counts). swift-crypto's one-shot AES-GCM, ChaCha20-Poly1305 and AES-CBC calls and its `HMAC`
///   allocate internally; those types live on only as test oracles (Tests/IsthmusCryptoTests/Oracles).
/// - Neither method traps on malformed input: a wrong layout is a ``IsthmusCryptoError``.
public protocol PacketProtection: Sendable {
    /// Bytes of explicit IV at the start of the buffer (8 for GCM and ChaCha20-Poly1305, the cipher
    /// block size for CBC ciphers).
    var ivLength: Int { get }
    /// Bytes of integrity check value at the end of the buffer.
    var icvLength: Int { get }
    /// The payload length must be a multiple of this (16 AES-CBC, 8 DES/3DES, 1 for AEADs; ESP
    /// additionally aligns to 4 bytes, RFC 4303 section 2.4).
    var blockSize: Int { get }

    /// Encrypts the payload in place and writes the ICV.
    ///
    /// - Parameters:
    ///   - packet: IV (already written) | plaintext | room for the ICV.
    ///   - associatedData: bytes authenticated before the packet (see the type's documentation).
    ///   - trailingData: bytes authenticated after the payload, not sent (ESN high bits; empty otherwise).
    func seal(
        _ packet: UnsafeMutableRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer
    ) throws(IsthmusCryptoError)

    /// Verifies the ICV and decrypts the payload in place.
    ///
    /// - Parameters:
    ///   - packet: IV | ciphertext | ICV, as received.
    ///   - associatedData: the same bytes the sender authenticated before the packet.
    ///   - trailingData: the same bytes the sender authenticated after the payload (ESN high bits).
    /// - Throws: ``IsthmusCryptoError/Code/authenticationFailure`` when the ICV does not match; the
    ///   payload region then holds no plaintext.
    func open(
        _ packet: UnsafeMutableRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer
    ) throws(IsthmusCryptoError)
}

extension PacketProtection {
    /// ``seal(_:associatedData:trailingData:)`` with no trailing data (no ESN, or an AEAD).
    public func seal(
        _ packet: UnsafeMutableRawBufferPointer, associatedData: UnsafeRawBufferPointer
    ) throws(IsthmusCryptoError) {
        try seal(packet, associatedData: associatedData, trailingData: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// ``open(_:associatedData:trailingData:)`` with no trailing data (no ESN, or an AEAD).
    public func open(
        _ packet: UnsafeMutableRawBufferPointer, associatedData: UnsafeRawBufferPointer
    ) throws(IsthmusCryptoError) {
        try open(packet, associatedData: associatedData, trailingData: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// AEADs authenticate ESN through `associatedData` (RFC 4106 section 5), never through a trailer.
    func requireNoTrailingData(_ trailingData: UnsafeRawBufferPointer) throws(IsthmusCryptoError) {
        guard trailingData.count == 0 else {
            throw .invalidPacketLayout(
                "AEAD transforms take ESN high bits in associatedData (RFC 4106 section 5), not trailingData")
        }
    }

    /// The range of the payload inside a packet buffer of `count` bytes, or `nil` when the buffer
    /// cannot hold the IV and the ICV or the payload is not a whole number of blocks.
    public func payloadRange(inPacketOfLength count: Int) -> Range<Int>? {
        let end = count - icvLength
        guard blockSize > 0, ivLength >= 0, ivLength <= end, (end - ivLength) % blockSize == 0 else { return nil }
        return ivLength..<end
    }

    /// Splits `packet` into IV, payload and ICV, validating the layout.
    func split(
        _ packet: UnsafeMutableRawBufferPointer
    ) throws(IsthmusCryptoError) -> (
        iv: UnsafeMutableRawBufferPointer, payload: UnsafeMutableRawBufferPointer, icv: UnsafeMutableRawBufferPointer
    ) {
        guard let range = payloadRange(inPacketOfLength: packet.count) else {
            throw .invalidPacketLayout(
                "packet of \(packet.count) bytes does not fit IV \(ivLength) + blocks of \(blockSize)"
                    + " + ICV \(icvLength)"
            )
        }
        return (
            UnsafeMutableRawBufferPointer(rebasing: packet[0..<range.lowerBound]),
            UnsafeMutableRawBufferPointer(rebasing: packet[range]),
            UnsafeMutableRawBufferPointer(rebasing: packet[range.upperBound...])
        )
    }
}
