import Foundation
import IsthmusCrypto
import IsthmusGateway
import XCTest
import Yams

final class ExamplesAndRoundTripTests: XCTestCase {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")

    func testExamplesAreValidAndDescribeTheSeed() throws {
        let office = try XCTUnwrap(
            ConfigLoader.load(path: Self.examples.appendingPathComponent("office.yaml").path).config)
        XCTAssertEqual(office.site.prefixes.map(\.description), ["192.168.1.0/24"])
        XCTAssertEqual(office.localNetworks.first?.prefixes.map(\.description), ["10.0.1.0/24"])
        XCTAssertEqual(office.connections.first?.ikeVersion, .v1)
        XCTAssertEqual(office.connections.first?.ike.description, "aes256-sha1-modp1024")

        let cloud = try XCTUnwrap(
            ConfigLoader.load(path: Self.examples.appendingPathComponent("cloud.yaml").path).config)
        guard case .virtualNetwork(let network) = cloud.site else { return XCTFail("cloud is not a virtual network") }
        XCTAssertEqual(network.addressSpaces.map(\.description), ["10.0.1.0/24", "10.0.2.0/24"])
        XCTAssertEqual(network.subnets.map(\.name), ["vms", "GatewaySubnet"])
        XCTAssertEqual(cloud.gateway.kind, .static)
        XCTAssertEqual(cloud.localNetworks.map(\.name), ["office"])
        XCTAssertEqual(cloud.connections.count, 1)
        XCTAssertEqual(cloud.connections[0].lifetimes.espKilobytes, 102_400_000)

        let dynamic = try XCTUnwrap(
            ConfigLoader.load(path: Self.examples.appendingPathComponent("cloud-dynamic.yaml").path).config)
        XCTAssertEqual(dynamic.gateway.kind, .dynamic)
        XCTAssertEqual(dynamic.connections[0].ikeVersion, .v2)
        XCTAssertNotNil(dynamic.gateway.pointToSite)
    }

    /// The model encodes (Codable, through Yams) to YAML that loads back to an equal model.
    func testEncodedConfigurationLoadsBackEqual() throws {
        let folder = try TemporaryFolder()
        try folder.write("office.key", "a-long-random-key-from-a-file\n")
        for base in [
            validCloud, validOffice,
            try String(contentsOf: Self.examples.appendingPathComponent("cloud-dynamic.yaml"), encoding: .utf8),
        ] {
            let yaml = base.replacingOccurrences(
                of: "shared_key: 0123456789abcdef0123", with: "shared_key: file:office.key"
            ).replacingOccurrences(
                of: "shared_key: isthmus-demo-key-change-me-0123456789", with: "shared_key: file:office.key"
            ).replacingOccurrences(
                of: "shared_key: isthmus-demo-client-key-change-me-0123", with: "shared_key: file:office.key")
            let first = load(yaml, in: folder)
            let config = try XCTUnwrap(first.config, "\(first.diagnostics)")
            let encoded = try YAMLEncoder().encode(config)
            let second = load(encoded, in: folder)
            XCTAssertEqual(second.config, config, "re-encoded:\n\(encoded)\n\(second.diagnostics)")
        }
    }

    func testInlineKeysNeverAppearInOutput() throws {
        let config = try XCTUnwrap(load(validCloud).config)
        let encoded = try YAMLEncoder().encode(config)
        XCTAssertFalse(encoded.contains("0123456789abcdef0123"))
        XCTAssertFalse(TopologySummary.render(config).contains("0123456789abcdef0123"))
        XCTAssertFalse("\(config)".contains("0123456789abcdef0123"))
        XCTAssertFalse(String(reflecting: config.connections[0].sharedKey).contains("0123456789abcdef0123"))
    }

    func testSummaryShowsEffectiveProposalsAndLifetimes() throws {
        let config = try XCTUnwrap(
            load(replacing("    ike: aes256-sha1-modp2048\n    esp: aes256-sha1\n", with: "")).config)
        let summary = TopologySummary.render(config)
        XCTAssertTrue(summary.contains("phase 1: aes256-sha256-modp2048, aes256-sha1-modp2048"), summary)
        XCTAssertTrue(summary.contains("lifetimes: IKE 8h (28800 s), ESP 1h (3600 s) or 102400000 KB"), summary)
        // The gateway subnet's own address space is not protected: nothing a remote site reaches lives there.
        XCTAssertTrue(summary.contains("10.0.1.0/24 <=> 192.168.1.0/24"), summary)
        XCTAssertTrue(summary.contains("endpoint ssh 10.0.1.4 tcp/22: permit 192.168.1.0/24, deny the rest"), summary)
    }
}
