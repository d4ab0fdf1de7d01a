import Foundation
import IsthmusCrypto
import IsthmusIKE
import IsthmusIKEv1
import IsthmusIKEv2
import IsthmusIP
import IsthmusPKI
import IsthmusTestSupport

/// The pair's two sites (office 198.51.100.1 with 192.168.1.0/24, cloud 203.0.113.1 with 10.0.1.0/24) in a
/// few variants, so the fuzzer reaches AEAD and CBC suites, PFS, liveness checks, UDP encapsulation and (IKEv2)
/// fragmentation, and (IKEv2) certificate authentication.
public enum FuzzConfigurations {
    public static let sharedKey = "fuzzing-shared-key-0123456789"
    public static let otherSharedKey = "another-shared-key-9876543210"

    struct Variant {
        var ike: String
        var esp: String
        var liveness: IKELiveness?
        var forceUDPEncapsulation: Bool
        /// IKEv2: the largest message sent whole (RFC 7383); nil for the default.
        var fragmentSize: Int? = nil
        /// IKEv2: authenticate with certificates (the office ECDSA, the cloud RSA, one root) instead of the key,
        /// so IKE_AUTH carries CERT, CERTREQ and RFC 7427 AUTH payloads and N(SIGNATURE_HASH_ALGORITHMS).
        var certificates = false
        /// IKEv2: the responder takes EAP-MSCHAPv2 clients (an IKE_AUTH whose AUTH a mutation removed, or a
        /// forged one, enters the EAP phase).
        var eapUsers = false
        /// IKEv2: the office is a remote-access client asking for an address (CP), the cloud answers from a
        /// pool of 2 addresses (RFC 7296 3.15), so replays and duplicates reach exhaustion.
        var pointToSite = false
    }

    /// The users of the EAP variant: one password, one NT hash.
    static let eapUsers = EAPUserDatabase(ntHashes: [
        "alice": try! MSCHAPv2Crypto.ntPasswordHash(password: sharedKey),
        "bob": SecretBytes(Array(repeating: 0x42, count: 16)),
    ])

    static let ikev2Variants = [
        Variant(
            ike: "aes256gcm16-prfsha256-ecp256", esp: "aes256gcm16",
            liveness: IKELiveness(interval: .seconds(30), timeout: .seconds(120), action: .restart),
            forceUDPEncapsulation: false),
        Variant(
            ike: "aes128-sha256-curve25519", esp: "aes128-sha256-curve25519",
            liveness: IKELiveness(interval: .seconds(10), timeout: .seconds(40), action: .clear),
            forceUDPEncapsulation: true),
        // IKE_AUTH and CREATE_CHILD_SA in SKF fragments of at most 200 bytes.
        Variant(
            ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16", liveness: nil, forceUDPEncapsulation: false,
            fragmentSize: 200),
        Variant(
            ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16", liveness: nil, forceUDPEncapsulation: false,
            certificates: true),
        // A point-to-site responder that also speaks EAP-MSCHAPv2 (RFC 7296 section 2.16).
        Variant(
            ike: "aes256gcm16-prfsha256-ecp256", esp: "aes256gcm16", liveness: nil, forceUDPEncapsulation: false,
            eapUsers: true),
        // Point-to-site: CP(CFG_REQUEST) in IKE_AUTH, CFG_REPLY or INTERNAL_ADDRESS_FAILURE.
        Variant(
            ike: "aes256gcm16-prfsha256-ecp256", esp: "aes256gcm16",
            liveness: IKELiveness(interval: .seconds(30), timeout: .seconds(120), action: .clear),
            forceUDPEncapsulation: true, pointToSite: true),
    ]

    static let ikev1Variants = [
        Variant(
            ike: "aes128-sha256-ecp256", esp: "aes128-sha256",
            liveness: IKELiveness(interval: .seconds(30), timeout: .seconds(120), action: .restart),
            forceUDPEncapsulation: false),
        Variant(
            ike: "aes256-sha1-modp1024", esp: "aes128gcm16-ecp256",
            liveness: IKELiveness(interval: .seconds(10), timeout: .seconds(40), action: .clear),
            forceUDPEncapsulation: true),
    ]

    /// Initiator (office) and responder (cloud) settings of one variant.
    static func settings(_ variant: Variant, version: IKEVersion) -> [IKEConnectionSettings] {
        let office = ["192.168.1.0/24"], cloud = ["10.0.1.0/24"]
        return [(true, "198.51.100.1", "203.0.113.1"), (false, "203.0.113.1", "198.51.100.1")].map { side in
            let (isOffice, me, peer) = side
            return IKEConnectionSettings(
                connectionName: isOffice ? "office-cloud" : "cloud-office",
                local: UDPEndpoint(address: address(me), port: 500),
                remote: UDPEndpoint(address: address(peer), port: 500),
                sharedKey: SecretBytes(Array(sharedKey.utf8)),
                ikeProposals: try! ProposalList(parsing: [variant.ike], for: .ike, version: version),
                espProposals: try! ProposalList(parsing: [variant.esp], for: .esp, version: version),
                localSelectors: selectors(isOffice ? office : cloud),
                remoteSelectors: selectors(isOffice ? cloud : office),
                ikeLifetime: .seconds(3600), childLifetime: .seconds(1200), childLifetimeKilobytes: nil,
                liveness: variant.liveness, forceUDPEncapsulation: variant.forceUDPEncapsulation)
        }
    }

    public static func ikev2(_ variant: UInt8) -> [IKEv2Configuration] {
        let chosen = ikev2Variants[Int(variant) % ikev2Variants.count]
        var configurations = settings(chosen, version: .v2).enumerated().map { index, settings in
            var configuration = IKEv2Configuration(
                settings, localIdentity: .address(settings.local.address),
                remoteIdentity: .address(settings.remote.address),
                fragmentSize: chosen.fragmentSize ?? IKEv2Configuration.defaultFragmentSize)
            if chosen.certificates { certify(&configuration, office: index == 0) }
            if chosen.eapUsers, index == 1 { configuration.eapUsers = eapUsers }
            return configuration
        }
        if chosen.pointToSite {
            configurations[0].requestsVirtualAddress = true
            configurations[0].localSelectors = selectors(["0.0.0.0/0"])
            configurations[1].remoteSelectors = selectors(["0.0.0.0/0"])
            configurations[1].pointToSite = IKEv2PointToSite(
                addresses: SharedAddressPool(AddressPool(prefix: try! IPPrefix(parsing: "10.0.0.0/30"))),
                dnsServers: [address("10.0.1.4")], networks: [try! IPPrefix(parsing: "10.0.1.0/24")])
        }
        return configurations
    }

    /// The number of IKEv2 variants (the first byte of a script, modulo this).
    public static var ikev2VariantCount: Int { ikev2Variants.count }

    /// Whether IKEv2 variant `variant` has a responder that takes EAP-MSCHAPv2 clients.
    public static func ikev2HasEAP(_ variant: UInt8) -> Bool {
        ikev2Variants[Int(variant) % ikev2Variants.count].eapUsers
    }

    /// Certificate authentication at a fixed date inside the fixtures' validity; any certified peer identity.
    static func certify(_ configuration: inout IKEv2Configuration, office: Bool) {
        let local = office ? officeCredential : cloudCredential
        let roots = PEM.blocks(CertificateFixtures.rootA, label: "CERTIFICATE")
        configuration.authentication = .certificate(
            local: local, peers: CertificateChainVerifier(trustRootsDER: roots, revoked: RevocationList()),
            wallClock: { Date(timeIntervalSince1970: 1_800_000_000) })
        configuration.localIdentity = .distinguishedName(der: local.subjectDER, text: local.subjectText)
        configuration.remoteIdentityConfigured = false
        configuration.certificateRequestHashes = IKEv2Authentication.keyHashes(ofRootsDER: roots)
    }

    static let officeCredential = try! LocalCredential(
        certificatePEM: CertificateFixtures.officeCertificate, privateKeyPEM: CertificateFixtures.officeKey)
    static let cloudCredential = try! LocalCredential(
        certificatePEM: CertificateFixtures.cloudCertificate, privateKeyPEM: CertificateFixtures.cloudKey)

    public static func ikev1(_ variant: UInt8) -> [IKEv1Configuration] {
        settings(ikev1Variants[Int(variant) % ikev1Variants.count], version: .v1).map {
            IKEv1Configuration(
                $0, localIdentity: .address($0.local.address), remoteIdentity: .address($0.remote.address))
        }
    }

    static func address(_ text: String) -> IPAddress { try! IPAddress(parsing: text) }

    static func selectors(_ prefixes: [String]) -> [TrafficSelector] {
        prefixes.map { TrafficSelector(prefix: try! IPPrefix(parsing: $0)) }
    }
}
