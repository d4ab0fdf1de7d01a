import Foundation
import IsthmusEvents
import IsthmusIKE
import IsthmusPKI
import IsthmusWire

/// IKE_AUTH with certificates (RFC 7296 sections 2.15, 3.6-3.8; RFC 4754; RFC 7427) for both roles: what we
/// send (ID, CERT with our certificate then its intermediates, CERTREQ naming our roots, AUTH signed with our
/// key) and how the peer's are checked (chain, validity at the wall clock, revocation, AUTH signature,
/// identity). The octets signed are the ones the pre-shared key path MACs (``IKEv2SACrypto/signedOctets``).
extension IKEv2StateMachine {
    /// At most this many CERT payloads are read from one message: a leaf and its intermediates.
    static let maximumCertificatePayloads = 8

    /// The hash algorithms we announce in N(SIGNATURE_HASH_ALGORITHMS) (RFC 7427 section 4) and accept.
    static let announcedHashAlgorithms: [IKEv2HashAlgorithm] = [.sha256, .sha384, .sha512]

    /// N(SIGNATURE_HASH_ALGORITHMS) for our IKE_SA_INIT when this connection authenticates with certificates.
    var signatureHashAlgorithmsPayloads: [IKEv2Payload] {
        guard configuration.authentication.usesCertificates else { return [] }
        return [.notify(.signatureHashAlgorithms(Self.announcedHashAlgorithms))]
    }

    /// CERTREQ naming our trust roots (RFC 7296 section 3.7): in the responder's IKE_SA_INIT answer and the
    /// initiator's IKE_AUTH request; without one, strongSwan (`send_cert = ifasked`) sends no certificate.
    var certificateRequestPayloads: [IKEv2Payload] {
        guard configuration.authentication.usesCertificates, !configuration.certificateRequestHashes.isEmpty else {
            return []
        }
        return [
            .certificateRequest(IKEv2CertificateAuthorities(keyHashes: configuration.certificateRequestHashes).payload)
        ]
    }

    // MARK: - What we send

    /// Our IKE_AUTH payloads with certificates: ID, CERTs, then for the initiator CERTREQ and IDr (when
    /// `remote_id` is set), and AUTH.
    func certificateAuthenticationPayloads(
        ofInitiator: Bool, crypto: IKEv2SACrypto, signed: IKEv2InitialMessages
    ) throws(IKEv2Failure) -> [IKEv2Payload] {
        guard case .certificate(let local, _, _) = configuration.authentication else {
            preconditionFailure("certificate payloads are made only for certificate authentication")
        }
        let identity = Self.identification(configuration.localIdentity)
        var payloads: [IKEv2Payload] = [
            ofInitiator ? .identificationInitiator(identity) : .identificationResponder(identity)
        ]
        payloads += ([local.certificateDER] + local.intermediatesDER).map {
            .certificate(IKEv2CertificateContent.x509(der: $0).payload)
        }
        if ofInitiator {
            payloads += certificateRequestPayloads
        }
        if ofInitiator, configuration.remoteIdentityConfigured {
            payloads.append(.identificationResponder(Self.identification(configuration.remoteIdentity)))
        }
        let octets = crypto.signedOctets(
            ofInitiator: ofInitiator, realMessage: ofInitiator ? signed.request : signed.response,
            peerNonce: ofInitiator ? signed.nonceResponder : signed.nonceInitiator, identification: identity)
        let peerHashes = Self.announcedHashes(inPeerMessage: ofInitiator ? signed.response : signed.request)
        do {
            payloads.append(.authentication(try Self.sign(octets, with: local, peerHashes: peerHashes)))
        } catch {
            throw .badSignature("our \(local.keyDescription) key could not sign: \(error)")
        }
        return payloads
    }

    /// AUTH with method 14 and the scheme the peer announced a hash for (RFC 7427), or, when it announced
    /// none, the method of RFC 7296/RFC 4754 that matches our key: 9/10/11 for ECDSA P-256/384/521, 1 for RSA.
    static func sign(
        _ octets: [UInt8], with local: LocalCredential, peerHashes: [IKEv2HashAlgorithm]
    ) throws(CertificateFailure) -> IKEv2AuthenticationPayload {
        guard !peerHashes.isEmpty else {
            let method: IKEv2AuthenticationMethod =
                switch local.publicKey.rawECDSAScheme {
                case .ecdsaSHA256?: .ecdsaSHA256P256
                case .ecdsaSHA384?: .ecdsaSHA384P384
                case .ecdsaSHA512?: .ecdsaSHA512P521
                default: .rsaDigitalSignature
                }
            return IKEv2AuthenticationPayload(method: method, data: try local.signRaw(octets))
        }
        let preferred = [local.defaultScheme] + SignatureScheme.allCases.filter { $0 != local.defaultScheme }
        let scheme =
            preferred.first {
                local.supports($0) && peerHashes.contains(hashAlgorithm(of: $0))
                    && Self.announcedHashAlgorithms.contains(hashAlgorithm(of: $0))
            } ?? local.defaultScheme
        let signature = IKEv2DigitalSignature(
            algorithmIdentifier: scheme.algorithmIdentifierDER, signature: try local.sign(octets, scheme: scheme))
        return IKEv2AuthenticationPayload(method: .digitalSignature, data: signature.bytes)
    }

    static func hashAlgorithm(of scheme: SignatureScheme) -> IKEv2HashAlgorithm {
        switch scheme.hash {
        case .sha1: .sha1
        case .sha256: .sha256
        case .sha384: .sha384
        case .sha512: .sha512
        }
    }

    /// The hash algorithms the peer announced in its IKE_SA_INIT message (`bytes` as received); none when
    /// it sent no (or a malformed) N(SIGNATURE_HASH_ALGORITHMS).
    static func announcedHashes(inPeerMessage bytes: [UInt8]) -> [IKEv2HashAlgorithm] {
        guard let message = try? IKEv2Message.parse(bytes),
            let notify = message.payloads.notifies.first(where: { $0.notifyType == .signatureHashAlgorithms }),
            let hashes = try? IKEv2HashAlgorithm.parseList(notify.data)
        else { return [] }
        return hashes
    }

    // MARK: - What the peer sent

    /// Checks the peer's IKE_AUTH with certificates: its certificate chains to our roots at the wall clock
    /// time and is not revoked, its AUTH signature over the section 2.15 octets verifies with the
    /// certificate's key, and its ID is the certificate's subject or one of its alternative names (and the
    /// configured `remote_id`, if one is set).
    func verifyPeerCertificate(
        _ inner: [IKEv2Payload], identification: IKEv2IdentificationPayload, peerIsInitiator: Bool,
        crypto: IKEv2SACrypto, signed: IKEv2InitialMessages
    ) throws {
        guard case .certificate(_, let peers, let wallClock) = configuration.authentication else {
            preconditionFailure("certificate checks run only for certificate authentication")
        }
        let auth = try inner.required(\.authentication, "AUTH")
        let (leaf, intermediates) = try Self.peerCertificates(inner)
        let certificate: VerifiedCertificate
        switch peers.verify(leafDER: leaf, intermediatesDER: intermediates, at: wallClock()) {
        case .success(let verified): certificate = verified
        case .failure(let failure): throw IKEv2Failure.certificateRejected(failure)
        }
        let octets = crypto.signedOctets(
            ofInitiator: peerIsInitiator, realMessage: peerIsInitiator ? signed.request : signed.response,
            peerNonce: peerIsInitiator ? signed.nonceResponder : signed.nonceInitiator,
            identification: identification)
        try Self.verifySignature(auth, over: octets, key: certificate.publicKey, subject: certificate.subjectText)
        try checkCertifiedIdentity(identification, certificate: certificate)
    }

    /// The peer's X.509 certificate (the first CERT, RFC 7296 section 3.6) and the intermediates after it.
    static func peerCertificates(_ inner: [IKEv2Payload]) throws(IKEv2Failure) -> ([UInt8], [[UInt8]]) {
        let payloads = inner.compactMap { if case .certificate(let value) = $0 { value } else { nil } }
        guard payloads.count <= maximumCertificatePayloads else {
            throw .certificateMissing(
                "the peer sent \(payloads.count) CERT payloads, more than the \(maximumCertificatePayloads) accepted")
        }
        var certificates: [[UInt8]] = []
        var skipped: [String] = []
        for payload in payloads {
            switch try? IKEv2CertificateContent(parsing: payload) {
            case .x509(let der)?: certificates.append(der)
            case .hashAndURL(_, let url)?: skipped.append("Hash and URL \(url), which is never fetched")
            case .other(let encoding, _)?: skipped.append("certificate encoding \(encoding.rawValue)")
            case nil: skipped.append("an empty or malformed CERT payload")
            }
        }
        guard let leaf = certificates.first else {
            let sent = skipped.isEmpty ? "" : " (only \(skipped.joined(separator: ", ")))"
            throw .certificateMissing("the peer sent no X.509 certificate\(sent)")
        }
        return (leaf, Array(certificates.dropFirst()))
    }

    /// Verifies AUTH with the peer certificate's key: method 14 with any scheme whose AlgorithmIdentifier we
    /// know, 9/10/11 with the ECDSA curve they name, 1 with RSA and SHA-1.
    static func verifySignature(
        _ auth: IKEv2AuthenticationPayload, over octets: [UInt8], key: PeerPublicKey, subject: String
    ) throws(IKEv2Failure) {
        let verified: Bool
        let what: String
        switch auth.method {
        case .digitalSignature:
            let signature: IKEv2DigitalSignature
            do {
                signature = try IKEv2DigitalSignature(parsing: auth.data)
            } catch {
                throw .badSignature("the Digital Signature AUTH data of \(subject) is malformed (\(error.reason))")
            }
            guard let scheme = SignatureScheme(algorithmIdentifierDER: signature.algorithmIdentifier) else {
                throw .badSignature("\(subject) signed with a signature algorithm we do not support")
            }
            what = "\(scheme)"
            verified = key.verify(signature.signature, over: octets, scheme: scheme)
        case .ecdsaSHA256P256, .ecdsaSHA384P384, .ecdsaSHA512P521:
            let scheme: SignatureScheme =
                auth.method == .ecdsaSHA256P256
                ? .ecdsaSHA256 : auth.method == .ecdsaSHA384P384 ? .ecdsaSHA384 : .ecdsaSHA512
            what = "AUTH method \(auth.method.rawValue)"
            verified = key.rawECDSAScheme == scheme && key.verifyRaw(auth.data, over: octets, scheme: scheme)
        case .rsaDigitalSignature:
            what = "AUTH method 1 (RSA with SHA-1)"
            verified = key.isRSA && key.verify(auth.data, over: octets, scheme: .rsaPKCS1SHA1)
        default:
            throw .badSignature(
                "\(subject) used AUTH method \(auth.method.rawValue), but this connection authenticates with "
                    + "certificate signatures")
        }
        guard verified else {
            throw .badSignature(
                "the AUTH signature (\(what)) does not verify with the \(key.keyDescription) key of \(subject)")
        }
    }

    /// The peer's ID must be its certificate's subject or one of its subject alternative names (strongSwan's
    /// rule), and the configured `remote_id` when one is set.
    private func checkCertifiedIdentity(
        _ payload: IKEv2IdentificationPayload, certificate: VerifiedCertificate
    ) throws(IKEv2Failure) {
        guard let claimed = Self.namedIdentity(payload) else {
            throw .identityNotInCertificate(
                "ID type \(payload.idType.rawValue) (\(payload.data.count) bytes) is not an identity we can match "
                    + "against the certificate of \(certificate.subjectText)")
        }
        guard Self.certifies(certificate, claimed) else {
            throw .identityNotInCertificate(
                "the peer's identity \(claimed) is neither the subject of its certificate (\(certificate.subjectText)) "
                    + "nor one of its alternative names")
        }
        if configuration.remoteIdentityConfigured, !Self.sameIdentity(claimed, configuration.remoteIdentity) {
            throw .unexpectedIdentity("\(claimed) (certified by \(certificate.subjectText))")
        }
    }

    /// The identity of an ID payload, a distinguished name rendered as strongSwan prints it.
    static func namedIdentity(_ payload: IKEv2IdentificationPayload) -> IKEIdentity? {
        guard let identity = IKEIdentity(type: payload.idType.rawValue, data: payload.data) else { return nil }
        if case .distinguishedName(let der, _) = identity {
            guard let text = try? DistinguishedNameText.text(fromDER: der) else { return nil }
            return .distinguishedName(der: der, text: text)
        }
        return identity
    }

    /// Whether `certificate` certifies `identity`: its subject DN, or a SAN of the same kind.
    static func certifies(_ certificate: VerifiedCertificate, _ identity: IKEIdentity) -> Bool {
        switch identity {
        case .distinguishedName(let der, _): DistinguishedNameText.matches(der, certificate.subjectDER)
        case .fqdn(let name):
            certificate.subjectAltNames.contains { if case .dns(let dns) = $0 { sameName(dns, name) } else { false } }
        case .userFQDN(let name):
            certificate.subjectAltNames.contains {
                if case .email(let email) = $0 { sameName(email, name) } else { false }
            }
        case .address(let address): certificate.subjectAltNames.contains(.ip(address))
        case .keyID: false
        }
    }

    /// Host names and mail addresses compare without regard to case (RFC 4343).
    private static func sameName(_ name: String, _ other: String) -> Bool {
        name.lowercased() == other.lowercased()
    }

    /// `identity` is `expected`, distinguished names compared attribute by attribute (IsthmusPKI).
    static func sameIdentity(_ identity: IKEIdentity, _ expected: IKEIdentity) -> Bool {
        if case .distinguishedName(let der, _) = identity, case .distinguishedName(let other, _) = expected {
            return DistinguishedNameText.matches(der, other)
        }
        return identity.matches(expected)
    }

    /// RFC 7296 section 2.21.2: an initiator that refuses the responder's certificate authentication says so
    /// in an INFORMATIONAL request with AUTHENTICATION_FAILED, sent once (the SA is closed right after, so it
    /// is not retransmitted). With a pre-shared key the SA is closed without a word, as before.
    mutating func tellResponderAuthenticationFailed(
        _ error: any Error, protection: IKEv2MessageProtection, into actions: inout [IKEAction]
    ) {
        guard configuration.authentication.usesCertificates,
            (error as? IKEv2Failure)?.notifyType == .authenticationFailed
        else { return }
        var protection = protection
        let message = header(.informational, messageID: window.nextRequestID, response: false)
        let notify = IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: .authenticationFailed, data: [])
        guard let datagrams = seal(message, [.notify(notify)], with: &protection) else { return }
        send(datagrams, into: &actions)
    }

    // MARK: - Events

    /// The event of a certificate authentication failure: one sentence naming the cause, and the cause as
    /// `cause` (unknown-ca, revoked, expired, not-yet-valid, bad-signature, identity-not-in-certificate,
    /// no-certificate, malformed-certificate, ...) for `diagnose`.
    func reportCertificateFailure(
        _ failure: IKEv2Failure, in what: String, now: MonotonicTime, into actions: inout [IKEAction]
    ) -> Bool {
        let (cause, sentence): (String, String)
        switch failure {
        case .certificateRejected(let rejected): (cause, sentence) = (Self.cause(of: rejected), "\(rejected)")
        case .certificateMissing(let reason): (cause, sentence) = ("no-certificate", reason)
        case .badSignature(let reason): (cause, sentence) = ("bad-signature", reason)
        case .identityNotInCertificate(let reason): (cause, sentence) = ("identity-not-in-certificate", reason)
        default: return false
        }
        emit(
            .authenticationFailed, .error,
            "\(what) from \(remote): certificate authentication failed: \(Self.sentenceBody(sentence))",
            details: ["rejected_by": "us", "cause": cause], now: now, into: &actions)
        return true
    }

    static func cause(of failure: CertificateFailure) -> String {
        switch failure {
        case .malformed: "malformed-certificate"
        case .unknownIssuer: "unknown-ca"
        case .expired: "expired"
        case .notYetValid: "not-yet-valid"
        case .revoked: "revoked"
        case .badSignature: "bad-signature"
        case .keyUsage: "key-usage"
        case .chainTooLong: "chain-too-long"
        case .unsupportedKey: "unsupported-key"
        case .keyMismatch: "key-mismatch"
        }
    }

    /// A sentence as the rest of an event message: lower-case start, without its final full stop.
    private static func sentenceBody(_ sentence: String) -> String {
        let body = sentence.hasSuffix(".") ? sentence.dropLast() : Substring(sentence)
        guard let first = body.first, first.isUppercase, body.dropFirst().first?.isLowercase ?? false else {
            return String(body)
        }
        return first.lowercased() + body.dropFirst()
    }
}
