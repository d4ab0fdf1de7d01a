import Foundation
import IsthmusTestSupport
import XCTest

/// One strongSwan capture from Tests/Fixtures/captures (written by scripts/capture-strongswan).
struct CaptureFixture: Decodable {
    struct Datagram: Decodable {
        let index: Int
        let src: String
        let sport: UInt16
        let dst: String
        let dport: UInt16
        let payloadHex: String

        var bytes: [UInt8] { [UInt8](hex: payloadHex) }
        enum CodingKeys: String, CodingKey {
            case index, src, sport, dst, dport
            case payloadHex = "payload_hex"
        }
    }

    struct IKEKeys: Decodable {
        let ikeVersion: Int
        let encryption: String
        let integrity: String
        let prf: String
        let dhGroup: String
        let dhSharedSecret: String
        // IKEv2
        let spiI: String?
        let spiR: String?
        let skeyseed: String?
        let skD: String?
        let skEi: String?
        let skEr: String?
        let skAi: String?
        let skAr: String?
        let skPi: String?
        let skPr: String?
        // IKEv1
        let cookieI: String?
        let cookieR: String?
        let skeyid: String?
        let skeyidD: String?
        let skeyidA: String?
        let skeyidE: String?
        let encryptionKey: String?
        let initialIv: String?

        enum CodingKeys: String, CodingKey {
            case ikeVersion = "ike_version"
            case encryption, integrity, prf
            case dhGroup = "dh_group"
            case dhSharedSecret = "dh_shared_secret"
            case spiI = "spi_i"
            case spiR = "spi_r"
            case skeyseed
            case skD = "sk_d"
            case skEi = "sk_ei"
            case skEr = "sk_er"
            case skAi = "sk_ai"
            case skAr = "sk_ar"
            case skPi = "sk_pi"
            case skPr = "sk_pr"
            case cookieI = "cookie_i"
            case cookieR = "cookie_r"
            case skeyid
            case skeyidD = "skeyid_d"
            case skeyidA = "skeyid_a"
            case skeyidE = "skeyid_e"
            case encryptionKey = "encryption_key"
            case initialIv = "initial_iv"
        }
    }

    struct ESPKeys: Decodable {
        let spi: String
        let src: String
        let dst: String
        let encryption: String
        let encryptionKey: String
        let integrity: String
        let integrityKey: String

        var spiValue: UInt32 { UInt32(spi.dropFirst(2), radix: 16) ?? 0 }
        enum CodingKeys: String, CodingKey {
            case spi, src, dst, encryption
            case encryptionKey = "encryption_key"
            case integrity
            case integrityKey = "integrity_key"
        }
    }

    let `case`: String
    let psk: String
    let ikeVersion: Int
    let initiator: String
    let datagrams: [Datagram]
    let ikeKeys: [IKEKeys]
    let espKeys: [ESPKeys]

    enum CodingKeys: String, CodingKey {
        case `case`, psk
        case ikeVersion = "ike_version"
        case initiator, datagrams
        case ikeKeys = "ike_keys"
        case espKeys = "esp_keys"
    }

    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/captures")

    static func load(_ name: String) throws -> CaptureFixture {
        let data = try Data(contentsOf: folder.appendingPathComponent(name).appendingPathComponent("capture.json"))
        return try JSONDecoder().decode(CaptureFixture.self, from: data)
    }

    static let ikev2Cases = ["ikev2-aes128gcm16-prfsha256-ecp256", "ikev2-aes256-sha256-modp2048"]
    static let ikev1Cases = ["ikev1-aes256-sha1-modp1024", "ikev1-3des-sha1-modp1024"]

    /// The IKE message inside a datagram (after the non-ESP marker on 4500), or nil for ESP.
    static func ikeBytes(_ datagram: Datagram) -> ArraySlice<UInt8>? {
        let bytes = datagram.bytes
        if datagram.sport == 500 || datagram.dport == 500 { return bytes[...] }
        guard bytes.count >= 4, bytes[0..<4] == [0, 0, 0, 0] else { return nil }
        return bytes[4...]
    }
}
