/// What an algorithm is used for in a client operating system's VPN settings, which name each use differently.
public enum PlatformAlgorithmRole: Sendable, Hashable, CustomStringConvertible {
    /// The IKE SA's cipher.
    case ikeEncryption
    /// The IKE SA's integrity algorithm; with an AEAD cipher the PRF, which the platforms set in the same field.
    case ikeIntegrity
    /// The IKE SA's Diffie-Hellman group.
    case ikeGroup
    /// The CHILD SA's (ESP) cipher.
    case espEncryption
    /// The CHILD SA's (ESP) integrity algorithm.
    case espIntegrity
    /// The Diffie-Hellman group of the CHILD SA's rekeying (perfect forward secrecy).
    case pfsGroup

    public var description: String {
        switch self {
        case .ikeEncryption: "IKE encryption"
        case .ikeIntegrity: "IKE integrity"
        case .ikeGroup: "IKE DH group"
        case .espEncryption: "ESP encryption"
        case .espIntegrity: "ESP integrity"
        case .pfsGroup: "PFS group"
        }
    }
}

/// The client platforms whose native IKEv2 clients take algorithm names in their own vocabulary.
public enum ClientPlatform: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// macOS and iOS (`com.apple.vpn.managed`, `IKESecurityAssociationParameters`).
    case apple
    /// Windows (`Set-VpnConnectionIPsecConfiguration`).
    case windows

    public var description: String {
        switch self {
        case .apple: "Apple (macOS/iOS)"
        case .windows: "Windows"
        }
    }
}

extension Algorithm {
    /// This algorithm's name in `platform`'s VPN settings for `role`, or nil when that platform cannot use it
    /// there. Keyed on the IANA numbers of the registry row (transform type, IKEv2 ID, key length, ICV), so
    /// a new registry row is unnamed, hence refused, until it is added here. Apple's Diffie-Hellman groups are
    /// numbers (their IKEv2 IDs) written as text.
    public func platformName(_ platform: ClientPlatform, as role: PlatformAlgorithmRole) -> String? {
        switch platform {
        case .apple: appleName(as: role)
        case .windows: windowsName(as: role)
        }
    }

    private var aesBits: Int? { ikev2ID == 12 ? keyLengthBits : nil }
    private var gcm16Bits: Int? { ikev2ID == 20 && icvBytes == 16 ? keyLengthBits : nil }

    private func appleName(as role: PlatformAlgorithmRole) -> String? {
        switch (role, type) {
        case (.ikeEncryption, .encryption), (.espEncryption, .encryption):
            if ikev2ID == 2 { return "DES" }
            if ikev2ID == 3 { return "3DES" }
            if let bits = aesBits, bits != 192 { return "AES-\(bits)" }
            if let bits = gcm16Bits, bits != 192 { return "AES-\(bits)-GCM" }
            if ikev2ID == 28 { return "ChaCha20Poly1305" }
            return nil
        case (.ikeIntegrity, .integrity), (.espIntegrity, .integrity):
            return [2: "SHA1-96", 12: "SHA2-256", 13: "SHA2-384", 14: "SHA2-512"][ikev2ID]
        case (.ikeIntegrity, .prf):
            return [2: "SHA1-96", 5: "SHA2-256", 6: "SHA2-384", 7: "SHA2-512"][ikev2ID]
        case (.ikeGroup, .keyExchange), (.pfsGroup, .keyExchange):
            return [1, 2, 5, 14, 15, 16, 19, 20, 21, 31].contains(ikev2ID) ? String(ikev2ID) : nil
        default:
            return nil
        }
    }

    private func windowsName(as role: PlatformAlgorithmRole) -> String? {
        switch (role, type) {
        case (.ikeEncryption, .encryption), (.espEncryption, .encryption):
            if ikev2ID == 2 { return "DES" }
            if ikev2ID == 3 { return "DES3" }
            if let bits = aesBits { return "AES\(bits)" }
            // Windows' IKE cipher list has GCM with 128 and 256-bit keys only; ESP has all three.
            if let bits = gcm16Bits, role == .espEncryption || bits != 192 { return "GCMAES\(bits)" }
            return nil
        case (.ikeIntegrity, .integrity):
            return [1: "MD5", 2: "SHA1", 12: "SHA256", 13: "SHA384"][ikev2ID]
        case (.ikeIntegrity, .prf):
            return [1: "MD5", 2: "SHA1", 5: "SHA256", 6: "SHA384"][ikev2ID]
        case (.espIntegrity, .integrity):
            return [1: "MD596", 2: "SHA196", 12: "SHA256128"][ikev2ID]
        case (.ikeGroup, .keyExchange):
            return [1: "Group1", 2: "Group2", 14: "Group14", 19: "ECP256", 20: "ECP384"][ikev2ID]
        case (.pfsGroup, .keyExchange):
            return [1: "PFS1", 2: "PFS2", 14: "PFS2048", 19: "ECP256", 20: "ECP384"][ikev2ID]
        default:
            return nil
        }
    }
}
