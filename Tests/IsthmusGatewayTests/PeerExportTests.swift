import Foundation
import IsthmusCrypto
import IsthmusIP
import IsthmusTestSupport
import XCTest

@testable import IsthmusGateway

/// `isthmus export`: the mirror, each device's output against golden files, and the errors for what a
/// device cannot express.
///
/// Golden files live in Tests/Fixtures/exports, one per example, connection and device (`.err` when the
/// export must fail). After a deliberate change of an exporter, regenerate them with
/// `ISTHMUS_UPDATE_GOLDEN=1 swift test --filter PeerExportTests` and review the diff.
final class PeerExportTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let golden = root.appendingPathComponent("Tests/Fixtures/exports")

    /// The six examples and their one connection each.
    static let examples = [
        ("office", "office-cloud"), ("cloud", "cloud-office"), ("cloud-dynamic", "cloud-office"),
        ("office-dynamic", "office-cloud"), ("cloud-bgp", "cloud-office"), ("office-bgp", "office-cloud"),
    ]

    func load(_ example: String) throws -> ConfigLoadResult {
        let result = ConfigLoader.load(path: Self.root.appendingPathComponent("examples/\(example).yaml").path)
        XCTAssertNotNil(result.config, "\(example): \(result.errors)")
        return result
    }

    func loadText(_ text: String) throws -> GatewayConfig {
        let result = ConfigLoader.load(bytes: Array(text.utf8), file: "test.yaml", baseDirectory: "/nonexistent")
        return try XCTUnwrap(result.config, "\(result.errors)")
    }

    /// What the CLI would print: every file, or the positioned errors.
    func render(_ example: String, _ connection: String, _ device: ExportDevice) throws -> (String, failed: Bool) {
        let result = try load(example)
        let config = try XCTUnwrap(result.config)
        let file = "examples/\(example).yaml"
        do {
            let peer = try PeerSide(mirroring: connection, in: config)
            let files = try PeerExport.files(for: peer, device: device, origin: ExportOrigin(configFile: file))
            return (files.map { "# ---- \($0.name) ----\n" + $0.contents }.joined(), false)
        } catch {
            let problems = (error as? ExportProblems)?.problems ?? [(error as? ExportProblem)].compactMap { $0 }
            XCTAssertFalse(problems.isEmpty, "\(error)")
            let diagnostics = problems.map {
                $0.diagnostic(file: file, config: config, positions: result.positions).description
            }
            return (diagnostics.joined(separator: "\n") + "\n", true)
        }
    }

    // MARK: - Golden outputs

    func testEveryExampleAndDeviceMatchesItsGoldenFile() throws {
        let update = ProcessInfo.processInfo.environment["ISTHMUS_UPDATE_GOLDEN"] == "1"
        if update { try FileManager.default.createDirectory(at: Self.golden, withIntermediateDirectories: true) }
        for (example, connection) in Self.examples {
            for device in ExportDevice.allCases {
                let (text, failed) = try render(example, connection, device)
                let name = "\(example).\(device.rawValue).\(failed ? "err" : "txt")"
                let url = Self.golden.appendingPathComponent(name)
                if update {
                    try Data(text.utf8).write(to: url)
                    continue
                }
                let expected = try? String(contentsOf: url, encoding: .utf8)
                XCTAssertNotNil(expected, "\(name) missing: the export \(failed ? "failed" : "succeeded") unexpectedly")
                XCTAssertEqual(text, expected ?? "", "\(name) differs from its golden file")
            }
        }
    }

    /// Which example each device can take: the goldens are only as good as this list.
    func testWhichExamplesEachDeviceCanExpress() throws {
        let expectations: [(String, String, ExportDevice, Bool)] = [
            ("office", "office-cloud", .strongswan, true),
            ("office", "office-cloud", .libreswan, false),  // modp1024 is not in libreswan 4 builds
            ("office", "office-cloud", .netgearFVS318N, true),
            ("cloud", "cloud-office", .strongswan, true),
            ("cloud", "cloud-office", .libreswan, false),
            ("cloud", "cloud-office", .netgearFVS318N, true),  // the seed's case
            ("cloud-dynamic", "cloud-office", .strongswan, true),
            ("cloud-dynamic", "cloud-office", .libreswan, true),
            ("cloud-dynamic", "cloud-office", .netgearFVS318N, false),  // IKEv2
            ("office-dynamic", "office-cloud", .strongswan, true),
            ("office-dynamic", "office-cloud", .libreswan, true),
            ("office-dynamic", "office-cloud", .netgearFVS318N, false),
        ]
        for (example, connection, device, succeeds) in expectations {
            let (text, failed) = try render(example, connection, device)
            XCTAssertEqual(!failed, succeeds, "\(example) \(device.rawValue): \(text)")
        }
    }

    // MARK: - The mirror

    func testThePeerIsOurMirror() throws {
        let config = try XCTUnwrap(try load("cloud-dynamic").config)
        let peer = try PeerSide(mirroring: "cloud-office", in: config)
        let office = try XCTUnwrap(config.localNetwork(named: "office"))
        let connection = try XCTUnwrap(config.connections.first)
        XCTAssertEqual(peer.localAddress, office.gatewayAddress)
        XCTAssertEqual(peer.remoteAddress, config.gateway.publicAddress)
        XCTAssertEqual(peer.localPrefixes, office.prefixes)
        XCTAssertEqual(peer.remotePrefixes, config.site.prefixes)
        XCTAssertEqual(peer.ike, connection.ike)
        XCTAssertEqual(peer.esp, connection.esp)
        XCTAssertEqual(peer.lifetimes, connection.lifetimes)
        XCTAssertEqual(peer.ikeVersion, .v2)
        XCTAssertEqual(peer.deadPeerDetection.interval, connection.deadPeerDetection.interval)
        XCTAssertEqual(peer.deadPeerDetection.timeout, connection.deadPeerDetection.timeout)
        XCTAssertEqual(peer.deadPeerDetection.action, .restart)
        XCTAssertEqual(peer.peerName, "office")
        XCTAssertEqual(peer.ourGatewayName, "cloud-dynamic")
    }

    /// The peer derived from the cloud example is what the office example (written by hand for the other
    /// end) says about itself, and the reverse: both examples describe one link.
    func testTheMirrorOfEachExampleAgreesWithTheOtherSidesExample() throws {
        for (ours, theirs, connection) in [
            ("cloud-dynamic", "office-dynamic", "cloud-office"), ("office-dynamic", "cloud-dynamic", "office-cloud"),
            ("cloud", "office", "cloud-office"), ("office", "cloud", "office-cloud"),
        ] {
            let peer = try PeerSide(mirroring: connection, in: try XCTUnwrap(try load(ours).config))
            let other = try XCTUnwrap(try load(theirs).config)
            let otherConnection = try XCTUnwrap(other.connections.first)
            let otherRemote = try XCTUnwrap(other.localNetwork(named: otherConnection.localNetwork))
            XCTAssertEqual(peer.localAddress, other.gateway.publicAddress, ours)
            XCTAssertEqual(peer.remoteAddress, otherRemote.gatewayAddress, ours)
            XCTAssertTrue(peer.localPrefixes.allSatisfy(other.site.prefixes.contains), ours)
            XCTAssertTrue(otherRemote.prefixes.allSatisfy(peer.remotePrefixes.contains), ours)
            XCTAssertEqual(peer.ikeVersion, otherConnection.ikeVersion, ours)
            XCTAssertEqual(peer.ike, otherConnection.ike, ours)
            XCTAssertEqual(peer.esp, otherConnection.esp, ours)
            XCTAssertEqual(peer.lifetimes, otherConnection.lifetimes, ours)
        }
    }

    func testIKEv1PeersGetOneChildSAOrVPNPolicyPerPairOfPrefixes() throws {
        // Two address spaces with VMs; the gateway subnet's own address space is not protected.
        let config = try loadText(validCloud.replacingOccurrences(of: "[10.0.1.0/24, 10.0.2.0/24]", with: twoVMSpaces))
        let peer = try PeerSide(mirroring: "cloud-office", in: config)
        XCTAssertEqual(
            peer.selectorPairs.map { "\($0.local)-\($0.remote)" },
            ["192.168.1.0/24-10.0.1.0/24", "192.168.1.0/24-10.0.3.0/24"])
        let origin = ExportOrigin(configFile: "cloud.yaml")
        let swan = try PeerExport.files(for: peer, device: .strongswan, origin: origin)[0].contents
        XCTAssertTrue(
            swan.contains(
                "            cloud-office-1 {\n                local_ts = 192.168.1.0/24\n"
                    + "                remote_ts = 10.0.1.0/24\n"), swan)
        XCTAssertTrue(swan.contains("cloud-office-2 {"))
        XCTAssertTrue(swan.contains("version = 1\n"))
        XCTAssertTrue(swan.contains("reauth_time = 25920s"))
        let netgear = try PeerExport.files(for: peer, device: .netgearFVS318N, origin: origin)[0].contents
        XCTAssertTrue(netgear.contains("VPN Policy 2 of 2"))
    }

    // MARK: - The key

    func testNoKeyLeavesTheKeyOutOfEveryDevice() throws {
        for (example, connection) in Self.examples {
            let config = try XCTUnwrap(try load(example).config)
            let peer = try PeerSide(mirroring: connection, in: config, includeKey: false)
            XCTAssertNil(peer.sharedKey)
            for device in ExportDevice.allCases {
                guard
                    let files = try? PeerExport.files(for: peer, device: device, origin: ExportOrigin(configFile: "x"))
                else { continue }
                for file in files {
                    XCTAssertFalse(file.containsKey)
                    XCTAssertFalse(file.contents.contains("isthmus-demo-key"), "\(example) \(device): \(file.name)")
                    XCTAssertTrue(file.contents.contains("--no-key"), "\(example) \(device): the header must say so")
                }
            }
        }
    }

    func testTheHeaderSaysTheKeyIsIncluded() throws {
        let config = try XCTUnwrap(try load("cloud-dynamic").config)
        let peer = try PeerSide(mirroring: "cloud-office", in: config)
        let files = try PeerExport.files(for: peer, device: .libreswan, origin: ExportOrigin(configFile: "c.yaml"))
        XCTAssertEqual(files.map(\.name), ["cloud-office.conf", "cloud-office.secrets"])
        XCTAssertEqual(files.map(\.containsKey), [false, true])
        XCTAssertFalse(files[0].contents.contains("isthmus-demo-key"))
        XCTAssertTrue(files[0].contents.contains("not in this file but in cloud-office.secrets"))
        XCTAssertTrue(files[1].contents.contains("It contains the pre-shared key"))
    }

    func testAKeyWithQuotesIsWrittenInHex() {
        let key = SharedKey(source: .inline, material: Array("a\"b\\c-0123456789abcdef".utf8))
        XCTAssertEqual(PeerExport.secretLiteral(key), "0x" + Array("a\"b\\c-0123456789abcdef".utf8).hexString)
        let plain = SharedKey(source: .inline, material: Array("Abc123xyz0123456".utf8))
        XCTAssertEqual(PeerExport.secretLiteral(plain), "\"Abc123xyz0123456\"")
    }

    // MARK: - What devices cannot express

    func testNetgearRefusesIKEv2AESGCMAndECPNamingTheFieldsWithPositions() throws {
        let text = validCloud.replacingOccurrences(of: "ike: aes256-sha1-modp2048", with: "ike: aes256-sha256-ecp256")
            .replacingOccurrences(of: "esp: aes256-sha1", with: "esp: [aes256gcm16, aes128gcm16-esn]")
        let result = ConfigLoader.load(bytes: Array(text.utf8), file: "c.yaml", baseDirectory: "/")
        let config = try XCTUnwrap(result.config, "\(result.errors)")
        let peer = try PeerSide(mirroring: "cloud-office", in: config)
        XCTAssertThrowsError(
            try PeerExport.files(for: peer, device: .netgearFVS318N, origin: .init(configFile: "c.yaml"))
        ) {
            let problems = ($0 as? ExportProblems)?.problems ?? []
            XCTAssertEqual(
                problems.map(\.field),
                [
                    .connection("cloud-office", "ike"), .connection("cloud-office", "esp"),
                ])
            let lines = problems.map { $0.diagnostic(file: "c.yaml", config: config, positions: result.positions) }
            XCTAssertEqual(lines.map(\.location.line), [20, 21])
            XCTAssertTrue(lines[0].message.contains("ecp256 is not in its DH group list"), lines[0].message)
            XCTAssertTrue(lines[1].message.contains("aes256gcm16 is not in its Encryption Algorithm list"))
            XCTAssertNotNil(lines[1].fix)
        }
        var dynamic = config
        dynamic.connections[0].ikeVersion = .v2
        let peer2 = try PeerSide(mirroring: "cloud-office", in: dynamic)
        XCTAssertThrowsError(try PeerExport.files(for: peer2, device: .netgearFVS318N, origin: .init(configFile: "c")))
        {
            let problems = ($0 as? ExportProblems)?.problems ?? []
            XCTAssertEqual(problems.first?.field, .connection("cloud-office", "ike_version"))
            XCTAssertTrue(problems.first?.fix?.contains("ike_version: 1") ?? false)
        }
    }

    func testNetgearPicksTheFirstProposalItCanExpressAndWarnsAboutDefaults() throws {
        let text = validCloud.replacingOccurrences(
            of: "ike: aes256-sha1-modp2048", with: "ike: [aes256-sha256-ecp384, aes128-sha256-modp1536]"
        ).replacingOccurrences(of: "esp: aes256-sha1", with: "esp: [aes256gcm16, 3des-sha1-modp1024]")
        let config = try loadText(text)
        let peer = try PeerSide(mirroring: "cloud-office", in: config)
        let out = try PeerExport.files(for: peer, device: .netgearFVS318N, origin: .init(configFile: "c"))[0].contents
        XCTAssertTrue(
            out.contains(
                "    Encryption Algorithm                    AES-128\n"
                    + "                                            ! device default: 3DES — set AES-128\n"), out)
        XCTAssertTrue(
            out.contains(
                "Diffie-Hellman (DH) Group               Group 5 (1536 bit)\n"
                    + "                                            ! device default: Group 2 (1024 bit) — set Group 5 (1536 bit)"
            ))
        // The VPN policy's 3DES is the device default: no warning on that line.
        XCTAssertTrue(out.contains("    Encryption Algorithm                    3DES\n    Integrity Algorithm"), out)
        XCTAssertTrue(out.contains("PFS Key Group                           Yes, Group 2 (1024 bit)"))
        XCTAssertTrue(out.contains("Proposals used: IKE 'aes128-sha256-modp1536', ESP '3des-sha1-modp1024'"))
    }

    func testNetgearRefusesKeysItsFieldCannotHold() throws {
        let config = try loadText(
            validCloud.replacingOccurrences(
                of: "shared_key: 0123456789abcdef0123", with: "shared_key: " + String(repeating: "k", count: 50)))
        let peer = try PeerSide(mirroring: "cloud-office", in: config)
        XCTAssertThrowsError(try PeerExport.files(for: peer, device: .netgearFVS318N, origin: .init(configFile: "c"))) {
            let problem = ($0 as? ExportProblems)?.problems.first
            XCTAssertEqual(problem?.field, .connection("cloud-office", "shared_key"))
            XCTAssertFalse(problem?.description.contains("kkkkkkkk") ?? true, "the key must not be in the error")
        }
        // The generated keys fit.
        XCTAssertTrue(NetgearFVS318NExport.keyLengths.contains(SharedKeyGenerator.keyCharacters))
    }

    /// Address spaces: two with VMs and the gateway subnet's.
    let twoVMSpaces = "[10.0.1.0/24, 10.0.3.0/24, 10.0.2.0/24]"

    func testLibreswanNamesAndRefusals() throws {
        let text = validCloud.replacingOccurrences(of: "[10.0.1.0/24, 10.0.2.0/24]", with: twoVMSpaces)
            .replacingOccurrences(
                of: "ike: aes256-sha1-modp2048", with: "ike: [aes256-sha1-modp1024, aes128-sha384-modp3072]"
            ).replacingOccurrences(
                of: "esp: aes256-sha1",
                with: "esp: [aes256gcm16-ecp256, aes128-sha512-modp2048, aes192-sha256-ecp256-esn]")
        var config = try loadText(text)
        config.connections[0].ikeVersion = .v2
        let peer = try PeerSide(mirroring: "cloud-office", in: config)
        let files = try PeerExport.files(for: peer, device: .libreswan, origin: .init(configFile: "c"))
        let conf = files[0].contents
        XCTAssertTrue(conf.contains("\tike=aes128-sha2_384-modp3072\n"), conf)
        XCTAssertTrue(conf.contains("# left out IKE proposal 'aes256-sha1-modp1024': libreswan 4"), conf)
        // One PFS group for all ESP proposals (the first one's).
        XCTAssertTrue(conf.contains("\tesp=aes_gcm_16_256-null-dh19,aes192-sha2_256-dh19\n"), conf)
        XCTAssertTrue(conf.contains("# left out ESP proposal 'aes128-sha512-modp2048'"), conf)
        XCTAssertTrue(conf.contains("\tpfs=yes\n\tesn=either\n"), conf)
        XCTAssertTrue(conf.contains("\tikev2=insist\n"))
        XCTAssertTrue(conf.contains("\trightsubnets={10.0.1.0/24 10.0.3.0/24}\n"))
        XCTAssertEqual(
            files[1].contents.split(separator: "\n").last,
            "198.51.100.10 203.0.113.20 : PSK \"0123456789abcdef0123\"")

        var des = config
        des.connections[0].esp = try ProposalList(parsing: ["des-md5"], for: .esp, version: .v2)
        let desPeer = try PeerSide(mirroring: "cloud-office", in: des)
        XCTAssertThrowsError(try PeerExport.files(for: desPeer, device: .libreswan, origin: .init(configFile: "c"))) {
            XCTAssertEqual(($0 as? ExportProblems)?.problems.map(\.field), [.connection("cloud-office", "esp")])
        }
    }

    func testPeerNeedsOurPublicAddressAndAKnownConnection() throws {
        var config = try loadText(validCloud)
        XCTAssertThrowsError(try PeerSide(mirroring: "nope", in: config)) {
            XCTAssertTrue("\($0)".contains("no connection named 'nope'"))
        }
        config.gateway.publicAddress = nil
        XCTAssertThrowsError(try PeerSide(mirroring: "cloud-office", in: config)) {
            XCTAssertEqual(($0 as? ExportProblem)?.field, .gateway("public_address"))
        }
    }

    func testStrongSwanLifetimesMirrorOurs() throws {
        var config = try loadText(validCloud)
        config.connections[0].ikeVersion = .v2
        config.connections[0].lifetimes = Lifetimes(ike: .seconds(3600), esp: .seconds(600), espKilobytes: 1000)
        config.connections[0].natTraversal = .force
        let peer = try PeerSide(mirroring: "cloud-office", in: config)
        let out = try PeerExport.files(for: peer, device: .strongswan, origin: .init(configFile: "c"))[0].contents
        for line in [
            "rekey_time = 3240s", "over_time = 360s", "rekey_time = 540s", "life_time = 600s",
            "life_bytes = 1024000", "rekey_bytes = 921600", "encap = yes", "dpd_action = restart",
            "start_action = start", "id = 198.51.100.10", "id = 203.0.113.20",
        ] {
            XCTAssertTrue(out.contains(line), "missing \(line):\n\(out)")
        }
    }
}
