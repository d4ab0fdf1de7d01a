import IsthmusCrypto
import IsthmusIP
import IsthmusWire

/// Stateless COOKIE challenges against IKE_SA_INIT floods (RFC 7296 section 2.6).
///
/// While too many SAs are half-open, a responder answers an IKE_SA_INIT request that carries no valid
/// cookie with a response holding only N(COOKIE), keeping no state. A real initiator repeats its
/// request with that cookie first; a spoofed source never sees it. The cookie is
/// `version | HMAC-SHA-256(secret, Ni | IPi | SPIi)`; the secret is rotated and the previous one stays
/// valid, so cookies handed out just before a rotation still work.
public struct IKEv2CookieChallenge: Sendable {
    /// Half-open SAs at which challenges start. strongSwan's default `cookie_threshold` is 30 (10 in
    /// newer versions); 30 lets a site with a few dozen peers restart without challenges.
    public static let halfOpenCookieThreshold = 30
    /// Bytes of secret; rotated with ``rotateSecret(using:)``.
    static let secretLength = 32

    private var version: UInt8 = 0
    private var secret: SecretBytes
    private var previous: (version: UInt8, secret: SecretBytes)?

    public init(using generator: inout some RandomNumberGenerator) {
        secret = SecretBytes((0..<Self.secretLength).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// Replaces the secret; the previous one keeps validating cookies until the next rotation.
    public mutating func rotateSecret(using generator: inout some RandomNumberGenerator) {
        previous = (version, secret)
        version &+= 1
        secret = SecretBytes((0..<Self.secretLength).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// Whether `request` (an IKE_SA_INIT request from `source`) starts with a cookie we issued. Fails
    /// closed: a cookie that cannot be computed validates nothing.
    public func isValid(_ request: IKEv2Message, from source: UDPEndpoint) -> Bool {
        guard case .notify(let notify)? = request.payloads.first, notify.notifyType == .cookie,
            let expectedVersion = notify.data.first, let nonce = Self.nonce(of: request)
        else { return false }
        let key: SecretBytes
        if expectedVersion == version {
            key = secret
        } else if let previous, expectedVersion == previous.version {
            key = previous.secret
        } else {
            return false
        }
        guard let expected = Self.cookie(expectedVersion, key, nonce, source, request.initiatorSPI) else {
            return false
        }
        return ConstantTime.equal(notify.data, expected)
    }

    /// The stateless answer to `request`: only N(COOKIE), for the initiator to repeat its request with it.
    public func challenge(to request: IKEv2Message, datagram: IKEDatagram) -> IKEDatagram? {
        guard let nonce = Self.nonce(of: request),
            let cookie = Self.cookie(version, secret, nonce, datagram.source, request.initiatorSPI)
        else { return nil }
        let response = IKEv2Message(
            initiatorSPI: request.initiatorSPI, responderSPI: 0, exchangeType: .ikeSAInit, flags: [.response],
            messageID: 0,
            payloads: [.notify(IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: .cookie, data: cookie))])
        return IKEDatagram(bytes: response.serialize(), source: datagram.destination, destination: datagram.source)
    }

    private static func nonce(of request: IKEv2Message) -> [UInt8]? {
        request.payloads.lazy.compactMap { if case .nonce(let n) = $0 { n.nonce } else { nil } }.first
    }

    private static func cookie(
        _ version: UInt8, _ secret: SecretBytes, _ nonce: [UInt8], _ source: UDPEndpoint, _ spi: UInt64
    ) -> [UInt8]? {
        guard let hmac = try? CryptoSuites.make(prfID: CryptoSuites.PRFID.hmacSHA2_256) else { return nil }
        return [version]
            + hmac.compute(
                key: secret, [.bytes(nonce), .bytes(source.address.bytes), .bytes(spi.bigEndianBytes)]
            ).copyBytes()
    }
}
