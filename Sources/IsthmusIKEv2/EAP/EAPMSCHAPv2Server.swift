import IsthmusCrypto
import IsthmusWire

/// The server side of EAP-MSCHAPv2 (RFC 3748, draft-kamath-pppext-eap-mschapv2, RFC 2759) as a pure state
/// machine: EAP packets in, EAP packets out, randomness injected.
///
/// The conversation: Request/Identity -> Response/Identity; MSCHAPv2 Challenge -> Response; on a matching
/// NT-Response a Success Request ("S=<authenticator response> M=...") -> the peer's Success Response -> EAP
/// Success with the 64-byte MSK. On a wrong password (or an unknown user: the two are not told apart to the
/// peer, so names cannot be probed) a Failure Request "E=691 R=0 C=<challenge> V=3 M=..." -> the peer's Failure
/// Response (or anything else) -> EAP Failure. No retry is offered (R=0): strongSwan's client never retries, and
/// a Windows client asks the user again on a new connection attempt; one wrong guess costs a whole IKE_SA_INIT
/// and IKE_AUTH, which slows guessing more than a retry inside the exchange would.
public struct EAPMSCHAPv2Server: Sendable {
    /// What the server does next.
    public enum Outcome: Sendable {
        /// Send this EAP Request and wait for the answer.
        case send(EAPPacket)
        /// The client is refused: send this MSCHAPv2 Failure Request and report `Failure` now; the peer's
        /// acknowledgement (if it sends one) ends the conversation with an EAP Failure.
        case refusing(EAPPacket, Failure)
        /// Authenticated: send the EAP Success; `user` is the name as configured.
        case succeeded(EAPPacket, user: String, msk: SecretBytes)
        /// Over: send the EAP Failure. `reported` is true when `refusing` already told the failure.
        case failed(EAPPacket, Failure, reported: Bool)
    }

    /// Why a client was refused.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The NT-Response does not match the password of this (configured) user.
        case wrongPassword(user: String)
        /// No such user in the users file.
        case unknownUser(String)
        /// The peer declined EAP-MSCHAPv2 (a Nak) or answered with another method.
        case methodRefused(String)
        /// An EAP message that is malformed or does not fit the conversation.
        case malformed(String)

        public var description: String {
            switch self {
            case .wrongPassword(let user): "wrong password for user \(user)"
            case .unknownUser(let user): "unknown user \(user) (not in the users file)"
            case .methodRefused(let what): "the client refused EAP-MSCHAPv2: \(what)"
            case .malformed(let what): "malformed EAP message: \(what)"
            }
        }
    }

    private enum Stage: Sendable {
        case initial
        case awaitingIdentity
        case awaitingResponse(challenge: [UInt8], identity: String)
        case awaitingSuccessAck(user: String, msk: SecretBytes)
        case awaitingFailureAck(Failure)
        case done
    }

    private let users: EAPUserDatabase
    private let serverName: [UInt8]
    private var stage = Stage.initial
    private var identifier: UInt8
    /// The MS-CHAPv2-ID of the challenge (draft section 2: usually the EAP identifier of the Challenge).
    private var mschapID: UInt8 = 0

    /// The longest identity or user name accepted (RFC 3748 allows more; no user name is this long).
    public static let maximumNameLength = 253

    /// - Parameters:
    ///   - serverName: the Name of the Challenge (RFC 2759 section 4).
    ///   - firstIdentifier: the EAP Identifier of the first Request (random, RFC 3748 section 4).
    public init(users: EAPUserDatabase, serverName: String = "isthmus", firstIdentifier: UInt8) {
        self.users = users
        self.serverName = Array(serverName.utf8)
        self.identifier = firstIdentifier
    }

    /// Whether the conversation is over (succeeded or failed).
    public var isFinished: Bool {
        if case .done = stage { return true }
        return false
    }

    /// The first Request: EAP Identity (strongSwan's client tells its EAP identity only when asked; Windows too).
    public mutating func start() -> EAPPacket {
        stage = .awaitingIdentity
        return EAPPacket(code: .request, identifier: identifier, type: .identity)
    }

    /// The peer's EAP message (the data of an IKEv2 EAP payload).
    public mutating func handle(_ bytes: [UInt8], random: inout some RandomNumberGenerator) -> Outcome {
        let packet: EAPPacket
        do {
            packet = try EAPPacket(parsing: bytes)
        } catch {
            return fail(.malformed("\(error)"))
        }
        guard packet.code == .response else {
            return fail(.malformed("expected an EAP Response, got \(packet.code)"))
        }
        guard packet.identifier == identifier else {
            return fail(.malformed("EAP identifier \(packet.identifier), expected \(identifier)"))
        }
        switch (stage, packet.type) {
        case (.awaitingIdentity, .identity?):
            return challenge(identity: packet.data, random: &random)
        case (.awaitingResponse(let challenge, let identity), .mschapv2?):
            return verify(packet.data, challenge: challenge, identity: identity)
        case (.awaitingSuccessAck(let user, let msk), .mschapv2?):
            guard case .successResponse? = try? MSCHAPv2Packet(parsing: packet.data, isRequest: false) else {
                return fail(.malformed("expected the client's MSCHAPv2 Success Response"))
            }
            stage = .done
            return .succeeded(EAPPacket(code: .success, identifier: identifier), user: user, msk: msk)
        case (.awaitingFailureAck(let failure), _):
            // The Failure Response, or anything else: the outcome is the same.
            return fail(failure, reported: true)
        case (_, .nak?):
            return fail(.methodRefused("Nak (wants method \(packet.data.first.map { "\($0)" } ?? "none"))"))
        case (_, let type?) where type != .mschapv2 && type != .identity:
            return fail(.methodRefused("answered with EAP type \(type.rawValue)"))
        default:
            return fail(.malformed("EAP \(packet.type.map { "type \($0.rawValue)" } ?? "packet") out of order"))
        }
    }

    // MARK: - Steps

    private mutating func challenge(identity: [UInt8], random: inout some RandomNumberGenerator) -> Outcome {
        guard !identity.isEmpty, identity.count <= Self.maximumNameLength,
            let name = String(validating: identity, as: UTF8.self)
        else {
            return fail(.malformed("the EAP identity is empty, too long or not UTF-8"))
        }
        var challenge = [UInt8](repeating: 0, count: MSCHAPv2Crypto.challengeLength)
        for index in challenge.indices { challenge[index] = UInt8.random(in: 0...255, using: &random) }
        identifier &+= 1
        mschapID = identifier
        stage = .awaitingResponse(challenge: challenge, identity: name)
        let body = MSCHAPv2Packet.challenge(id: mschapID, challenge: challenge, name: serverName).serialize()
        return .send(EAPPacket(code: .request, identifier: identifier, type: .mschapv2, data: body))
    }

    private mutating func verify(_ data: [UInt8], challenge: [UInt8], identity: String) -> Outcome {
        let message: MSCHAPv2Packet
        do {
            message = try MSCHAPv2Packet(parsing: data, isRequest: false)
        } catch {
            return fail(.malformed("\(error)"))
        }
        guard case .response(let id, let peerChallenge, let ntResponse, _, let nameBytes) = message else {
            return fail(.malformed("expected an MSCHAPv2 Response"))
        }
        guard id == mschapID else { return fail(.malformed("MS-CHAPv2-ID \(id), expected \(mschapID)")) }
        guard nameBytes.count <= Self.maximumNameLength, let sent = String(validating: nameBytes, as: UTF8.self)
        else { return fail(.malformed("the MSCHAPv2 user name is too long or not UTF-8")) }
        // The name of the Response is the one hashed; it is normally the EAP identity.
        let name = sent.isEmpty ? identity : sent
        guard let entry = users.lookUp(name) else {
            return refuse(.unknownUser(name), challenge: challenge)
        }
        let expected: [UInt8]
        let authenticator: String
        let msk: SecretBytes
        do {
            expected = try MSCHAPv2Crypto.ntResponse(
                authenticatorChallenge: challenge, peerChallenge: peerChallenge, userName: Array(name.utf8),
                passwordHash: entry.ntHash)
            guard ConstantTime.equal(expected, ntResponse) else {
                return refuse(.wrongPassword(user: entry.name), challenge: challenge)
            }
            authenticator = try MSCHAPv2Crypto.authenticatorResponse(
                passwordHash: entry.ntHash, ntResponse: ntResponse, peerChallenge: peerChallenge,
                authenticatorChallenge: challenge, userName: Array(name.utf8))
            msk = try MSCHAPv2Crypto.msk(passwordHash: entry.ntHash, ntResponse: ntResponse)
        } catch {
            return fail(.malformed("MS-CHAPv2 computation failed: \(error)"))
        }
        identifier &+= 1
        stage = .awaitingSuccessAck(user: entry.name, msk: msk)
        let body = MSCHAPv2Packet.successRequest(id: mschapID, message: "\(authenticator) M=Welcome-to-isthmus")
            .serialize()
        return .send(EAPPacket(code: .request, identifier: identifier, type: .mschapv2, data: body))
    }

    /// The Failure Request (draft section 2.5): error 691 (authentication failure), no retry.
    private mutating func refuse(_ failure: Failure, challenge: [UInt8]) -> Outcome {
        identifier &+= 1
        stage = .awaitingFailureAck(failure)
        let hex = challenge.map { String($0, radix: 16, uppercase: true) }.map { $0.count == 1 ? "0" + $0 : $0 }
        let text = "E=691 R=0 C=\(hex.joined()) V=3 M=Authentication-failed"
        let body = MSCHAPv2Packet.failureRequest(id: mschapID, message: text).serialize()
        return .refusing(EAPPacket(code: .request, identifier: identifier, type: .mschapv2, data: body), failure)
    }

    private mutating func fail(_ failure: Failure, reported: Bool = false) -> Outcome {
        stage = .done
        return .failed(EAPPacket(code: .failure, identifier: identifier), failure, reported: reported)
    }
}
