import IsthmusCrypto
import IsthmusIP
import IsthmusTestSupport
import XCTest

@testable import IsthmusESP

/// A negotiated ESP transform set, by strongSwan keywords.
struct TestSuite: CustomStringConvertible {
    let encryption: Algorithm
    let integrity: Algorithm?

    init(_ encryption: String, _ integrity: String? = nil) {
        guard let algorithm = AlgorithmRegistry.algorithm(keyword: encryption) else {
            preconditionFailure("unknown cipher \(encryption)")
        }
        self.encryption = algorithm
        self.integrity = integrity.map { keyword in
            guard let algorithm = AlgorithmRegistry.algorithm(keyword: keyword) else {
                preconditionFailure("unknown integrity \(keyword)")
            }
            return algorithm
        }
    }

    var description: String { [encryption.keyword, integrity?.keyword].compactMap { $0 }.joined(separator: "-") }

    /// Every suite the engine must handle (RFC 8221 current plus the legacy 3DES-SHA1).
    static let all: [TestSuite] = [
        TestSuite("aes128gcm16"), TestSuite("aes256gcm16"), TestSuite("aes128gcm12"), TestSuite("aes256gcm8"),
        TestSuite("chacha20poly1305"), TestSuite("aes128", "sha1"), TestSuite("aes256", "sha256"),
        TestSuite("aes192", "sha384"), TestSuite("aes256", "sha512"), TestSuite("3des", "sha1"),
    ]

    /// Deterministic key bytes of the right lengths, distinct per `seed`.
    func keys(seed: UInt8) -> (encryption: SecretBytes, integrity: SecretBytes) {
        let encryptionLength =
            (try? CryptoSuites.encryptionKeyLength(
                encryptionID: encryption.ikev2ID, keyBits: encryption.keyLengthBits)) ?? 0
        let integrityLength = integrity.flatMap { try? CryptoSuites.integrityKeyLength(integrityID: $0.ikev2ID) } ?? 0
        let encryptionKey = SecretBytes((0..<encryptionLength).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) })
        let integrityKey = SecretBytes(
            (0..<integrityLength).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ Int(seed) &+ 1) })
        return (encryptionKey, integrityKey)
    }
}

/// A predictable IV source for tests (the daemon uses the system CSPRNG).
struct CountingRandomSource: ESPRandomSource {
    var next: UInt8 = 0x40

    mutating func fill(_ bytes: UnsafeMutableRawBufferPointer) {
        for index in 0..<bytes.count {
            bytes[index] = next
            next &+= 1
        }
    }
}

func address(_ text: String) -> IPAddress {
    guard let address = try? IPAddress(parsing: text) else { preconditionFailure("bad address \(text)") }
    return address
}

func selector(_ text: String) -> TrafficSelector {
    guard let prefix = try? IPPrefix(parsing: text) else { preconditionFailure("bad prefix \(text)") }
    return TrafficSelector(prefix: prefix)
}

/// Site A (192.168.1.0/24, fd00:a::/64) and site B (10.0.1.0/24, fd00:b::/64).
enum Sites {
    static let aSelectors = [selector("192.168.1.0/24"), selector("fd00:a::/64")]
    static let bSelectors = [selector("10.0.1.0/24"), selector("fd00:b::/64")]
    static let aGateway = ESPEndpoint(address: address("198.51.100.1"), port: 4500)
    static let bGateway = ESPEndpoint(address: address("203.0.113.1"), port: 4500)
    /// The SPI B chose for traffic A -> B (A's outbound, B's inbound).
    static let spiToB: UInt32 = 0xB000_0001
    /// The SPI A chose for traffic B -> A.
    static let spiToA: UInt32 = 0xA000_0001
}

/// Both ends of one CHILD SA pair: `a` and `b` are the same negotiated SA seen from each side.
struct SAPairConfig {
    var a: ESPSecurityAssociation
    var b: ESPSecurityAssociation

    init(
        suite: TestSuite, esn: Bool = false, spiToA: UInt32 = Sites.spiToA, spiToB: UInt32 = Sites.spiToB,
        keySeed: UInt8 = 1
    ) {
        let toB = suite.keys(seed: keySeed)
        let toA = suite.keys(seed: keySeed &+ 100)
        a = ESPSecurityAssociation(
            inboundSPI: spiToA, outboundSPI: spiToB, encryption: suite.encryption, integrity: suite.integrity,
            extendedSequenceNumbers: esn, inboundEncryptionKey: toA.encryption, inboundIntegrityKey: toA.integrity,
            outboundEncryptionKey: toB.encryption, outboundIntegrityKey: toB.integrity,
            localSelectors: Sites.aSelectors, remoteSelectors: Sites.bSelectors,
            tunnel: ESPTunnel(local: Sites.aGateway, remote: Sites.bGateway, udpEncapsulated: true),
            connection: "a-to-b")
        b = ESPSecurityAssociation(
            inboundSPI: spiToB, outboundSPI: spiToA, encryption: suite.encryption, integrity: suite.integrity,
            extendedSequenceNumbers: esn, inboundEncryptionKey: toB.encryption, inboundIntegrityKey: toB.integrity,
            outboundEncryptionKey: toA.encryption, outboundIntegrityKey: toA.integrity,
            localSelectors: Sites.bSelectors, remoteSelectors: Sites.aSelectors,
            tunnel: ESPTunnel(local: Sites.bGateway, remote: Sites.aGateway, udpEncapsulated: false),
            connection: "b-to-a")
    }

    /// Two engines with this pair installed at time zero.
    func engines(file: StaticString = #filePath, line: UInt = #line) throws -> (a: ESPEngine, b: ESPEngine) {
        let a = ESPEngine(random: CountingRandomSource())
        let b = ESPEngine(random: CountingRandomSource(next: 0x80))
        try a.install(self.a, now: .zero)
        try b.install(self.b, now: .zero)
        return (a, b)
    }
}

// MARK: Inner packets

/// A marker that must never be visible in a buffer after a failed decapsulation.
let plaintextMarker: [UInt8] = Array("ISTHMUS-PLAINTEXT-MARKER".utf8)

/// An IPv4 UDP packet (checksums are not checked by the engine and left zero).
func ipv4UDP(
    from source: String, to destination: String, sourcePort: UInt16 = 40000, destinationPort: UInt16 = 53,
    payload: [UInt8] = plaintextMarker
) -> [UInt8] {
    let total = 20 + 8 + payload.count
    var packet: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0x12, 0x34, 0x40, 0, 64, 17, 0, 0]
    packet += address(source).bytes + address(destination).bytes
    let udpLength = 8 + payload.count
    packet += [
        UInt8(sourcePort >> 8), UInt8(sourcePort & 0xff), UInt8(destinationPort >> 8),
        UInt8(destinationPort & 0xff), UInt8(udpLength >> 8), UInt8(udpLength & 0xff), 0, 0,
    ]
    return packet + payload
}

/// An IPv6 UDP packet.
func ipv6UDP(
    from source: String, to destination: String, sourcePort: UInt16 = 40000, destinationPort: UInt16 = 53,
    payload: [UInt8] = plaintextMarker
) -> [UInt8] {
    let udpLength = 8 + payload.count
    var packet: [UInt8] = [0x60, 0, 0, 0, UInt8(udpLength >> 8), UInt8(udpLength & 0xff), 17, 64]
    packet += address(source).bytes + address(destination).bytes
    packet += [
        UInt8(sourcePort >> 8), UInt8(sourcePort & 0xff), UInt8(destinationPort >> 8),
        UInt8(destinationPort & 0xff), UInt8(udpLength >> 8), UInt8(udpLength & 0xff), 0, 0,
    ]
    return packet + payload
}

func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard needle.count <= haystack.count else { return false }
    for start in 0...(haystack.count - needle.count)
    where haystack[start..<(start + needle.count)].elementsEqual(needle) {
        return true
    }
    return false
}

// MARK: Running the engine on arrays

extension ESPEngine {
    /// Encapsulates `inner` in a fresh buffer with exactly the required head- and tailroom.
    func seal(_ inner: [UInt8], now: Duration = .zero, interface: Int = 0)
        -> (result: ESPEncapsulationResult, packet: [UInt8]?)
    {
        var buffer = [UInt8](repeating: 0, count: ESPEngine.requiredHeadroom + inner.count + ESPEngine.requiredTailroom)
        let range = ESPEngine.requiredHeadroom..<(ESPEngine.requiredHeadroom + inner.count)
        buffer.replaceSubrange(range, with: inner)
        let result = buffer.withUnsafeMutableBytes {
            encapsulate(innerPacketAt: range, in: $0, now: now, interface: interface)
        }
        guard case .packet(let packet) = result else { return (result, nil) }
        return (result, Array(buffer[packet.range]))
    }

    /// Decapsulates a copy of `packet`; returns the inner packet and the buffer afterwards.
    func open(_ packet: [UInt8], now: Duration = .zero)
        -> (result: ESPDecapsulationResult, inner: [UInt8]?, buffer: [UInt8])
    {
        var buffer = packet
        let result = buffer.withUnsafeMutableBytes { decapsulate(espPacket: $0, now: now) }
        guard case .packet(let inner) = result else { return (result, nil, buffer) }
        return (result, Array(buffer[inner.range]), buffer)
    }
}
