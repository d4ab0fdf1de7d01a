import Foundation
import Glibc
import IsthmusCrypto
import IsthmusPKI

/// The folder `isthmus pki` keeps a certificate authority in, the cloud portal's "root certificate" page:
///
///     DIR/ca.pem            the CA certificate (mode 0644; what `gateway.certificate_authorities` names)
///     DIR/ca.key            its private key (mode 0600; absent for a CA imported without its key)
///     DIR/issued/NAME.pem   certificates issued here (0644) and their keys, NAME.key (0600)
///     DIR/revoked           the revocation list (`gateway.revoked`): `serial HEX` / `sha256 HEX` lines
///
/// Every secret is written to a new file of mode 0600 and renamed into place; nothing here returns one.
public struct PKIDirectory: Sendable {
    /// The folder.
    public let path: String

    public init(path: String) { self.path = path }

    public var certificatePath: String { path + "/ca.pem" }
    public var keyPath: String { path + "/ca.key" }
    public var issuedPath: String { path + "/issued" }
    public var revokedPath: String { path + "/revoked" }

    /// The certificate (and key) files of an issued certificate.
    public func issuedFiles(_ name: String) -> (certificate: String, key: String) {
        (issuedPath + "/\(name).pem", issuedPath + "/\(name).key")
    }

    /// Certificates are issued from 10 minutes before now, for clients whose clocks are a little behind.
    public static let backdating: TimeInterval = 600

    // MARK: - The CA

    /// Creates a self-signed root CA in the folder (created with mode 0700 if missing).
    public func initialize(name: String, kind: KeyKind, days: Int, now: Date, force: Bool) throws(PKIError)
        -> CertificateDetails
    {
        guard days > 0 else { throw PKIError("--days must be at least 1") }
        if !force, exists(certificatePath) || exists(keyPath) {
            throw PKIError("\(path) already has a certificate authority (\(certificatePath)); --force replaces it")
        }
        let key = try pki { () throws(CertificateFailure) in try SigningKey(kind: kind) }
        let der = try pki { () throws(CertificateFailure) in
            try CertificateIssuer.selfSigned(
                subject: name, key: key, notBefore: now.addingTimeInterval(-Self.backdating),
                notAfter: now.addingTimeInterval(Double(days) * 86_400), serial: CertificateIssuer.randomSerial())
        }
        try makeFolder(path)
        try write(Array(key.pemRepresentation.utf8), to: keyPath, mode: 0o600)
        try write(Array(PEM.encode(der, label: "CERTIFICATE").utf8), to: certificatePath, mode: 0o644)
        return try pki { () throws(CertificateFailure) in try CertificateDetails(der: der) }
    }

    /// Takes an existing CA certificate (and optionally its key, which must match) into the folder.
    public func importAuthority(certificateFile: String, keyFile: String?, force: Bool) throws(PKIError)
        -> CertificateDetails
    {
        if !force, exists(certificatePath) || exists(keyPath) {
            throw PKIError("\(path) already has a certificate authority (\(certificatePath)); --force replaces it")
        }
        let certificateText = try read(certificateFile)
        let details = try pki { () throws(CertificateFailure) in try CertificateDetails(pem: certificateText) }
        guard details.isCertificateAuthority else {
            throw PKIError(
                "\(certificateFile): '\(details.subjectText)' is not a certificate authority (no basicConstraints CA)")
        }
        var keyText: String?
        if let keyFile {
            let text = try read(keyFile)
            let key = try pki { () throws(CertificateFailure) in try SigningKey(pem: text) }
            guard key.publicKey.subjectPublicKeyInfoDER == (try? details.publicKey.get())?.subjectPublicKeyInfoDER
            else { throw PKIError("\(keyFile): the private key does not belong to \(certificateFile)") }
            keyText = key.pemRepresentation
        }
        try makeFolder(path)
        if let keyText {
            try write(Array(keyText.utf8), to: keyPath, mode: 0o600)
        } else if exists(keyPath) {
            // A key left from an earlier CA would not match the imported certificate.
            _ = unlink(keyPath)
        }
        try write(Array(PEM.encode(details.der, label: "CERTIFICATE").utf8), to: certificatePath, mode: 0o644)
        return details
    }

    /// The CA certificate.
    public func authority() throws(PKIError) -> CertificateDetails {
        guard exists(certificatePath) else {
            throw PKIError("\(path) has no certificate authority; create one with 'isthmus pki init --dir \(path)'")
        }
        let text = try read(certificatePath)
        return try pki { () throws(CertificateFailure) in try CertificateDetails(pem: text) }
    }

    // MARK: - Issuing

    /// What `issue` made.
    public struct Issued: Sendable {
        public let details: CertificateDetails
        public let certificateFile: String
        public let keyFile: String
    }

    /// Issues a certificate for `name` signed by the folder's CA: a client's (EKU clientAuth; SAN email when the
    /// name has an '@', else DNS) or the gateway's (`server`: EKU serverAuth and IKE intermediate). Given
    /// `subjectAltNames` replace the default one.
    public func issue(
        name: String, server: Bool, subjectAltNames: [SubjectAltName], kind: KeyKind, days: Int, now: Date,
        force: Bool
    ) throws(PKIError) -> Issued {
        try Self.checkName(name)
        guard days > 0 else { throw PKIError("--days must be at least 1") }
        let files = issuedFiles(name)
        if !force, exists(files.certificate) || exists(files.key) {
            throw PKIError("\(files.certificate) already exists; --force replaces it (revoke the old one first)")
        }
        let authority = try authority()
        guard exists(keyPath) else {
            throw PKIError(
                "\(path) has the CA certificate but not its key; import it with 'isthmus pki import --key'")
        }
        let keyText = try read(keyPath)
        let caKey = try pki { () throws(CertificateFailure) in try SigningKey(pem: keyText) }
        let names = subjectAltNames.isEmpty ? [Self.defaultName(for: name)] : subjectAltNames
        let key = try pki { () throws(CertificateFailure) in try SigningKey(kind: kind) }
        let notAfter = min(now.addingTimeInterval(Double(days) * 86_400), authority.notAfter)
        let der = try pki { () throws(CertificateFailure) in
            try CertificateIssuer.issue(
                subject: name, subjectAltNames: names, publicKey: key.publicKey,
                profile: server ? .server : .client, notBefore: now.addingTimeInterval(-Self.backdating),
                notAfter: notAfter, serial: CertificateIssuer.randomSerial(), issuerCertificateDER: authority.der,
                issuerKey: caKey)
        }
        try makeFolder(issuedPath)
        try write(Array(key.pemRepresentation.utf8), to: files.key, mode: 0o600)
        try write(Array(PEM.encode(der, label: "CERTIFICATE").utf8), to: files.certificate, mode: 0o644)
        let details = try pki { () throws(CertificateFailure) in try CertificateDetails(der: der) }
        return Issued(details: details, certificateFile: files.certificate, keyFile: files.key)
    }

    /// The SAN a name gets when none is given: an address as IP, a name with '@' as email, else DNS.
    public static func defaultName(for name: String) -> SubjectAltName {
        if let address = try? SubjectAltName(parsing: "ip:" + name) { return address }
        return name.contains("@") ? .email(name) : .dns(name)
    }

    /// Names become file names: letters, digits, '@', '.', '_', '-', not starting with '.'.
    public static func checkName(_ name: String) throws(PKIError) {
        let allowed = name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII
                && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                    || "@._-".unicodeScalars.contains(scalar))
        }
        guard !name.isEmpty, !name.hasPrefix("."), name.count <= 128, allowed else {
            throw PKIError(
                "'\(name)' cannot name a certificate: use letters, digits, '@', '.', '_' and '-' (not a leading '.')")
        }
    }

    // MARK: - PKCS#12

    /// What `exportPKCS12` wrote.
    public struct PKCS12Export: Sendable {
        public let bundleFile: String
        /// The file the generated password was written to; nil when the caller gave one.
        public let passwordFile: String?
    }

    /// Writes `issued/NAME.p12` (mode 0600): the certificate, its key and the CA certificate, for Windows and
    /// macOS (PBES2 AES-256-CBC, PBKDF2 and MAC with SHA-256). Without `password`, 24 random letters and
    /// digits are generated into `issued/NAME.p12.password` (0600); the password is never returned.
    public func exportPKCS12(name: String, password: [UInt8]?, force: Bool) throws(PKIError) -> PKCS12Export {
        try Self.checkName(name)
        let files = issuedFiles(name)
        let bundleFile = issuedPath + "/\(name).p12"
        let passwordFile = bundleFile + ".password"
        guard exists(files.certificate), exists(files.key) else {
            throw PKIError("no certificate and key named '\(name)' in \(issuedPath); issue it first")
        }
        if !force, exists(bundleFile) { throw PKIError("\(bundleFile) already exists; --force replaces it") }
        let certificateText = try read(files.certificate)
        let keyText = try read(files.key)
        guard let certificateDER = PEM.blocks(certificateText, label: "CERTIFICATE").first else {
            throw PKIError("\(files.certificate) has no certificate")
        }
        guard let keyDER = PEM.documents(keyText).first(where: { $0.label.hasSuffix("PRIVATE KEY") })?.der else {
            throw PKIError("\(files.key) has no private key")
        }
        let chain = exists(certificatePath) ? PEM.blocks(try read(certificatePath), label: "CERTIFICATE") : []
        var secret = password ?? Self.randomPassword()
        defer { for index in secret.indices { secret[index] = 0 } }
        let bundle: [UInt8]
        do {
            bundle = try PKCS12Bundle.make(
                certificateDER: certificateDER, privateKeyDER: keyDER, chainDER: chain, friendlyName: name,
                password: secret)
        } catch {
            throw PKIError("cannot make the PKCS#12 file for '\(name)': \(error)")
        }
        if password == nil { try write(secret + [0x0a], to: passwordFile, mode: 0o600) }
        try write(bundle, to: bundleFile, mode: 0o600)
        return PKCS12Export(bundleFile: bundleFile, passwordFile: password == nil ? passwordFile : nil)
    }

    /// 24 letters and digits from the system's CSPRNG (about 143 bits), easy to type on a phone.
    static func randomPassword() -> [UInt8] {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789".utf8)
        var generator = SystemRandomNumberGenerator()
        return (0..<24).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
    }

    // MARK: - Revocation

    /// The revocation list of the folder (empty when there is no file yet).
    public func revocationList() throws(PKIError) -> RevocationList {
        guard exists(revokedPath) else { return RevocationList() }
        let text = try read(revokedPath)
        do {
            return try RevocationList(parsing: text)
        } catch {
            throw PKIError("\(revokedPath): \(error)")
        }
    }

    /// What `revoke` did.
    public enum Revocation: Sendable, Equatable {
        /// A line was appended.
        case added(line: String)
        /// The certificate was on the list already.
        case alreadyRevoked
    }

    /// What to revoke: an issued certificate by name, or any certificate by serial or SHA-256 thumbprint.
    public enum RevocationTarget: Sendable {
        case name(String)
        case serial(String)
        case sha256(String)
    }

    /// Appends an entry to the revocation list, `serial HEX  # NAME DATE` (one line, the file is replaced
    /// atomically, mode 0644). A running gateway reads it on `isthmus reload`.
    public func revoke(_ target: RevocationTarget, now: Date) throws(PKIError) -> Revocation {
        let existing = exists(revokedPath) ? try read(revokedPath) : ""
        let list: RevocationList
        do {
            list = try RevocationList(parsing: existing)
        } catch {
            throw PKIError("\(revokedPath): \(error); fix it before adding to it")
        }
        let date = Self.day(now)
        var line: String
        switch target {
        case .name(let name):
            try Self.checkName(name)
            let file = issuedFiles(name).certificate
            guard exists(file) else { throw PKIError("no certificate named '\(name)' was issued here (\(file))") }
            let text = try read(file)
            let details = try pki { () throws(CertificateFailure) in try CertificateDetails(pem: text) }
            if list.contains(details) { return .alreadyRevoked }
            line = RevocationList.line(serialHex: details.serialHex, comment: "\(name) \(date)")
        case .serial(let hex):
            let candidate = RevocationList.line(serialHex: hex, comment: "serial \(date)")
            guard let parsed = try? RevocationList(parsing: candidate) else {
                throw PKIError("'\(hex)' is not a serial number in hex")
            }
            if parsed.serials.isSubset(of: list.serials) { return .alreadyRevoked }
            line = candidate
        case .sha256(let hex):
            let candidate = RevocationList.line(
                sha256Thumbprint: hex.replacingOccurrences(of: ":", with: ""), comment: "thumbprint \(date)")
            guard let parsed = try? RevocationList(parsing: candidate) else {
                throw PKIError("'\(hex)' is not a SHA-256 thumbprint (64 hex digits)")
            }
            if parsed.sha256Thumbprints.isSubset(of: list.sha256Thumbprints) { return .alreadyRevoked }
            line = candidate
        }
        var contents = existing
        if contents.isEmpty {
            contents = "# Revoked certificates (isthmus pki revoke): serial HEX or sha256 HEX, one a line.\n"
        } else if !contents.hasSuffix("\n") {
            contents += "\n"
        }
        try makeFolder(path)
        try write(Array((contents + line).utf8), to: revokedPath, mode: 0o644)
        return .added(line: line.trimmingCharacters(in: .newlines))
    }

    // MARK: - Listing

    /// One issued certificate.
    public struct Entry: Sendable {
        public let name: String
        public let details: CertificateDetails
        public let revoked: Bool
    }

    /// The certificates under `issued/`, by name; files that do not parse are reported in `unreadable`.
    public func list() throws(PKIError) -> (entries: [Entry], unreadable: [String]) {
        let revoked = try revocationList()
        let files = (try? FileManager.default.contentsOfDirectory(atPath: issuedPath)) ?? []
        var entries: [Entry] = []
        var unreadable: [String] = []
        for file in files.sorted() where file.hasSuffix(".pem") {
            let name = String(file.dropLast(4))
            guard let text = try? read(issuedPath + "/" + file),
                let details = try? CertificateDetails(pem: text)
            else {
                unreadable.append(issuedPath + "/" + file)
                continue
            }
            entries.append(Entry(name: name, details: details, revoked: revoked.contains(details)))
        }
        return (entries, unreadable)
    }

    // MARK: - Files

    /// `2026-12-07` (UTC).
    public static func day(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
    }

    private func exists(_ file: String) -> Bool {
        var status = stat()
        return lstat(file, &status) == 0
    }

    private func read(_ file: String) throws(PKIError) -> String {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw PKIError("cannot read \(file): \(String(cString: strerror(errno)))")
        }
        return String(decoding: data, as: UTF8.self)
    }

    private func makeFolder(_ folder: String) throws(PKIError) {
        var status = stat()
        if stat(folder, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFDIR else { throw PKIError("\(folder) is not a folder") }
            return
        }
        do {
            try FileManager.default.createDirectory(
                atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw PKIError("cannot create \(folder): \(error.localizedDescription)")
        }
    }

    /// Atomically (a 0600 temporary file renamed into place), then the final mode.
    private func write(_ bytes: [UInt8], to file: String, mode: mode_t) throws(PKIError) {
        do {
            try AtomicFile.replace(file, with: bytes)
        } catch {
            throw PKIError("\(error)")
        }
        if mode != 0o600, chmod(file, mode) != 0 {
            throw PKIError("cannot set the mode of \(file): \(String(cString: strerror(errno)))")
        }
    }

    private func pki<T>(_ body: () throws(CertificateFailure) -> T) throws(PKIError) -> T {
        do {
            return try body()
        } catch {
            throw PKIError(error.description)
        }
    }
}

/// Why an `isthmus pki` step did nothing: one sentence for the user.
public struct PKIError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
