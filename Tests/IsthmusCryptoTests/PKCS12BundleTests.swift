import Foundation
import IsthmusCrypto
import XCTest

/// PKCS#12 bundles written by libcrypto and read back (the CLI's `isthmus pki export-p12`).
final class PKCS12BundleTests: XCTestCase {
    // strongSwan `pki` made these: a P-256 CA and a certificate for moon issued by it, with moon's SEC1 key.
    private static let caPEM = """
        -----BEGIN CERTIFICATE-----
        MIIBtzCCAVygAwIBAgIIUjlGJAfUgmwwCgYIKoZIzj0EAwIwPzELMAkGA1UEBhMC
        Q0gxEzARBgNVBAoTCnN0cm9uZ1N3YW4xGzAZBgNVBAMTEnN0cm9uZ1N3YW4gUm9v
        dCBDQTAeFw0yNjEyMDcwMTQzMTVaFw0zNjEyMDQwMTQzMTVaMD8xCzAJBgNVBAYT
        AkNIMRMwEQYDVQQKEwpzdHJvbmdTd2FuMRswGQYDVQQDExJzdHJvbmdTd2FuIFJv
        b3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAT+IjUZJYKbeiD62GTysvv5
        4+CvnJXhODNjMJ4Iq1GCUvaQr13NgniIUxoMoiW1xE3qdoc27cotjPnTTkR5Dk9S
        o0IwQDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQU
        us18LpiTFGZLPAOnh8avPoATJwEwCgYIKoZIzj0EAwIDSQAwRgIhANAyE1DGRtI3
        qAbEJQpshGt+LY5lftGrLwYk8GZIq686AiEAsTAbsQVPEzXNeSILZZcEX5RHsAbE
        9KwcEpjNk4pmZCE=
        -----END CERTIFICATE-----
        """

    private static let caKeyPEM = """
        -----BEGIN EC PRIVATE KEY-----
        MHcCAQEEIDcSQtXmf4Sy0qH2ZN9k1stknBrRY6GV+HMbjaPLr3kaoAoGCCqGSM49
        AwEHoUQDQgAE/iI1GSWCm3og+thk8rL7+ePgr5yV4TgzYzCeCKtRglL2kK9dzYJ4
        iFMaDKIltcRN6naHNu3KLYz5005EeQ5PUg==
        -----END EC PRIVATE KEY-----
        """

    private static let moonPEM = """
        -----BEGIN CERTIFICATE-----
        MIIB3TCCAYOgAwIBAgIIDHnABKAYQhUwCgYIKoZIzj0EAwIwPzELMAkGA1UEBhMC
        Q0gxEzARBgNVBAoTCnN0cm9uZ1N3YW4xGzAZBgNVBAMTEnN0cm9uZ1N3YW4gUm9v
        dCBDQTAeFw0yNjEyMDcwMTQzMTVaFw0zNjEyMDQwMTQzMTVaMEAxCzAJBgNVBAYT
        AkNIMRMwEQYDVQQKEwpzdHJvbmdTd2FuMRwwGgYDVQQDExNtb29uLnN0cm9uZ3N3
        YW4ub3JnMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEi5LCtcYSRDOEIRCBKRk1
        6BeSBwaLmyI5scIfOsDztdvV/rJwpsrw7umX08sZFFbc9q+JcaQhJB25BNOs35nf
        46NoMGYwHwYDVR0jBBgwFoAUus18LpiTFGZLPAOnh8avPoATJwEwJAYDVR0RBB0w
        G4ITbW9vbi5zdHJvbmdzd2FuLm9yZ4cEwAACATAdBgNVHSUEFjAUBggrBgEFBQcD
        AQYIKwYBBQUIAgIwCgYIKoZIzj0EAwIDSAAwRQIhAPtC9IGoNiLMc93Ex0q2EV1z
        GDjFkiQU1j7BzAxZb+xiAiBH3YqaoTCWWFsytY/tsNJ6srkDMBETEtFhJzDveguU
        mw==
        -----END CERTIFICATE-----
        """

    private static let moonKeyPEM = """
        -----BEGIN EC PRIVATE KEY-----
        MHcCAQEEILl4M/xvMwGKbINdnPsMwGlrTcbk/LiwlwRG7FqToylCoAoGCCqGSM49
        AwEHoUQDQgAEi5LCtcYSRDOEIRCBKRk16BeSBwaLmyI5scIfOsDztdvV/rJwpsrw
        7umX08sZFFbc9q+JcaQhJB25BNOs35nf4w==
        -----END EC PRIVATE KEY-----
        """

    private func der(_ pem: String) -> [UInt8] {
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        return Array(Data(base64Encoded: body) ?? Data())
    }

    private let password = Array("correct horse battery".utf8)

    func testBundleOpensWithItsPasswordOnly() throws {
        let bundle = try PKCS12Bundle.make(
            certificateDER: der(Self.moonPEM), privateKeyDER: der(Self.moonKeyPEM), chainDER: [der(Self.caPEM)],
            friendlyName: "moon", password: password)
        let contents = try PKCS12Bundle.open(bundle, password: password)
        XCTAssertEqual(contents.certificateDER, der(Self.moonPEM))
        XCTAssertTrue(contents.hasKey)
        XCTAssertEqual(contents.chainDER, [der(Self.caPEM)])
        XCTAssertThrowsError(try PKCS12Bundle.open(bundle, password: Array("wrong".utf8))) {
            XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .authenticationFailure)
        }
        // Random salts: two bundles of the same inputs differ.
        let again = try PKCS12Bundle.make(
            certificateDER: der(Self.moonPEM), privateKeyDER: der(Self.moonKeyPEM), chainDER: [],
            friendlyName: "moon", password: password)
        XCTAssertNotEqual(again, bundle)
        XCTAssertEqual(try PKCS12Bundle.open(again, password: password).chainDER, [])
    }

    func testBadInputsAreRefused() {
        let cases: [(String, () throws -> [UInt8])] = [
            (
                "key of another certificate",
                {
                    try PKCS12Bundle.make(
                        certificateDER: self.der(Self.moonPEM), privateKeyDER: self.der(Self.caKeyPEM), chainDER: [],
                        friendlyName: "x", password: self.password)
                }
            ),
            (
                "garbage certificate",
                {
                    try PKCS12Bundle.make(
                        certificateDER: [0x30, 0x03, 0x02, 0x01, 0x01], privateKeyDER: self.der(Self.moonKeyPEM),
                        chainDER: [], friendlyName: "x", password: self.password)
                }
            ),
            (
                "garbage key",
                {
                    try PKCS12Bundle.make(
                        certificateDER: self.der(Self.moonPEM), privateKeyDER: [0x30, 0x00], chainDER: [],
                        friendlyName: "x", password: self.password)
                }
            ),
            (
                "garbage chain",
                {
                    try PKCS12Bundle.make(
                        certificateDER: self.der(Self.moonPEM), privateKeyDER: self.der(Self.moonKeyPEM),
                        chainDER: [[0xff]], friendlyName: "x", password: self.password)
                }
            ),
            (
                "NUL in the password",
                {
                    try PKCS12Bundle.make(
                        certificateDER: self.der(Self.moonPEM), privateKeyDER: self.der(Self.moonKeyPEM), chainDER: [],
                        friendlyName: "x", password: [0x61, 0x00, 0x62])
                }
            ),
        ]
        for (name, make) in cases {
            XCTAssertThrowsError(try make(), name) {
                XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .invalidParameter, name)
            }
        }
        XCTAssertThrowsError(try PKCS12Bundle.open([0x30, 0x80, 0x00], password: password)) {
            XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .invalidParameter)
        }
    }
}
