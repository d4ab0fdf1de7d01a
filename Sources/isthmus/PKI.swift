import ArgumentParser
import Foundation
import IsthmusGateway
import IsthmusPKI

/// `isthmus pki`: the certificate authority for point-to-site clients and certificate-authenticated sites
/// (the cloud portal's root certificate, client certificates and revoked certificates).
struct PKI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pki",
        abstract: "Create or import a certificate authority, issue, revoke, list and show certificates.",
        discussion: """
            A folder (--dir) holds the CA: ca.pem (gateway.certificate_authorities), ca.key (mode 0600), \
            issued/NAME.pem and NAME.key (mode 0600), and revoked (gateway.revoked). Private keys are only \
            ever written to files of mode 0600 and never printed.
            """,
        subcommands: [
            PKIInit.self, PKIImport.self, PKIIssue.self, PKIRevoke.self, PKIList.self, PKIShow.self,
            PKIExportP12.self,
        ]
    )
}

extension KeyKind: ExpressibleByArgument {}

/// The CA folder option every subcommand but `show` takes.
struct PKIFolder: ParsableArguments {
    @Option(name: .long, help: "The folder of the certificate authority.")
    var dir: String

    var folder: PKIDirectory { PKIDirectory(path: dir) }
}

/// Runs a step of `isthmus pki`, turning its error into one line on standard error and exit 1.
private func pkiStep<T>(_ command: String, _ body: () throws(PKIError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        printError("isthmus pki \(command): \(error)")
        throw ExitCode(1)
    }
}

/// `isthmus pki init --dir DIR`.
struct PKIInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a root certificate authority (self-signed, CA, keyCertSign/cRLSign): DIR/ca.pem, DIR/ca.key."
    )

    @OptionGroup var folder: PKIFolder

    @Option(name: .long, help: "The CA's name: a plain name (its CN) or a DN such as \"C=CH, O=Example, CN=VPN CA\".")
    var name = "Isthmus Root CA"

    @Option(name: .long, help: "The key type: \(KeyKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var key: KeyKind = .ecdsaP256

    @Option(name: .long, help: "Days of validity.")
    var days = 3650

    @Flag(name: .long, help: "Replace a CA that is already in the folder.")
    var force = false

    func run() throws {
        let details = try pkiStep("init") { () throws(PKIError) in
            try folder.folder.initialize(name: name, kind: key, days: days, now: Date(), force: force)
        }
        print("created the certificate authority '\(details.subjectText)'")
        print("  certificate: \(folder.folder.certificatePath) (until \(PKIShow.time(details.notAfter)))")
        print("  private key: \(folder.folder.keyPath) (mode 0600)")
        print("  trust it in the gateway: certificate_authorities: [\(folder.folder.certificatePath)]")
    }
}

/// `isthmus pki import --dir DIR --certificate FILE [--key FILE]`.
struct PKIImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Use an existing certificate authority: copy its certificate (and key, to issue) into DIR."
    )

    @OptionGroup var folder: PKIFolder

    @Option(name: .long, help: "The CA certificate (PEM).")
    var certificate: String

    @Option(name: .long, help: "The CA's private key (PEM, unencrypted); without it the folder can only revoke.")
    var key: String?

    @Flag(name: .long, help: "Replace a CA that is already in the folder.")
    var force = false

    func run() throws {
        let details = try pkiStep("import") { () throws(PKIError) in
            try folder.folder.importAuthority(certificateFile: certificate, keyFile: key, force: force)
        }
        print("imported the certificate authority '\(details.subjectText)' into \(folder.dir)")
        print(
            key == nil
                ? "  without its private key: 'issue' needs 'isthmus pki import --key'"
                : "  private key: \(folder.folder.keyPath) (mode 0600)")
    }
}

/// `isthmus pki issue NAME --dir DIR`.
struct PKIIssue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Issue a client certificate (or with --server the gateway's own) signed by the CA.",
        discussion: """
            A client certificate has CN=NAME, EKU clientAuth and the subject alternative name NAME (email when \
            NAME has an '@', else DNS). --server makes the gateway's certificate: EKU serverAuth and IKE \
            intermediate (1.3.6.1.5.5.8.2.2), which Windows and macOS clients require, with the --san names and \
            addresses clients connect to. Writes DIR/issued/NAME.pem and DIR/issued/NAME.key (mode 0600).
            """
    )

    @Argument(help: "The certificate's name: a user (alice@example.com), a device or the gateway's host name.")
    var name: String

    @OptionGroup var folder: PKIFolder

    @Flag(name: .long, help: "The gateway's own certificate (EKU serverAuth and IKE intermediate).")
    var server = false

    @Option(name: .long, help: "A subject alternative name, dns:NAME, email:ADDRESS or ip:ADDRESS (repeatable).")
    var san: [String] = []

    @Option(name: .long, help: "Days of validity (at most the CA's).")
    var days = 825

    @Option(name: .long, help: "The key type: \(KeyKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var key: KeyKind = .ecdsaP256

    @Flag(name: .long, help: "Replace a certificate of the same name.")
    var force = false

    func run() throws {
        var names: [SubjectAltName] = []
        for text in san {
            do {
                names.append(try SubjectAltName(parsing: text))
            } catch {
                printError("isthmus pki issue: --san \(error)")
                throw ExitCode(1)
            }
        }
        let issued = try pkiStep("issue") { () throws(PKIError) in
            try folder.folder.issue(
                name: name, server: server, subjectAltNames: names, kind: key, days: days, now: Date(), force: force)
        }
        let details = issued.details
        print("issued '\(details.subjectText)' (\(server ? "gateway" : "client"), serial \(details.serialHex))")
        print("  names: \(details.subjectAltNames.map(\.description).joined(separator: ", "))")
        print("  valid until: \(PKIShow.time(details.notAfter))")
        print("  certificate: \(issued.certificateFile)")
        print("  private key: \(issued.keyFile) (mode 0600)")
    }
}

/// `isthmus pki revoke NAME|--serial HEX|--sha256 HEX --dir DIR`.
struct PKIRevoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Add a certificate to DIR/revoked (gateway.revoked); 'isthmus reload' makes a running gateway use it."
    )

    @Argument(help: "The name of a certificate issued from this folder.")
    var name: String?

    @OptionGroup var folder: PKIFolder

    @Option(name: .long, help: "Revoke by serial number (hex, colons allowed), for certificates issued elsewhere.")
    var serial: String?

    @Option(name: .long, help: "Revoke by SHA-256 thumbprint of the certificate (hex).")
    var sha256: String?

    func validate() throws {
        let given = [name != nil, serial != nil, sha256 != nil].filter { $0 }.count
        guard given == 1 else { throw ValidationError("Give exactly one of NAME, --serial HEX or --sha256 HEX.") }
    }

    func run() throws {
        let target: PKIDirectory.RevocationTarget =
            if let name { .name(name) } else if let serial { .serial(serial) } else { .sha256(sha256 ?? "") }
        let outcome = try pkiStep("revoke") { () throws(PKIError) in try folder.folder.revoke(target, now: Date()) }
        switch outcome {
        case .added(let line):
            print("revoked: \(line)")
            print("  list: \(folder.folder.revokedPath) (gateway.revoked; 'isthmus reload' applies it)")
        case .alreadyRevoked:
            print("already revoked in \(folder.folder.revokedPath)")
        }
    }
}

/// `isthmus pki list --dir DIR [--json]`.
struct PKIList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the certificates issued from DIR: subject, serial, expiry, revoked.")

    @OptionGroup var folder: PKIFolder

    @Flag(name: .long, help: "One JSON object with the CA and its certificates.")
    var json = false

    func run() throws {
        let authority = try pkiStep("list") { () throws(PKIError) in try folder.folder.authority() }
        let (entries, unreadable) = try pkiStep("list") { () throws(PKIError) in try folder.folder.list() }
        for file in unreadable { printError("isthmus pki list: \(file) is not a certificate; skipped") }
        if json {
            let object: [String: Any] = [
                "authority": ["subject": authority.subjectText, "not_after": PKIShow.iso(authority.notAfter)],
                "certificates": entries.map { entry -> [String: Any] in
                    [
                        "name": entry.name, "subject": entry.details.subjectText, "serial": entry.details.serialHex,
                        "not_after": PKIShow.iso(entry.details.notAfter), "revoked": entry.revoked,
                        "subject_alt_names": entry.details.subjectAltNames.map(\.description),
                        "sha256": entry.details.sha256Thumbprint,
                        "expired": entry.details.notAfter < Date(),
                    ]
                },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("certificate authority: \(authority.subjectText) (until \(PKIShow.time(authority.notAfter)))")
        guard !entries.isEmpty else {
            print("no certificates issued yet ('isthmus pki issue NAME --dir \(folder.dir)')")
            return
        }
        let rows =
            [["NAME", "SUBJECT", "SERIAL", "NOT AFTER", "REVOKED"]]
            + entries.map { entry in
                [
                    entry.name, entry.details.subjectText, entry.details.serialHex,
                    PKIShow.time(entry.details.notAfter) + (entry.details.notAfter < Date() ? " (expired)" : ""),
                    entry.revoked ? "yes" : "no",
                ]
            }
        let widths = (0..<5).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print(
                zip(row, widths).map { cell, width in cell.padding(toLength: width, withPad: " ", startingAt: 0) }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
    }
}

/// `isthmus pki show FILE`.
struct PKIShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show a certificate: subject, issuer, names, validity, key, thumbprints.")

    @Argument(help: "A certificate file (PEM; the first certificate in it).")
    var file: String

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            printError("isthmus pki show: cannot read \(file)")
            throw ExitCode(1)
        }
        let text = String(decoding: data, as: UTF8.self)
        let details: CertificateDetails
        do {
            details = try CertificateDetails(pem: text)
        } catch {
            printError("isthmus pki show: \(file): \(error)")
            throw ExitCode(1)
        }
        let key: String =
            switch details.publicKey {
            case .success(let key): key.keyDescription
            case .failure(let failure): "unusable (\(failure))"
            }
        print("subject:     \(details.subjectText)")
        print("issuer:      \(details.issuerText)")
        if !details.subjectAltNames.isEmpty {
            print("names:       \(details.subjectAltNames.map(\.description).joined(separator: ", "))")
        }
        print("serial:      \(details.serialHex)")
        print("valid:       \(Self.time(details.notBefore)) to \(Self.time(details.notAfter))")
        print("key:         \(key)")
        print("CA:          \(details.isCertificateAuthority ? "yes" : "no")")
        if !details.extendedKeyUsages.isEmpty {
            print("usages:      \(details.extendedKeyUsages.joined(separator: ", "))")
        }
        print("sha1:        \(details.sha1Thumbprint)")
        print("sha256:      \(details.sha256Thumbprint)")
    }

    /// `2026-12-07 01:43:15 UTC`.
    static func time(_ date: Date) -> String {
        KeyTime.utc(Int64(date.timeIntervalSince1970))
    }

    /// `2026-12-07T01:43:15Z`.
    static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}

/// `isthmus pki export-p12 NAME --dir DIR [--password-file FILE]`.
struct PKIExportP12: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-p12",
        abstract: "Write DIR/issued/NAME.p12 (certificate, key and CA) for Windows and macOS clients.",
        discussion: """
            The file (mode 0600) is encrypted with AES-256-CBC (PBES2, PBKDF2 with HMAC-SHA-256) and carries an \
            HMAC-SHA-256 MAC. The password is the first line of --password-file; without it, a random one is \
            written to DIR/issued/NAME.p12.password (mode 0600). The password is never printed.
            """
    )

    @Argument(help: "The name of a certificate issued from this folder.")
    var name: String

    @OptionGroup var folder: PKIFolder

    @Option(name: .long, help: "A file whose first line is the password.")
    var passwordFile: String?

    @Flag(name: .long, help: "Replace an existing NAME.p12.")
    var force = false

    func run() throws {
        var password: [UInt8]?
        if let passwordFile {
            guard let data = FileManager.default.contents(atPath: passwordFile) else {
                printError("isthmus pki export-p12: cannot read \(passwordFile)")
                throw ExitCode(1)
            }
            let firstLine = Array(data).prefix(while: { $0 != 0x0a && $0 != 0x0d })
            guard !firstLine.isEmpty else {
                printError("isthmus pki export-p12: \(passwordFile) has an empty first line")
                throw ExitCode(1)
            }
            password = Array(firstLine)
        }
        let export = try pkiStep("export-p12") { () throws(PKIError) in
            try folder.folder.exportPKCS12(name: name, password: password, force: force)
        }
        print("wrote \(export.bundleFile) (mode 0600)")
        if let generated = export.passwordFile {
            print("  password: in \(generated) (mode 0600); give it to the user separately")
        }
    }
}
