import IsthmusCrypto
import IsthmusIP

/// How a point-to-site client of a bundle authenticates.
public enum ClientProfileAuthentication: Sendable, Hashable {
    /// Its certificate and private key (IKEv2 AUTH with a signature).
    case certificate
    /// EAP-MSCHAPv2 with this user name; the password is the user's, never in a profile.
    case eapMSCHAPv2(user: String)
}

/// The key type of a client certificate, as Apple's profiles must declare it (`CertificateType`).
public enum ClientKeyType: Sendable, Hashable {
    case rsa
    case ecdsa(bits: Int)
}

/// Everything a client profile says, whatever the platform: the pure input of ``ClientProfiles``.
public struct ClientProfileModel: Sendable, Hashable {
    /// The connection's name on the client (the gateway's name).
    public var connectionName: String
    /// The client's name: its certificate's file names and, with EAP, its user name.
    public var clientName: String
    /// The address or DNS name clients connect to.
    public var serverAddress: String
    /// The gateway's IKE identity as strongSwan writes it: its certificate's subject DN.
    public var gatewayIdentity: String
    /// The name Apple and Windows check the gateway's certificate for: a DNS or IP subject alternative name of
    /// it (Windows compares it with the server address).
    public var gatewayCertificateName: String
    /// The client's IKE identity: its certificate's first subject alternative name, or its subject DN
    /// (strongSwan notation); nil with EAP.
    public var clientIdentity: String?
    /// The client key's type (Apple needs it); nil with EAP.
    public var clientKeyType: ClientKeyType?
    public var authentication: ClientProfileAuthentication
    /// The gateway's point-to-site proposals, in its order of preference.
    public var ike: [Proposal]
    public var esp: [Proposal]
    /// What the client reaches through the tunnel: the virtual network's prefixes, or 0.0.0.0/0.
    public var networks: [IPPrefix]
    /// Every destination through the tunnel (`point_to_site.full_tunnel`).
    public var fullTunnel: Bool

    public init(
        connectionName: String, clientName: String, serverAddress: String, gatewayIdentity: String,
        gatewayCertificateName: String, clientIdentity: String?, clientKeyType: ClientKeyType?,
        authentication: ClientProfileAuthentication, ike: [Proposal], esp: [Proposal], networks: [IPPrefix],
        fullTunnel: Bool
    ) {
        self.connectionName = connectionName
        self.clientName = clientName
        self.serverAddress = serverAddress
        self.gatewayIdentity = gatewayIdentity
        self.gatewayCertificateName = gatewayCertificateName
        self.clientIdentity = clientIdentity
        self.clientKeyType = clientKeyType
        self.authentication = authentication
        self.ike = ike
        self.esp = esp
        self.networks = networks
        self.fullTunnel = fullTunnel
    }

    /// The file names a bundle uses, relative to its folder.
    public var certificateFile: String { clientName + ".pem" }
    public var keyFile: String { clientName + ".key" }
    public var bundleFile: String { clientName + ".p12" }
    public var passwordFile: String { clientName + ".p12.password" }
    public static let authorityFile = "ca.pem"
}

/// A platform's single IKE and ESP suite: the native clients of Apple and Windows take one set of algorithms,
/// not a list of proposals. Fields hold the platform's own names.
public struct PlatformSuite: Sendable, Hashable {
    public var ikeEncryption: String
    /// The IKE integrity algorithm, or with an AEAD cipher the PRF.
    public var ikeIntegrity: String
    public var ikeGroup: String
    public var espEncryption: String
    /// The ESP integrity algorithm; nil with an AEAD cipher.
    public var espIntegrity: String?
    /// The PFS group; nil when the ESP proposal has no Diffie-Hellman group.
    public var pfsGroup: String?

    public init(
        ikeEncryption: String, ikeIntegrity: String, ikeGroup: String, espEncryption: String, espIntegrity: String?,
        pfsGroup: String?
    ) {
        self.ikeEncryption = ikeEncryption
        self.ikeIntegrity = ikeIntegrity
        self.ikeGroup = ikeGroup
        self.espEncryption = espEncryption
        self.espIntegrity = espIntegrity
        self.pfsGroup = pfsGroup
    }
}

/// A profile a platform cannot be given: one human sentence naming the platform and what it cannot do.
public struct ClientProfileError: Error, Sendable, Hashable, CustomStringConvertible {
    public let platform: ClientPlatform
    public let message: String

    public var description: String { message }
}

/// The client profiles of a bundle, as pure functions of a ``ClientProfileModel`` (the bundle writer adds files).
public enum ClientProfiles {
    // MARK: - Proposals to a platform's suite

    /// The first of `proposals` that `platform` can use entirely, each type's first algorithm with a name there.
    /// Throws naming every proposal's first unnamed algorithm when none fits.
    public static func suite(for platform: ClientPlatform, ike: [Proposal], esp: [Proposal]) throws(ClientProfileError)
        -> PlatformSuite
    {
        /// The platform's name of the first of `choices` it has, or why there is none.
        func name(_ choices: [Algorithm], _ role: PlatformAlgorithmRole) -> (name: String?, missing: String?) {
            if let found = choices.lazy.compactMap({ $0.platformName(platform, as: role) }).first {
                return (found, nil)
            }
            return (nil, "\(choices.map(\.displayName).joined(separator: " or ")) as \(role)")
        }
        var problems: [String] = []
        var ikeSuite: (String, String, String)?
        for proposal in ike {
            let encryption = name(proposal.encryption, .ikeEncryption)
            let integrity = name(proposal.isAEAD ? proposal.prf : proposal.integrity, .ikeIntegrity)
            let group = name(proposal.keyExchange, .ikeGroup)
            if let e = encryption.name, let i = integrity.name, let g = group.name {
                ikeSuite = (e, i, g)
                break
            }
            let missing = [encryption, integrity, group].compactMap(\.missing)
            problems.append("IKE proposal \(proposal) (no \(missing.joined(separator: ", ")))")
        }
        var espSuite: (String, String?, String?)?
        for proposal in esp {
            let encryption = name(proposal.encryption, .espEncryption)
            let integrity = proposal.isAEAD ? nil : name(proposal.integrity, .espIntegrity)
            let group = proposal.keyExchange.isEmpty ? nil : name(proposal.keyExchange, .pfsGroup)
            let missing = [encryption, integrity, group].compactMap { $0?.missing }
            if missing.isEmpty, let e = encryption.name {
                // Windows names the AEAD transform in the integrity field too.
                let i = proposal.isAEAD ? (platform == .windows ? e : nil) : integrity?.name
                espSuite = (e, i, group?.name)
                break
            }
            problems.append("ESP proposal \(proposal) (no \(missing.joined(separator: ", ")))")
        }
        guard let ikeSuite, let espSuite else {
            throw ClientProfileError(
                platform: platform,
                message: "\(platform) cannot use the gateway's point-to-site proposals: "
                    + problems.joined(separator: "; ")
                    + "; add a proposal it can use to point_to_site ike/esp or skip this platform")
        }
        return PlatformSuite(
            ikeEncryption: ikeSuite.0, ikeIntegrity: ikeSuite.1, ikeGroup: ikeSuite.2, espEncryption: espSuite.0,
            espIntegrity: espSuite.1, pfsGroup: espSuite.2)
    }

    /// What the tunnel reaches, as text prefixes.
    static func remoteTrafficSelectors(_ model: ClientProfileModel) -> [String] {
        model.fullTunnel ? ["0.0.0.0/0"] : model.networks.map(\.description)
    }

    // MARK: - strongSwan (swanctl)

    /// The placeholder the user replaces with their EAP password in `swanctl.conf`; never a real password.
    public static let passwordPlaceholder = "REPLACE-WITH-YOUR-PASSWORD"

    /// `swanctl.conf` for `swanctl --load-all --file BUNDLE/swanctl.conf`: swanctl resolves `certs` in the
    /// file's `x509/` folder, loads `x509ca/` and `private/` next to it, which the bundle has.
    public static func swanctl(_ model: ClientProfileModel) -> String {
        let name = model.connectionName
        var lines = [
            "# Isthmus point-to-site profile for \(model.clientName), gateway \(name).",
            "# Load it with: swanctl --load-all --file /path/to/this/folder/swanctl.conf",
            "# then: swanctl --initiate --child \(name)",
            "connections {",
            "    \(name) {",
            "        version = 2",
            "        remote_addrs = \(model.serverAddress)",
            "        vips = 0.0.0.0",
            "        proposals = \(model.ike.map(\.description).joined(separator: ", "))",
            "        local {",
        ]
        switch model.authentication {
        case .certificate:
            lines += [
                "            auth = pubkey",
                "            certs = \(model.certificateFile)",
            ]
            if let identity = model.clientIdentity { lines.append("            id = \(quoted(identity))") }
        case .eapMSCHAPv2(let user):
            lines += [
                "            auth = eap-mschapv2",
                "            eap_id = \(quoted(user))",
            ]
        }
        lines += [
            "        }",
            "        remote {",
            "            auth = pubkey",
            "            id = \(quoted(model.gatewayIdentity))",
            "            cacerts = \(ClientProfileModel.authorityFile)",
            "        }",
            "        children {",
            "            \(name) {",
            "                remote_ts = \(remoteTrafficSelectors(model).joined(separator: ", "))",
            "                esp_proposals = \(model.esp.map(\.description).joined(separator: ", "))",
            "                start_action = none",
            "            }",
            "        }",
            "    }",
            "}",
        ]
        if case .eapMSCHAPv2(let user) = model.authentication {
            lines += [
                "secrets {",
                "    eap-\(name) {",
                "        id = \(quoted(user))",
                "        # Replace the placeholder with your password (or delete this section to be asked).",
                "        secret = \(quoted(passwordPlaceholder))",
                "    }",
                "}",
            ]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func quoted(_ text: String) -> String {
        "\"" + text.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") + "\""
    }

    // MARK: - NetworkManager (strongSwan plugin)

    /// A NetworkManager keyfile (`/etc/NetworkManager/system-connections/NAME.nmconnection`, mode 0600) for the
    /// strongSwan plugin, with the bundle's files at `folder` (an absolute path). `uuid` names the connection.
    public static func networkManager(_ model: ClientProfileModel, folder: String, uuid: String) -> String {
        var vpn = [
            "service-type=org.freedesktop.NetworkManager.strongswan",
            "address=\(model.serverAddress)",
            "certificate=\(folder)/\(ClientProfileModel.authorityFile)",
            "remote-identity=\(model.gatewayIdentity)",
        ]
        switch model.authentication {
        case .certificate:
            vpn += [
                "method=key",
                "usercert=\(folder)/\(model.certificateFile)",
                "userkey=\(folder)/\(model.keyFile)",
            ]
            if let identity = model.clientIdentity { vpn.append("local-identity=\(identity)") }
        case .eapMSCHAPv2(let user):
            // password-flags=2: NetworkManager asks for the password and does not store it.
            vpn += ["method=eap", "user=\(user)", "password-flags=2"]
        }
        vpn += [
            "virtual=yes",
            "encap=no",
            "ipcomp=no",
            "proposal=yes",
            "ike=\(model.ike.map(\.description).joined(separator: ";"))",
            "esp=\(model.esp.map(\.description).joined(separator: ";"))",
        ]
        if !model.fullTunnel { vpn.append("remote-ts=\(remoteTrafficSelectors(model).joined(separator: ";"))") }
        var ipv4 = ["method=auto"]
        if !model.fullTunnel { ipv4.append("never-default=true") }
        let sections: [(String, [String])] = [
            ("connection", ["id=\(model.connectionName)", "uuid=\(uuid)", "type=vpn", "autoconnect=false"]),
            ("vpn", vpn),
            ("ipv4", ipv4),
            ("ipv6", ["method=ignore"]),
        ]
        return sections.map { "[\($0.0)]\n" + $0.1.joined(separator: "\n") + "\n" }.joined(separator: "\n")
    }

    // MARK: - Windows (PowerShell)

    /// `NAME-windows.ps1`: imports the certificates, adds the IKEv2 connection with the gateway's first
    /// proposals Windows can use, and the split tunnel's routes. Reads the PKCS#12 password from the bundle's
    /// password file at run time; the script holds no secret.
    public static func windows(_ model: ClientProfileModel) throws(ClientProfileError) -> String {
        let suite = try suite(for: .windows, ike: model.ike, esp: model.esp)
        let name = powershellString(model.connectionName)
        var lines = [
            "# Isthmus point-to-site connection \(model.connectionName) for \(model.clientName) (IKEv2).",
            "# Run from this folder in an elevated PowerShell: powershell -ExecutionPolicy Bypass -File .\\"
                + "\(model.clientName)-windows.ps1",
            "# Windows checks that the gateway's certificate names the server address "
                + "(\(model.serverAddress)).",
            "$ErrorActionPreference = 'Stop'",
            "$here = Split-Path -Parent $MyInvocation.MyCommand.Path",
            "Import-Certificate -FilePath (Join-Path $here '\(ClientProfileModel.authorityFile)') "
                + "-CertStoreLocation Cert:\\LocalMachine\\Root | Out-Null",
        ]
        let authentication: String
        switch model.authentication {
        case .certificate:
            // IKEv2 machine-certificate authentication takes the certificate from the computer's store.
            lines += [
                "$password = ConvertTo-SecureString -AsPlainText -Force "
                    + "(Get-Content -Path (Join-Path $here '\(model.passwordFile)') -TotalCount 1)",
                "Import-PfxCertificate -FilePath (Join-Path $here '\(model.bundleFile)') "
                    + "-CertStoreLocation Cert:\\LocalMachine\\My -Password $password | Out-Null",
            ]
            authentication = "-AuthenticationMethod MachineCertificate"
        case .eapMSCHAPv2:
            // New-EapConfiguration's default is EAP-MSCHAPv2; Windows asks for the user name and password.
            authentication = "-AuthenticationMethod Eap -EapConfigXmlStream (New-EapConfiguration).EapConfigXmlStream"
        }
        lines += [
            "Add-VpnConnection -Name \(name) -ServerAddress \(powershellString(model.serverAddress)) "
                + "-TunnelType Ikev2 \(authentication) -EncryptionLevel Required "
                + "-SplitTunneling:$\(model.fullTunnel ? "false" : "true") -AllUserConnection -Force",
            "Set-VpnConnectionIPsecConfiguration -ConnectionName \(name) -AllUserConnection "
                + "-EncryptionMethod \(suite.ikeEncryption) -IntegrityCheckMethod \(suite.ikeIntegrity) "
                + "-DHGroup \(suite.ikeGroup) -CipherTransformConstants \(suite.espEncryption) "
                + "-AuthenticationTransformConstants \(suite.espIntegrity ?? "None") "
                + "-PfsGroup \(suite.pfsGroup ?? "None") -Force",
        ]
        if !model.fullTunnel {
            for prefix in remoteTrafficSelectors(model) {
                lines.append(
                    "Add-VpnConnectionRoute -ConnectionName \(name) -AllUserConnection -DestinationPrefix \(prefix)")
            }
        }
        lines.append("Write-Output \"VPN connection \(model.connectionName) added; connect with: rasdial \(name)\"")
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    private static func powershellString(_ text: String) -> String {
        "'" + text.replacingAll("'", with: "''") + "'"
    }

    // MARK: - README

    /// The bundle's `README.txt`: which file is for what, and which are secret.
    public static func readme(_ model: ClientProfileModel, written: [String], skipped: [ClientProfileError]) -> String {
        var lines = [
            "Isthmus VPN client bundle for \(model.clientName)",
            "Gateway \(model.connectionName) at \(model.serverAddress) (IKEv2), identity \(model.gatewayIdentity).",
            model.fullTunnel
                ? "Full tunnel: all traffic goes through the VPN."
                : "Split tunnel: only \(remoteTrafficSelectors(model).joined(separator: ", ")) goes through the VPN.",
            "",
            "SECRET: the files marked (secret) hold your private key or its password. They are mode 0600;",
            "keep them so, copy them only over a channel you trust, and never mail them.",
            "",
        ]
        let purposes: [(String, String)] = [
            (ClientProfileModel.authorityFile, "the gateway's certificate authority (trust it to check the gateway)"),
            (model.certificateFile, "your certificate"),
            (model.keyFile, "your private key (secret)"),
            (model.bundleFile, "certificate, key and CA in one PKCS#12 file for Windows/macOS (secret)"),
            (model.passwordFile, "the PKCS#12 file's password (secret)"),
            ("swanctl.conf", "strongSwan: swanctl --load-all --file $PWD/swanctl.conf (uses x509/, x509ca/, private/)"),
            ("x509/, x509ca/, private/", "strongSwan's copies of the certificate, the CA and the key (secret)"),
            (
                model.connectionName + ".nmconnection",
                "NetworkManager (strongSwan plugin): copy to "
                    + "/etc/NetworkManager/system-connections/ (mode 0600); it names this folder's files by path"
            ),
            (
                model.clientName + ".mobileconfig",
                "macOS/iOS: open it to install (contains the PKCS#12 and its "
                    + "password: secret)"
            ),
            (model.clientName + "-windows.ps1", "Windows: run in an elevated PowerShell from this folder"),
        ]
        for (file, purpose) in purposes where written.contains(file) {
            lines.append("  \(file.padding(toLength: 32, withPad: " ", startingAt: 0)) \(purpose)")
        }
        if case .eapMSCHAPv2(let user) = model.authentication {
            lines += [
                "",
                "You sign in as \(user) with your password; swanctl.conf has a placeholder "
                    + "(\(passwordPlaceholder)) to replace, the other profiles ask for it.",
            ]
        }
        if !skipped.isEmpty {
            lines += ["", "Not in this bundle:"] + skipped.map { "  \($0.message)" }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension String {
    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
