import Foundation
import Glibc
import IsthmusCrypto
import IsthmusIP
import IsthmusPKI

/// "Download the VPN client": the folder `isthmus pki bundle NAME` writes for one client, with its credentials
/// and a ready profile per platform, all pointing at the gateway with its point-to-site proposals.
///
///     OUT/NAME/ca.pem, NAME.pem, NAME.key (0600), NAME.p12 and NAME.p12.password (0600)
///     OUT/NAME/swanctl.conf with x509/NAME.pem, x509ca/ca.pem, private/NAME.key (0600)
///     OUT/NAME/GATEWAY.nmconnection (0600), NAME.mobileconfig (0600: it holds the PKCS#12 and its password)
///     OUT/NAME/NAME-windows.ps1, README.txt
///
/// With EAP-MSCHAPv2 the client has no certificate: the bundle has the CA and the profiles only.
public struct ClientBundle: Sendable {
    /// What to write.
    public struct Request: Sendable {
        public var name: String
        public var authority: PKIDirectory
        public var config: GatewayConfig
        public var outputFolder: String
        /// The address or DNS name clients connect to; nil: `gateway.public_address`.
        public var address: String?
        /// EAP-MSCHAPv2 instead of a certificate (the user name is `name`).
        public var eap: Bool
        public var force: Bool

        public init(
            name: String, authority: PKIDirectory, config: GatewayConfig, outputFolder: String, address: String?,
            eap: Bool, force: Bool
        ) {
            self.name = name
            self.authority = authority
            self.config = config
            self.outputFolder = outputFolder
            self.address = address
            self.eap = eap
            self.force = force
        }
    }

    /// What was written.
    public struct Written: Sendable {
        /// The bundle's folder.
        public let folder: String
        /// Files written, relative to the folder, with whether each is a secret (mode 0600).
        public let files: [(name: String, secret: Bool)]
        /// Platforms left out, each with its reason.
        public let skipped: [ClientProfileError]
    }

    /// Builds the profile model from the gateway's configuration and the client's certificate.
    static func model(_ request: Request) throws(PKIError) -> ClientProfileModel {
        let gateway = request.config.gateway
        guard let p2s = gateway.pointToSite else {
            throw PKIError("gateway \(gateway.name) has no point_to_site section: clients cannot connect to it")
        }
        let method = request.eap ? "eap-mschapv2" : "certificate"
        guard p2s.authentication.map(\.rawValue).contains(method) else {
            throw PKIError(
                "gateway \(gateway.name) does not accept \(method) clients (point_to_site auth: "
                    + "\(p2s.authentication.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let credential = gateway.certificates.credential?.value else {
            throw PKIError("gateway \(gateway.name) has no certificate (gateway.certificate): clients cannot check it")
        }
        guard let server = request.address ?? gateway.publicAddress?.description else {
            throw PKIError("gateway \(gateway.name) has no public_address; give the name clients use with --address")
        }
        let certificateName = credential.subjectAltNames.lazy.compactMap { name -> String? in
            switch name {
            case .dns(let text): text
            case .ip(let address): address.description
            case .email: nil
            }
        }
        let gatewayName = certificateName.first(where: { $0 == server }) ?? certificateName.first ?? server
        var clientIdentity: String?
        var keyType: ClientKeyType?
        if !request.eap {
            let files = request.authority.issuedFiles(request.name)
            let certificateText = try request.authority.read(files.certificate)
            let keyText = try request.authority.read(files.key)
            do {
                let client = try LocalCredential(certificatePEM: certificateText, privateKeyPEM: keyText)
                // A subject alternative name reads better than a DN in the gateway's status and events, and
                // is what the certificate was issued for; the DN when the certificate has none.
                clientIdentity =
                    client.subjectAltNames.lazy.map { name -> String in
                        switch name {
                        case .email(let text), .dns(let text): text
                        case .ip(let address): address.description
                        }
                    }.first ?? client.subjectText
                switch client.defaultScheme {
                case .ecdsaSHA256: keyType = .ecdsa(bits: 256)
                case .ecdsaSHA384: keyType = .ecdsa(bits: 384)
                case .ecdsaSHA512: keyType = .ecdsa(bits: 521)
                default: keyType = .rsa
                }
            } catch {
                throw PKIError("the certificate '\(request.name)' cannot be used: \(error)")
            }
        }
        var networks = request.config.site.prefixes.filter { $0.family == .v4 }
        if p2s.fullTunnel { networks = [IPPrefix(masking: IPAddress(v4: 0), length: 0)] }
        return ClientProfileModel(
            connectionName: gateway.name, clientName: request.name, serverAddress: server,
            gatewayIdentity: credential.subjectText, gatewayCertificateName: gatewayName,
            clientIdentity: clientIdentity, clientKeyType: keyType,
            authentication: request.eap ? .eapMSCHAPv2(user: request.name) : .certificate,
            ike: p2s.ike.proposals, esp: p2s.esp.proposals, networks: networks, fullTunnel: p2s.fullTunnel)
    }

    /// Writes the bundle. Refuses an existing folder without `force`; a platform that cannot use the gateway's
    /// proposals is left out and named in `skipped` and the README.
    public static func write(_ request: Request) throws(PKIError) -> Written {
        try PKIDirectory.checkName(request.name)
        let model = try model(request)
        let pki = request.authority
        let folder = absolute(request.outputFolder) + "/" + request.name
        if pki.exists(folder), !request.force {
            throw PKIError("\(folder) already exists; --force replaces its files")
        }
        let authorityText = try pki.read(pki.certificatePath)
        guard let authorityDER = PEM.blocks(authorityText, label: "CERTIFICATE").first else {
            throw PKIError("\(pki.certificatePath) has no certificate")
        }
        var files: [(name: String, secret: Bool)] = []
        var skipped: [ClientProfileError] = []
        func put(_ name: String, _ bytes: [UInt8], secret: Bool) throws(PKIError) {
            try pki.write(bytes, to: folder + "/" + name, mode: secret ? 0o600 : 0o644)
            files.append((name, secret))
        }
        for sub in ["", "/x509", "/x509ca", "/private"] { try pki.makeFolder(folder + sub) }
        let authorityPEM = Array(PEM.encode(authorityDER, label: "CERTIFICATE").utf8)
        try put(ClientProfileModel.authorityFile, authorityPEM, secret: false)
        try put("x509ca/" + ClientProfileModel.authorityFile, authorityPEM, secret: false)
        var pkcs12: (der: [UInt8], password: String)?
        if case .certificate = model.authentication {
            let issued = pki.issuedFiles(request.name)
            let certificate = Array(try pki.read(issued.certificate).utf8)
            let key = Array(try pki.read(issued.key).utf8)
            try put(model.certificateFile, certificate, secret: false)
            try put(model.keyFile, key, secret: true)
            try put("x509/" + model.certificateFile, certificate, secret: false)
            try put("private/" + model.keyFile, key, secret: true)
            var password = PKIDirectory.randomPassword()
            defer { for index in password.indices { password[index] = 0 } }
            let der = try pki.makePKCS12(name: request.name, password: password)
            try put(model.bundleFile, der, secret: true)
            try put(model.passwordFile, password + [0x0a], secret: true)
            pkcs12 = (der, String(decoding: password, as: UTF8.self))
        }
        try put("swanctl.conf", Array(ClientProfiles.swanctl(model).utf8), secret: true)
        let networkManager = ClientProfiles.networkManager(model, folder: folder, uuid: UUID().uuidString.lowercased())
        try put(model.connectionName + ".nmconnection", Array(networkManager.utf8), secret: true)
        let identifiers = ClientProfiles.AppleIdentifiers(
            profile: UUID().uuidString, vpn: UUID().uuidString, authority: UUID().uuidString,
            identity: UUID().uuidString)
        let apple = Result { () throws(ClientProfileError) in
            try ClientProfiles.apple(model, authorityDER: authorityDER, pkcs12: pkcs12, identifiers: identifiers)
        }
        switch apple {
        case .success(let profile): try put(model.clientName + ".mobileconfig", Array(profile.utf8), secret: true)
        case .failure(let error): skipped.append(error)
        }
        switch Result(catching: { () throws(ClientProfileError) in try ClientProfiles.windows(model) }) {
        case .success(let script): try put(model.clientName + "-windows.ps1", Array(script.utf8), secret: false)
        case .failure(let error): skipped.append(error)
        }
        let names = files.map(\.name) + ["x509/, x509ca/, private/"]
        try put("README.txt", Array(ClientProfiles.readme(model, written: names, skipped: skipped).utf8), secret: false)
        return Written(folder: folder, files: files, skipped: skipped)
    }

    private static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return FileManager.default.currentDirectoryPath + "/" + path
    }
}
