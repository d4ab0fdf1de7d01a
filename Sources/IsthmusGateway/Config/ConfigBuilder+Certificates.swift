import IsthmusIKE
import IsthmusPKI
import Yams

/// `gateway.certificate`, `gateway.certificate_authorities` and `gateway.revoked`: the files are read and
/// parsed here, once per load or reload, so a file that cannot be read or parsed is a configuration error at
/// the line that names it.
extension ConfigBuilder {
    /// Largest certificate, chain, key or revocation file accepted.
    static let maximumCertificateFileBytes = 256 * 1024

    mutating func readGatewayCertificates(_ fields: [String: LocatedNode]) -> GatewayCertificates {
        var certificates = GatewayCertificates()
        if let node = fields["certificate"] { certificates.credential = readCredential(node) }
        if let node = fields["certificate_authorities"],
            let items = reader.sequence(node, what: "certificate_authorities", scalarAsList: true)
        {
            for item in items {
                guard let path = reader.string(item, what: "certificate authority file"),
                    let text = readTextFile(item, path: path, what: "certificate authority file")
                else { continue }
                let blocks = PEM.blocks(text, label: "CERTIFICATE")
                guard !blocks.isEmpty else {
                    reader.sink.error(
                        item.location, "\(resolve(path)) holds no PEM certificate",
                        fix: "give the CA's certificate in PEM ('-----BEGIN CERTIFICATE-----')")
                    continue
                }
                var valid = true
                for der in blocks {
                    do {
                        _ = try CertificateDetails(der: der)
                    } catch {
                        reader.sink.error(item.location, "a certificate in \(resolve(path)) is unusable: \(error)")
                        valid = false
                    }
                }
                if valid {
                    certificates.authorityFiles.append(path)
                    certificates.authoritiesDER += blocks
                }
            }
        }
        if let node = fields["revoked"], let path = reader.string(node, what: "revoked"),
            let text = readTextFile(node, path: path, what: "revocation list")
        {
            do {
                certificates.revoked = try RevocationList(parsing: text)
                certificates.revokedFile = path
            } catch {
                reader.sink.error(
                    node.location, "\(resolve(path)): \(error)",
                    fix: "write one 'serial HEX', 'sha1 HEX' or 'sha256 HEX' per line; '#' starts a comment")
            }
        }
        return certificates
    }

    /// `certificate: {certificate: FILE, private_key: FILE, chain: FILE}`.
    private mutating func readCredential(
        _ value: LocatedNode
    ) -> (files: GatewayCertificates.CredentialFiles, value: LocalCredential)? {
        guard
            let fields = reader.mapping(
                value, what: "gateway certificate", keys: ["certificate", "private_key", "chain"],
                required: ["certificate", "private_key"]),
            let certificateNode = fields["certificate"], let keyNode = fields["private_key"],
            let certificatePath = reader.string(certificateNode, what: "certificate file"),
            let keyPath = reader.string(keyNode, what: "private key file")
        else { return nil }
        let chainPath = fields["chain"].flatMap { reader.string($0, what: "chain file") }
        guard let certificateText = readTextFile(certificateNode, path: certificatePath, what: "certificate file"),
            let keyText = readTextFile(keyNode, path: keyPath, what: "private key file", secret: true)
        else { return nil }
        var chainText: String?
        if let chainPath, let node = fields["chain"] {
            guard let text = readTextFile(node, path: chainPath, what: "chain file") else { return nil }
            chainText = text
        }
        do {
            let credential = try LocalCredential(
                certificatePEM: certificateText, privateKeyPEM: keyText, chainPEM: chainText)
            return (.init(certificate: certificatePath, privateKey: keyPath, chain: chainPath), credential)
        } catch {
            let location = error == .keyMismatch ? keyNode.location : certificateNode.location
            reader.sink.error(
                location, "the gateway certificate cannot be used: \(error)",
                fix: "give a PEM certificate and its private key (PKCS#8, SEC1 or PKCS#1), e.g. from 'isthmus pki'")
            return nil
        }
    }

    private func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : "\(baseDirectory)/\(path)"
    }

    /// The text of the file `path` names (relative to the configuration's folder), or an error at `node`. A
    /// private key must not be readable by others (as key files).
    private mutating func readTextFile(
        _ node: LocatedNode, path: String, what: String, secret: Bool = false
    ) -> String? {
        let resolved = resolve(path)
        switch ConfigSource.read(path: resolved, limit: Self.maximumCertificateFileBytes) {
        case .failure(.cannotOpen(let reason)):
            reader.sink.error(
                node.location, "cannot read the \(what) \(resolved): \(reason)",
                fix: "relative paths start at the configuration's folder")
            return nil
        case .failure(.tooLarge(let size)):
            reader.sink.error(
                node.location,
                "the \(what) \(resolved) is \(size) bytes, more than the \(Self.maximumCertificateFileBytes) accepted")
            return nil
        case .success(let contents):
            if secret,
                let problem = SecretFileAccess.problem(
                    what: "the \(what)", path: resolved, mode: contents.mode, owner: contents.owner, user: secrets.user)
            {
                report(problem, at: node.location)
            }
            guard let text = String(validating: contents.bytes, as: UTF8.self) else {
                reader.sink.error(node.location, "the \(what) \(resolved) is not text (PEM expected)")
                return nil
            }
            return text
        }
    }
}

extension ConfigBuilder {
    /// A connection's `shared_key`: required with `auth: psk` (the default); a connection with
    /// `auth: certificate` has none (one written there is never used, so it is an error).
    mutating func readConnectionKey(
        _ fields: [String: LocatedNode], authentication: ConnectionAuthentication?, value: LocatedNode
    ) -> SharedKey? {
        let what = describe(value, as: "connection")
        switch authentication {
        case .certificate?:
            if let node = fields["shared_key"] {
                reader.sink.error(
                    node.location,
                    "\(what) authenticates with certificates (auth: certificate) and never uses its "
                        + "shared_key", fix: "remove shared_key, or remove 'auth: certificate' to use the key")
                return nil
            }
            return SharedKey.none
        case .psk?, nil:
            guard let node = fields["shared_key"] else {
                reader.sink.error(
                    value.location, "\(what) has no 'shared_key'",
                    fix: "add 'shared_key: ...' to \(what), or 'auth: certificate' to authenticate with certificates")
                return nil
            }
            return readSharedKey(node)
        }
    }

    /// An identity in strongSwan's notation (``IKEIdentity/init(parsing:)``), or a distinguished name written
    /// as strongSwan writes one, `C=CH, O=Example, CN=office`.
    static func identity(parsing text: String) -> IKEIdentity? {
        // strongSwan's order: `@` (FQDN, `@#` key ID) and `keyid:` win; otherwise a text with `=` is a DN.
        let prefixed = text.hasPrefix("@") || text.lowercased().hasPrefix("keyid:") || text.hasPrefix("asn1dn:#")
        guard text.contains("="), !prefixed else { return IKEIdentity(parsing: text) }
        guard let der = try? DistinguishedNameText.der(fromText: text),
            let rendered = try? DistinguishedNameText.text(fromDER: der)
        else { return nil }
        return .distinguishedName(der: der, text: rendered)
    }
}
