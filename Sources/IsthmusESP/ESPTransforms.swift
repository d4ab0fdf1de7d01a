import IsthmusCrypto

/// The cipher and integrity transforms of one SA pair: the keys are kept, the keyed libcrypto contexts exist only
/// while the pair carries traffic.
///
/// A keyed context is built the first time a packet needs it (a few microseconds: the key schedule) and released
/// when the engine's ticks have seen the pair's packet count stand still for ``idleTimeBeforeRelease``. The contexts
/// of an AES-GCM pair were about 2.9 KB, the largest part of an idle tunnel's memory: 10,000 point-to-site clients
/// that connect and stay quiet now cost no context at all, and one that sends gets its contexts back on its
/// first packet. `init` builds both directions once, so that a suite libcrypto cannot key fails the install, not
/// a packet.
struct ESPTransforms {
    /// How long a pair goes without a packet (as the engine's ticks see it) before its keyed contexts go.
    static let idleTimeBeforeRelease: Duration = .seconds(60)

    let ivLength: Int
    let icvLength: Int
    let blockSize: Int
    let isAEAD: Bool

    private let encryptionID: UInt16
    private let keyBits: Int?
    private let integrityID: UInt16?
    private let inboundKeys: (encryption: SecretBytes, integrity: SecretBytes?)
    private let outboundKeys: (encryption: SecretBytes, integrity: SecretBytes?)
    private var inbound: (any PacketProtection)?
    private var outbound: (any PacketProtection)?
    /// Packets counted at the last tick, and the tick time at which that count last moved.
    private var packetsAtTick: UInt64 = 0
    private var lastActive: Duration

    init(_ sa: ESPSecurityAssociation, now: Duration) throws(ESPInstallError) {
        lastActive = now
        let aead: Bool
        do {
            aead = try CryptoSuites.isAEAD(encryptionID: sa.encryption.ikev2ID)
        } catch {
            throw .crypto(error)
        }
        encryptionID = sa.encryption.ikev2ID
        keyBits = sa.encryption.keyLengthBits
        integrityID = aead ? nil : sa.integrity?.ikev2ID
        inboundKeys = (sa.inboundEncryptionKey, aead ? nil : sa.inboundIntegrityKey)
        outboundKeys = (sa.outboundEncryptionKey, aead ? nil : sa.outboundIntegrityKey)
        isAEAD = aead
        let inbound: any PacketProtection
        let outbound: any PacketProtection
        do {
            inbound = try Self.make(encryptionID, keyBits, integrityID, inboundKeys)
            outbound = try Self.make(encryptionID, keyBits, integrityID, outboundKeys)
        } catch {
            throw .crypto(error)
        }
        guard inbound.ivLength == outbound.ivLength, inbound.icvLength == outbound.icvLength,
            inbound.blockSize == outbound.blockSize, (1...Int(UInt8.max)).contains(outbound.blockSize),
            !aead || outbound.ivLength == MemoryLayout<UInt64>.size
        else { throw .inconsistentTransforms }
        ivLength = outbound.ivLength
        icvLength = outbound.icvLength
        blockSize = outbound.blockSize
    }

    private static func make(
        _ encryptionID: UInt16, _ keyBits: Int?, _ integrityID: UInt16?,
        _ keys: (encryption: SecretBytes, integrity: SecretBytes?)
    ) throws(IsthmusCryptoError) -> any PacketProtection {
        try CryptoSuites.makeProtection(
            encryptionID: encryptionID, keyBits: keyBits, encryptionKey: keys.encryption, integrityID: integrityID,
            integrityKey: keys.integrity)
    }

    /// The keyed inbound transform, built now if it was released; nil when libcrypto fails to key it.
    mutating func keyedInbound() -> (any PacketProtection)? {
        if let inbound { return inbound }
        inbound = try? Self.make(encryptionID, keyBits, integrityID, inboundKeys)
        return inbound
    }

    /// The keyed outbound transform, built now if it was released; nil when libcrypto fails to key it.
    mutating func keyedOutbound() -> (any PacketProtection)? {
        if let outbound { return outbound }
        outbound = try? Self.make(encryptionID, keyBits, integrityID, outboundKeys)
        return outbound
    }

    /// Whether keyed contexts are held now (tests).
    var isKeyed: Bool { inbound != nil || outbound != nil }

    /// One engine tick at `now`: `packets` is the pair's packet count both ways; idle long enough, the contexts go.
    /// Time, not the number of ticks, decides: the engine ticks more often than once a second while limits are
    /// being reported.
    mutating func tick(packets: UInt64, now: Duration) {
        guard packets == packetsAtTick else {
            packetsAtTick = packets
            lastActive = now
            return
        }
        if inbound != nil || outbound != nil, now - lastActive >= Self.idleTimeBeforeRelease {
            inbound = nil
            outbound = nil
        }
    }
}
