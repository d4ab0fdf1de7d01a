import Foundation
import IsthmusCrypto
import IsthmusIP
import XCTest

@testable import IsthmusESP

/// Real strongSwan 5.9.8 ESP (kernel-libipsec, UDP-encapsulated) from Tests/Fixtures/captures,
/// decrypted with the keys charon logged.
final class ESPCaptureTests: XCTestCase {
    private struct Capture {
        struct Datagram {
            let source: String
            let kind: String
            let spi: UInt32?
            let bytes: [UInt8]
        }

        struct Keys {
            let spi: UInt32
            let source: String
            let destination: String
            let encryptionKey: [UInt8]
            let integrityKey: [UInt8]
        }

        let datagrams: [Datagram]
        let keys: [Keys]
        let selectors: [String: String]
    }

    private func load(_ name: String) throws -> Capture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/captures/\(name)/capture.json")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        let json = try XCTUnwrap(object as? [String: Any])
        let datagrams = try XCTUnwrap(json["datagrams"] as? [[String: Any]]).map { entry in
            Capture.Datagram(
                source: entry["src"] as? String ?? "", kind: entry["kind"] as? String ?? "",
                spi: (entry["esp_spi"] as? String).flatMap { UInt32($0.dropFirst(2), radix: 16) },
                bytes: [UInt8](hex: entry["payload_hex"] as? String ?? ""))
        }
        let keys = try XCTUnwrap(json["esp_keys"] as? [[String: Any]]).map { entry in
            Capture.Keys(
                spi: (entry["spi"] as? String).flatMap { UInt32($0.dropFirst(2), radix: 16) } ?? 0,
                source: entry["src"] as? String ?? "", destination: entry["dst"] as? String ?? "",
                encryptionKey: [UInt8](hex: entry["encryption_key"] as? String ?? ""),
                integrityKey: [UInt8](hex: entry["integrity_key"] as? String ?? ""))
        }
        let selectors = try XCTUnwrap(json["traffic_selectors"] as? [String: String])
        return Capture(datagrams: datagrams, keys: keys, selectors: selectors)
    }

    /// An engine for the gateway at `gateway`, with every CHILD SA of the capture installed in order
    /// (the IKE_AUTH pair, then its CREATE_CHILD_SA rekey: make-before-break in action).
    private func engine(
        for gateway: String, in capture: Capture, suite: TestSuite, local: String, remote: String
    ) throws -> ESPEngine {
        let inbound = capture.keys.filter { $0.destination == gateway }
        let outbound = capture.keys.filter { $0.source == gateway }
        XCTAssertEqual(inbound.count, outbound.count)
        let engine = ESPEngine()
        for (incoming, outgoing) in zip(inbound, outbound) {
            try engine.install(
                ESPSecurityAssociation(
                    inboundSPI: incoming.spi, outboundSPI: outgoing.spi, encryption: suite.encryption,
                    integrity: suite.integrity, extendedSequenceNumbers: false,
                    inboundEncryptionKey: SecretBytes(incoming.encryptionKey),
                    inboundIntegrityKey: SecretBytes(incoming.integrityKey),
                    outboundEncryptionKey: SecretBytes(outgoing.encryptionKey),
                    outboundIntegrityKey: SecretBytes(outgoing.integrityKey),
                    localSelectors: [selector(local)], remoteSelectors: [selector(remote)],
                    tunnel: ESPTunnel(
                        local: ESPEndpoint(address: address(gateway), port: 4500),
                        remote: ESPEndpoint(address: address(outgoing.destination), port: 4500), udpEncapsulated: true),
                    connection: "capture"),
                now: .zero)
        }
        return engine
    }

    private func decryptAll(_ name: String, suite: TestSuite) throws {
        let capture = try load(name)
        let gwa = "198.51.100.1"
        let gwb = "203.0.113.1"
        let siteA = try XCTUnwrap(capture.selectors["gwa"])
        let siteB = try XCTUnwrap(capture.selectors["gwb"])
        let atA = try engine(for: gwa, in: capture, suite: suite, local: siteA, remote: siteB)
        let atB = try engine(for: gwb, in: capture, suite: suite, local: siteB, remote: siteA)
        XCTAssertEqual(atA.policies.count, 1)
        XCTAssertEqual(atA.policies.first?.inboundSPIs.count, 2, "original and rekeyed CHILD SA")
        var requests = 0
        var replies = 0
        for datagram in capture.datagrams where datagram.kind == "esp" {
            // UDP/4500: ESP starts at the SPI (RFC 3948 2.2).
            let receiver = datagram.source == gwa ? atB : atA
            let (result, inner, _) = receiver.open(datagram.bytes)
            let packet = try XCTUnwrap(inner, "\(name) spi \(String(datagram.spi ?? 0, radix: 16)): \(result)")
            let parsed = try XCTUnwrap(packet.withUnsafeBytes { InnerPacket.parse($0) })
            XCTAssertEqual(parsed.ipProtocol, 1, "ICMP")
            let icmpType = packet[Int(packet[0] & 0x0f) * 4]
            if datagram.source == gwa {
                XCTAssertEqual(parsed.source, address("192.168.1.10"))
                XCTAssertEqual(parsed.destination, address("10.0.1.4"))
                XCTAssertEqual(icmpType, 8, "echo request")
                requests += 1
            } else {
                XCTAssertEqual(parsed.source, address("10.0.1.4"))
                XCTAssertEqual(parsed.destination, address("192.168.1.10"))
                XCTAssertEqual(icmpType, 0, "echo reply")
                replies += 1
            }
            // Replaying the captured datagram is refused.
            XCTAssertEqual(receiver.open(datagram.bytes).result, .drop(.replayed))
        }
        XCTAssertEqual(requests, 5)
        XCTAssertEqual(replies, 5)
        XCTAssertEqual(atA.drops[.replayed], 5)
        // Our engine answers on the newest SA with the SPI strongSwan chose for it.
        let reply = ipv4UDP(from: "192.168.1.10", to: "10.0.1.4")
        guard case .packet(let sent) = atA.seal(reply).result else { return XCTFail("no packet") }
        XCTAssertEqual(sent.outboundSPI, capture.keys.last { $0.source == gwa }?.spi)
        XCTAssertEqual(sent.sequenceNumber, 1)
        XCTAssertEqual(sent.tunnel.remote.address, address(gwb))
    }

    func testStrongSwanAES128GCM16() throws {
        try decryptAll("ikev2-aes128gcm16-prfsha256-ecp256", suite: TestSuite("aes128gcm16"))
    }

    func testStrongSwanAES256CBCWithHMACSHA256() throws {
        try decryptAll("ikev2-aes256-sha256-modp2048", suite: TestSuite("aes256", "sha256"))
    }
}
