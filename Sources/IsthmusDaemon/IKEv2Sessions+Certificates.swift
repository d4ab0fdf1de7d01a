import Foundation
import IsthmusGateway
import IsthmusIKEv2
import IsthmusPKI

extension IKEv2Configuration {
    /// Applies a connection's `auth:`. With certificates: the gateway's credential, its roots and revocation
    /// list (loaded with the configuration), the wall clock for validity, our identity defaulting to our
    /// certificate's subject DN (as strongSwan's), and the peer's identity checked only when `remote_id` is set.
    mutating func authenticate(as connection: Connection, gateway: GatewaySettings) throws(DaemonError) {
        guard connection.authentication == .certificate else { return }
        guard let credential = gateway.certificates.credential?.value, !gateway.certificates.authoritiesDER.isEmpty
        else {
            throw .unusableConnection(
                "connection \(connection.name) authenticates with certificates, but the gateway has no certificate or "
                    + "no certificate_authorities")
        }
        authentication = .certificate(
            local: credential, peers: gateway.certificates.verifier, wallClock: { Date() })
        if connection.localIdentity == nil {
            localIdentity = .distinguishedName(der: credential.subjectDER, text: credential.subjectText)
        }
        remoteIdentityConfigured = connection.remoteIdentity != nil
        certificateRequestHashes = IKEv2Authentication.keyHashes(ofRootsDER: gateway.certificates.authoritiesDER)
    }
}
