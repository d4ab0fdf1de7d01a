import IsthmusCrypto
import IsthmusWire

/// The peer side of EAP-MSCHAPv2 as strongSwan's client plays it, built from the pure pieces, for tests: it
/// answers Identity with `identity`, a Challenge with a Response for `password`, checks the Success Request's
/// authenticator response and acknowledges it, and acknowledges a Failure Request.
struct EAPTestClient {
    let identity: String
    let password: String
    var peerChallenge: [UInt8] = Array(0x40..<0x50)
    private(set) var msk: SecretBytes?
    private(set) var serverVerified = false
    private(set) var refusedWith: String?
    private var expectedAuthenticator: String?

    init(identity: String, password: String) {
        self.identity = identity
        self.password = password
    }

    /// The answer to a Request (nil when the client gives up, as strongSwan does on a bad Success Request).
    mutating func answer(_ bytes: [UInt8]) throws -> [UInt8]? {
        let request = try EAPPacket(parsing: bytes)
        switch request.type {
        case .identity?:
            return EAPPacket(
                code: .response, identifier: request.identifier, type: .identity, data: Array(identity.utf8)
            ).serialize()
        case .mschapv2?:
            switch try MSCHAPv2Packet(parsing: request.data, isRequest: true) {
            case .challenge(let id, let challenge, _):
                let hash = try MSCHAPv2Crypto.ntPasswordHash(password: password)
                let name = Array(identity.utf8)
                let ntResponse = try MSCHAPv2Crypto.ntResponse(
                    authenticatorChallenge: challenge, peerChallenge: peerChallenge, userName: name,
                    passwordHash: hash)
                expectedAuthenticator = try MSCHAPv2Crypto.authenticatorResponse(
                    passwordHash: hash, ntResponse: ntResponse, peerChallenge: peerChallenge,
                    authenticatorChallenge: challenge, userName: name)
                msk = try MSCHAPv2Crypto.msk(passwordHash: hash, ntResponse: ntResponse)
                let body = MSCHAPv2Packet.response(
                    id: id, peerChallenge: peerChallenge, ntResponse: ntResponse, flags: 0, name: name)
                return EAPPacket(
                    code: .response, identifier: request.identifier, type: .mschapv2, data: body.serialize()
                ).serialize()
            case .successRequest(_, let message):
                guard let expectedAuthenticator, message.hasPrefix(expectedAuthenticator + " ") else { return nil }
                serverVerified = true
                return EAPPacket(
                    code: .response, identifier: request.identifier, type: .mschapv2,
                    data: MSCHAPv2Packet.successResponse.serialize()
                ).serialize()
            case .failureRequest(_, let message):
                refusedWith = message
                return EAPPacket(
                    code: .response, identifier: request.identifier, type: .mschapv2,
                    data: MSCHAPv2Packet.failureResponse.serialize()
                ).serialize()
            default:
                return nil
            }
        default:
            return nil
        }
    }
}
