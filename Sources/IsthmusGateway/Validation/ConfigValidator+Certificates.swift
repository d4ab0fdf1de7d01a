/// `auth: certificate`: the connection runs IKEv2, and the gateway has its own certificate and trust roots.
extension ConfigValidator {
    mutating func checkCertificateAuthentication(_ connections: [Located<Connection>], gateway: GatewaySettings?) {
        for located in connections where located.value.authentication == .certificate {
            let connection = located.value
            let location = at(located.path, "auth")
            if connection.ikeVersion == .v1 {
                error(
                    location,
                    "connection '\(connection.name)' uses IKEv1, and certificate authentication is implemented for "
                        + "IKEv2 only for now",
                    fix: "set ike_version: 2 (both ends), or use a pre-shared key (auth: psk)")
            }
            guard let gateway else { continue }
            if gateway.certificates.credential == nil {
                error(
                    location,
                    "connection '\(connection.name)' authenticates with certificates, but the gateway has "
                        + "no certificate of its own",
                    fix: "add 'certificate: {certificate: FILE, private_key: FILE}' under gateway:")
            }
            if gateway.certificates.authoritiesDER.isEmpty {
                error(
                    location,
                    "connection '\(connection.name)' authenticates with certificates, but the gateway trusts "
                        + "no certificate authority to check the peer's certificate",
                    fix: "add 'certificate_authorities: [FILE]' (the CA that issued the peer's certificate) under "
                        + "gateway:")
            }
        }
    }
}
