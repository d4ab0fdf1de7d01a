import ArgumentParser
import Foundation
import IsthmusGateway

/// `isthmus pki bundle NAME --dir DIR --config GATEWAY.yaml`: the cloud portal's "download the VPN client".
struct PKIBundle: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Write a client's VPN bundle: its certificate and key, PKCS#12, and profiles for every platform.",
        discussion: """
            Reads the gateway's configuration (public_address, point_to_site: auth, ike/esp proposals, \
            full_tunnel; gateway.certificate for the identity clients check) and writes OUT/NAME/: ca.pem, \
            NAME.pem, NAME.key, NAME.p12 and NAME.p12.password, swanctl.conf (with x509/, x509ca/, private/ \
            for 'swanctl --load-all --file'), GATEWAY.nmconnection (NetworkManager's strongSwan plugin), \
            NAME.mobileconfig (macOS/iOS), NAME-windows.ps1 (Windows' Add-VpnConnection) and README.txt. \
            Keys, passwords and the files that contain them are mode 0600 and never printed. A platform that \
            cannot use any of the gateway's proposals is left out with the reason. With --eap the client signs \
            in as NAME with a password (EAP-MSCHAPv2): no certificate, the profiles ask for the password.
            """
    )

    @Argument(help: "The client's name: a certificate issued with 'isthmus pki issue NAME' (or the EAP user).")
    var name: String

    @OptionGroup var folder: PKIFolder

    @Option(name: .long, help: "The gateway's configuration file.")
    var config: String

    @Option(name: .long, help: "The folder the bundle folder NAME is written in.")
    var out = "."

    @Option(name: .long, help: "The address or DNS name clients connect to (default: gateway.public_address).")
    var address: String?

    @Flag(name: .long, help: "The client authenticates with EAP-MSCHAPv2 as NAME instead of a certificate.")
    var eap = false

    @Flag(name: .long, help: "Replace the files of an existing bundle folder.")
    var force = false

    func run() throws {
        let result = ConfigLoader.load(path: config)
        guard let gateway = result.config else {
            for diagnostic in result.errors { printError(diagnostic.description) }
            printError("\(config): the configuration was not accepted ('isthmus check \(config)' lists why)")
            throw ExitCode(1)
        }
        let request = ClientBundle.Request(
            name: name, authority: folder.folder, config: gateway, outputFolder: out, address: address, eap: eap,
            force: force)
        let written: ClientBundle.Written
        do {
            written = try ClientBundle.write(request)
        } catch {
            printError("isthmus pki bundle: \(error)")
            throw ExitCode(1)
        }
        print("wrote the VPN client bundle for \(name) to \(written.folder)")
        for file in written.files where !file.name.contains("/") {
            print("  \(file.name)\(file.secret ? " (mode 0600)" : "")")
        }
        for skipped in written.skipped {
            print("  not written: \(skipped.message)")
        }
        print("  README.txt says which file is for what; the 0600 files are secret.")
    }
}
