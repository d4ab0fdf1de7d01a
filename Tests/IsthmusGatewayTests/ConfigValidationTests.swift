import Foundation
import IsthmusCrypto
import IsthmusGateway
import IsthmusTestSupport
import XCTest

/// One passing and one failing case for each rule `isthmus check` enforces.
final class ConfigValidationTests: XCTestCase {
    func testBaseConfigurationsAreValid() throws {
        assertValid(validCloud)
        assertValid(validOffice)
        let config = try XCTUnwrap(load(validCloud).config)
        XCTAssertEqual(config.connections[0].ikeVersion, .v1, "a static gateway defaults to IKEv1")
        XCTAssertEqual(config.connections[0].lifetimes, .default)
        XCTAssertEqual(config.connections[0].esp.description, "aes256-sha1")
    }

    func testAddressSpacesOfTheTwoSidesMustNotOverlap() {
        assertError(
            replacing("prefixes: [192.168.1.0/24]", with: "prefixes: [10.0.1.128/25]"),
            "must not overlap", atLine: 15)
        assertError(
            replacing("prefixes: [192.168.1.0/24]", with: "prefixes: [192.168.1.0/24]", in: validOffice)
                .replacingOccurrences(of: "prefixes: [10.0.1.0/24]", with: "prefixes: [192.168.0.0/16]"),
            "must not overlap")
        assertValid(replacing("prefixes: [192.168.1.0/24]", with: "prefixes: [10.0.3.0/24]"))
    }

    func testSubnetsMustLieInsideAddressSpaces() {
        assertError(
            replacing("{name: vms, prefix: 10.0.1.0/24}", with: "{name: vms, prefix: 10.0.3.0/24}"),
            "outside every address space", atLine: 9)
        assertValid(replacing("{name: vms, prefix: 10.0.1.0/24}", with: "{name: vms, prefix: 10.0.1.0/25}"))
    }

    func testSubnetsMustNotOverlap() {
        assertError(
            replacing("{name: GatewaySubnet, prefix: 10.0.2.0/24}", with: "{name: GatewaySubnet, prefix: 10.0.1.0/27}"),
            "overlaps subnet 'vms'", atLine: 10)
        assertError(
            replacing("address_spaces: [10.0.1.0/24, 10.0.2.0/24]", with: "address_spaces: [10.0.0.0/16, 10.0.2.0/24]"),
            "overlaps 10.0.0.0/16")
    }

    func testDynamicGatewayNeedsAGatewaySubnet() {
        let dynamic = replacing("kind: static", with: "kind: dynamic")
        assertValid(dynamic)
        assertError(
            replacing("  gateway_subnet: GatewaySubnet\n", with: "", in: dynamic), "needs a gateway subnet",
            atLine: 3)
        assertError(
            replacing("gateway_subnet: GatewaySubnet", with: "gateway_subnet: GatewaySubnt", in: dynamic),
            "did you mean 'GatewaySubnet'")
        // A static gateway without a gateway subnet is fine.
        assertValid(replacing("  gateway_subnet: GatewaySubnet\n", with: ""))
        // A dynamic connection on a static gateway still needs one.
        assertError(
            replacing(
                "  gateway_subnet: GatewaySubnet\n", with: "",
                in: replacing("    local_network: office\n", with: "    local_network: office\n    kind: dynamic\n")),
            "is dynamic, which needs a gateway subnet")
    }

    func testStaticGatewaySpeaksOnlyIKEv1() {
        assertError(
            replacing("    local_network: office\n", with: "    local_network: office\n    ike_version: 2\n"),
            "speaks IKEv1 only", atLine: 19)
        assertValid(replacing("    local_network: office\n", with: "    local_network: office\n    ike_version: 1\n"))
        assertError(
            replacing("    local_network: office\n", with: "    local_network: office\n    ike_version: 3\n"),
            "from 1 to 2")
    }

    func testStaticGatewayHasNoPointToSite() {
        let withPool = replacing(
            "  public_address: 203.0.113.20\n",
            with: "  public_address: 203.0.113.20\n  point_to_site: {address_pool: 10.0.0.0/24, shared_key: "
                + "a-client-key-of-some-length}\n")
        assertError(withPool, "cannot offer point-to-site", atLine: 5)
        assertValid(replacing("kind: static", with: "kind: dynamic", in: withPool))
        assertError(
            replacing(
                "kind: static", with: "kind: dynamic",
                in: replacing("10.0.0.0/24", with: "10.0.1.0/25", in: withPool)),
            "point-to-site pool 10.0.1.0/25 overlaps")
    }

    func testUnknownAlgorithmsGetASuggestion() throws {
        let diagnostic = try XCTUnwrap(
            assertError(
                replacing("ike: aes256-sha1-modp2048", with: "ike: aes256-sha1-modp2049"),
                "unknown algorithm 'modp2049'", atLine: 20))
        XCTAssertEqual(diagnostic.fix, "did you mean 'modp2048'?")
        assertValid(replacing("esp: aes256-sha1", with: "esp: aes256-sha"))
        assertError(replacing("esp: aes256-sha1", with: "esp: aes128ctr-sha1"), "does not implement")
    }

    func testProposalsTheIKEVersionCannotCarry() {
        assertError(
            replacing("ike: aes256-sha1-modp2048", with: "ike: aes256gcm16-prfsha256-modp2048"),
            "IKEv1 phase 1 cannot negotiate AES-256-GCM-128", atLine: 20)
        assertError(
            replacing("esp: aes256-sha1", with: "esp: chacha20poly1305"),
            "IKEv1 phase 2 cannot negotiate ChaCha20-Poly1305", atLine: 21)
        let dynamic = replacing("kind: static", with: "kind: dynamic")
        assertValid(replacing("ike: aes256-sha1-modp2048", with: "ike: aes256gcm16-prfsha256-modp2048", in: dynamic))
        assertValid(replacing("esp: aes256-sha1", with: "esp: chacha20poly1305", in: dynamic))
        assertValid(replacing("esp: aes256-sha1", with: "esp: [aes256gcm16, 'aes128-sha256-modp2048']", in: dynamic))
    }

    func testWeakAlgorithmsAreWarnings() {
        assertWarning(replacing("ike: aes256-sha1-modp2048", with: "ike: 3des-md5-modp1024"), "RFC 8221")
        assertWarning(replacing("ike: aes256-sha1-modp2048", with: "ike: 3des-md5-modp1024"), "MODP-1024")
    }

    func testSharedKeyIsRequiredAndLongEnough() {
        assertError(
            replacing("    shared_key: 0123456789abcdef0123\n", with: ""),
            "connection 'cloud-office' has no 'shared_key'",
            atLine: 17)
        assertError(
            replacing("shared_key: 0123456789abcdef0123", with: "shared_key: secret123"),
            "has 9 characters; at least 16", atLine: 19)
        assertError(replacing("shared_key: 0123456789abcdef0123", with: "shared_key:"), "shared_key is empty")
        assertValid(replacing("shared_key: 0123456789abcdef0123", with: "shared_key: 0123456789abcdef"))
    }

    func testSharedKeyFiles() throws {
        let folder = try TemporaryFolder()
        let yaml = replacing("shared_key: 0123456789abcdef0123", with: "shared_key: file:office.key")
        try folder.write("office.key", "a-long-random-key-from-a-file\n", mode: 0o600)
        let result = load(yaml, in: folder)
        let config = try XCTUnwrap(result.config, "\(result.diagnostics)")
        XCTAssertEqual(result.warnings, [])
        XCTAssertEqual(config.connections[0].sharedKey.length, "a-long-random-key-from-a-file".count)
        XCTAssertEqual(config.connections[0].sharedKey.source, .file("office.key"))

        try folder.write("office.key", "a-long-random-key-from-a-file\n", mode: 0o644)
        assertWarning(yaml, "can be read or written by group or others (mode 0644)", in: folder)

        try folder.write("office.key", "short\n", mode: 0o600)
        XCTAssertTrue(load(yaml, in: folder).errors.contains { $0.message.contains("has 5 characters") })

        XCTAssertTrue(
            load(replacing("office.key", with: "missing.key", in: yaml), in: folder).errors.contains {
                $0.message.contains("cannot read the key file")
            })
    }

    func testDuplicateNames() {
        let twoOffices = replacing(
            "connections:",
            with: """
                  - name: office
                    gateway_address: 198.51.100.11
                    prefixes: [192.168.2.0/24]
                connections:
                """)
        assertError(twoOffices, "local network name 'office' is used twice", atLine: 16)
        let twoConnections = validCloud.replacingOccurrences(
            of: "endpoints:",
            with: """
                  - name: cloud-office
                    local_network: office
                    shared_key: 0123456789abcdef0123
                endpoints:
                """)
        assertError(twoConnections, "connection name 'cloud-office' is used twice", atLine: 22)
        assertError(
            replacing("{name: GatewaySubnet, prefix: 10.0.2.0/24}", with: "{name: vms, prefix: 10.0.2.0/24}"),
            "subnet name 'vms' is used twice")
    }

    func testLifetimeRanges() {
        func with(_ lifetime: String) -> String {
            replacing("    esp: aes256-sha1\n", with: "    esp: aes256-sha1\n    lifetime: \(lifetime)\n")
        }
        assertError(with("{ike: 119s}"), "IKE lifetime 119s is outside 2m to 1d", atLine: 22)
        assertError(with("{ike: 25h}"), "outside 2m to 1d")
        assertValid(with("{ike: 2m}"))
        assertValid(with("{ike: 5m}"))
        assertValid(with("{ike: 24h}"))
        assertValid(with("{ike: 28800s}"))
        assertError(with("{esp: 59s}"), "ESP lifetime 59s is outside 1m to 1d")
        assertValid(with("{esp: 1m}"))
        assertValid(with("{esp: 2m}"))
        // Short lifetimes (tests) are accepted with a warning; the usual ones without.
        let short = load(with("{ike: 120s, esp: 60s}"))
        XCTAssertEqual(short.errors, [])
        XCTAssertEqual(short.diagnostics.filter { $0.description.contains("rekeyed every few minutes") }.count, 2)
        XCTAssertFalse(load(with("{ike: 5m, esp: 2m}")).diagnostics.contains { $0.description.contains("few minutes") })
        assertError(with("{esp_size: 1000KB}"), "below 1024KB")
        assertValid(with("{esp_size: 1024KB}"))
        assertValid(with("{esp_size: 100MB}"))
        assertError(with("{ike: 8 hours}"), "is not a duration")
        assertError(with("{esp_size: 10TB}"), "is not a size")
        assertError(with("{esp_size: 99999999999999999999999KB}"), "is not a size")
    }

    func testUnknownKeysGetDidYouMean() throws {
        let diagnostic = try XCTUnwrap(
            assertError(
                replacing("shared_key:", with: "shared_keys:"),
                "unknown key 'shared_keys' in connection 'cloud-office'; "
                    + "did you mean 'shared_key'?", atLine: 19))
        XCTAssertEqual(diagnostic.location.column, 5)
        assertError(replacing("gateway:", with: "gatway:"), "did you mean 'gateway'?", atLine: 1)
        assertError(validCloud + "colour: blue\n", "unknown key 'colour' in the configuration", atLine: 29)
    }

    func testReferencesToLocalNetworks() {
        assertError(
            replacing("local_network: office", with: "local_network: ofice"),
            "'ofice', which is not defined; did you mean 'office'?", atLine: 18)
    }

    func testPrefixWithHostBitsShowsTheCorrection() throws {
        let diagnostic = try XCTUnwrap(
            assertError(
                replacing("prefixes: [192.168.1.0/24]", with: "prefixes: [192.168.1.10/24]"),
                "host bits are set", atLine: 15))
        XCTAssertEqual(diagnostic.fix, "write 192.168.1.0/24")
        assertError(replacing("prefixes: [192.168.1.0/24]", with: "prefixes: [10.0.1.0/33]"), "must be 0 to 32")
        assertError(
            replacing("gateway_address: 198.51.100.10", with: "gateway_address: 300.1.1.1"),
            "out of range", atLine: 14)
    }

    func testWrongTypes() {
        assertError(
            replacing("address_spaces: [10.0.1.0/24, 10.0.2.0/24]", with: "address_spaces: {a: b}"),
            "address_spaces must be a list, found a mapping", atLine: 7)
        let office = String(validOffice[..<validOffice.range(of: "connections:")!.lowerBound])
        assertError(office + "connections: 42\n", "connections must be a list, found a number", atLine: 5)
        assertError(
            "gateway: [1, 2]\nsite: {prefixes: []}\nlocal_networks: []\nconnections: []\n",
            "gateway must be a mapping", atLine: 1)
        assertError("- just\n- a list\n", "the configuration must be a mapping", atLine: 1)
        assertError("just text\n", "the configuration must be a mapping")
    }

    func testFragmentSize() throws {
        func with(_ size: String) -> String {
            replacing("    esp: aes256-sha1\n", with: "    esp: aes256-sha1\n    fragment_size: \(size)\n")
        }
        assertError(with("500"), "fragment_size '500' must be a whole number from 576 to 65535", atLine: 22)
        assertError(with("big"), "fragment_size 'big'")
        XCTAssertEqual(try XCTUnwrap(load(with("576")).config).connections[0].fragmentSize, 576)
        XCTAssertEqual(try XCTUnwrap(load(validCloud).config).connections[0].fragmentSize, 1280)
    }

    func testDeadPeerDetection() {
        func with(_ dpd: String) -> String {
            replacing("    esp: aes256-sha1\n", with: "    esp: aes256-sha1\n    dpd: \(dpd)\n")
        }
        assertError(with("{interval: 60s, timeout: 30s}"), "must be longer than the interval")
        assertError(with("{interval: 0s}"), "must be above 0s")
        assertError(with("{action: reboot}"), "not one of: restart, clear, none")
        assertValid(with("{interval: 10s, timeout: 50s, action: clear}"))
        assertValid(with("{action: none}"))
    }

    func testEndpoints() {
        assertError(
            replacing("address: 10.0.1.4", with: "address: 192.168.1.4"), "is not on this gateway's site",
            atLine: 24)
        assertError(replacing("protocol: tcp", with: "protocol: icmp"), "a port applies only to protocol tcp or udp")
        assertError(replacing("port: 22", with: "port: 70000"), "from 1 to 65535")
        assertWarning(
            replacing(
                "      - {action: permit, remote: 192.168.1.0/24}",
                with: "      - {action: deny, remote: any}\n      - {action: permit, remote: 192.168.1.0/24}"),
            "rule 2 (permit 192.168.1.0/24) can never match")
        assertWarning(
            replacing("remote: 192.168.1.0/24}", with: "remote: 172.16.0.0/12}"),
            "outside every local network's prefixes")
        assertError(replacing("remote: 192.168.1.0/24}", with: "remote: 2001:db8::/32}"), "can never match")
        assertError(
            replacing("rules:\n      - {action: permit, remote: 192.168.1.0/24}", with: "rules: []"),
            "has no rules")
        // A second endpoint for a service the first already takes in is never consulted.
        let shadowed =
            validCloud + """
                  - name: ssh-admins
                    address: 10.0.1.4
                    protocol: tcp
                    port: 22
                    rules:
                      - {action: permit, remote: 192.168.1.10/32}

                """
        assertWarning(shadowed, "endpoint 'ssh-admins' is never consulted: endpoint 'ssh' comes first")
        XCTAssertFalse(load(validCloud).warnings.contains { $0.description.contains("never consulted") })
    }

    func testDiagnosticsAreFormattedWithFileLineColumn() throws {
        let result = load(replacing("kind: static", with: "kind: sttic"), file: "cloud.yaml")
        let error = try XCTUnwrap(result.errors.first)
        XCTAssertEqual(
            error.description.split(separator: "\n").first,
            "cloud.yaml:3:9: error: gateway kind 'sttic' is not one of: static, dynamic; did you mean 'static'?")
    }

    func testEveryProblemIsListedNotOnlyTheFirst() {
        let broken = replacing(
            "kind: static", with: "kind: sttic",
            in:
                replacing(
                    "shared_key: 0123456789abcdef0123", with: "shared_key: short",
                    in:
                        replacing("port: 22", with: "port: 0")))
        let errors = load(broken).errors
        XCTAssertEqual(errors.count, 3, "\(errors)")
        XCTAssertEqual(errors.map(\.location.line), [3, 19, 26])
    }
}

/// Inputs that are not a configuration at all: one positioned error, never a crash.
final class MalformedInputTests: XCTestCase {
    func testEmptyAndCommentOnlyFiles() {
        for text in ["", "\n\n", "# only a comment\n"] {
            let result = load(text)
            XCTAssertEqual(result.errors.count, 1)
            XCTAssertEqual(result.errors.first?.message, "the configuration is empty")
        }
    }

    func testNotYAML() throws {
        let result = load("gateway:\n  name: x\n   bad: indentation\n")
        XCTAssertEqual(result.errors.count, 1)
        let error = try XCTUnwrap(result.errors.first)
        XCTAssertTrue(error.message.hasPrefix("not valid YAML"), error.message)
        XCTAssertEqual(error.location.line, 3)
        XCTAssertEqual(load("key: [unclosed\n").errors.count, 1)
        XCTAssertEqual(load("a: 'unterminated\n").errors.count, 1)
        XCTAssertEqual(load("*undefined_alias\n").errors.count, 1)
    }

    func testBinaryGarbage() throws {
        var generator = SplitMix64(seed: 42)
        for _ in 0..<200 {
            let bytes = (0..<Int(generator.next() % 512)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            let result = ConfigLoader.load(bytes: bytes, file: "garbage", baseDirectory: "/nonexistent")
            XCTAssertNil(result.config)
            XCTAssertGreaterThanOrEqual(result.errors.count, 1)
        }
        let result = ConfigLoader.load(bytes: [0x67, 0x61, 0x0A, 0x00, 0xFF], file: "f", baseDirectory: "/")
        XCTAssertEqual(result.errors.count, 1)
        XCTAssertEqual(result.errors.first?.location, SourceLocation(line: 2, column: 1))
        XCTAssertTrue(result.errors.first?.message.contains("not a text file") ?? false)
        let invalidUTF8 = ConfigLoader.load(bytes: [0x61, 0xC3, 0x28], file: "f", baseDirectory: "/")
        XCTAssertTrue(invalidUTF8.errors.first?.message.contains("not UTF-8") ?? false)
    }

    func testAliasBombIsBounded() {
        // Aliases share nodes, so a small file can describe a huge tree: 2000 connections, each with a
        // 2000-item proposal list, is 4 million values. The reader stops at its node budget.
        let proposals = Array(repeating: "aes256-sha1-modp2048", count: 2000).joined(separator: ", ")
        let yaml = """
            gateway: {name: g}
            site: {prefixes: [192.168.1.0/24]}
            local_networks: []
            proposals: &p [\(proposals)]
            template: &c {name: c, local_network: x, shared_key: 0123456789abcdef0, ike: *p}
            connections: [\(Array(repeating: "*c", count: 2000).joined(separator: ", "))]

            """
        let result = load(yaml)
        XCTAssertNil(result.config)
        XCTAssertTrue(
            result.errors.contains { $0.message.contains("more than 100000 values") }, "\(result.errors.prefix(3))")
    }

    func testTooLargeFile() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("big.yaml", String(repeating: "# padding\n", count: 1_100_000))
        let result = ConfigLoader.load(path: path)
        XCTAssertEqual(result.errors.count, 1)
        XCTAssertTrue(result.errors[0].message.contains("at most 1048576 bytes"), result.errors[0].message)
        XCTAssertEqual(result.errors[0].location, .start)
    }

    func testMissingFileAndDirectory() throws {
        XCTAssertTrue(ConfigLoader.load(path: "/nonexistent/isthmus.yaml").errors[0].message.contains("cannot read"))
        let folder = try TemporaryFolder()
        XCTAssertTrue(ConfigLoader.load(path: folder.path).errors[0].message.contains("not a regular file"))
    }
}
