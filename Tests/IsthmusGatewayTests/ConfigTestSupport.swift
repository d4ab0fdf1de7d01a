import Foundation
import IsthmusGateway
import XCTest

/// A temporary folder for configuration and key files, removed when the test ends.
final class TemporaryFolder {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "isthmus-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
        let file = "\(path)/\(name)"
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
        return file
    }
}

/// A valid cloud configuration that each rule test breaks in one place.
let validCloud = """
    gateway:
      name: cloud
      kind: static
      public_address: 203.0.113.20
    virtual_network:
      name: vnet
      address_spaces: [10.0.1.0/24, 10.0.2.0/24]
      subnets:
        - {name: vms, prefix: 10.0.1.0/24}
        - {name: GatewaySubnet, prefix: 10.0.2.0/24}
      gateway_subnet: GatewaySubnet
    local_networks:
      - name: office
        gateway_address: 198.51.100.10
        prefixes: [192.168.1.0/24]
    connections:
      - name: cloud-office
        local_network: office
        shared_key: 0123456789abcdef0123
        ike: aes256-sha1-modp2048
        esp: aes256-sha1
    endpoints:
      - name: ssh
        address: 10.0.1.4
        protocol: tcp
        port: 22
        rules:
          - {action: permit, remote: 192.168.1.0/24}

    """

/// A valid office configuration (plain prefixes).
let validOffice = """
    gateway: {name: office, kind: static, public_address: 198.51.100.10}
    site: {prefixes: [192.168.1.0/24]}
    local_networks:
      - {name: cloud, gateway_address: 203.0.113.20, prefixes: [10.0.1.0/24]}
    connections:
      - name: office-cloud
        local_network: cloud
        shared_key: 0123456789abcdef0123
        ike: aes256-sha1-modp1024
        esp: aes256-sha1

    """

func load(_ yaml: String, file: String = "test.yaml", in folder: TemporaryFolder? = nil) -> ConfigLoadResult {
    ConfigLoader.load(bytes: Array(yaml.utf8), file: file, baseDirectory: folder?.path ?? "/nonexistent")
}

/// Replaces exactly one occurrence of `old` (the test fails if the base text has none).
func replacing(
    _ old: String, with new: String, in text: String = validCloud, file: StaticString = #filePath,
    line: UInt = #line
) -> String {
    XCTAssertTrue(text.contains(old), "base configuration lacks '\(old)'", file: file, line: line)
    guard let range = text.range(of: old) else { return text }
    return text.replacingCharacters(in: range, with: new)
}

func assertValid(_ yaml: String, file: StaticString = #filePath, line: UInt = #line) {
    let result = load(yaml)
    XCTAssertNotNil(result.config, "expected valid, got: \(result.errors.map(\.description))", file: file, line: line)
    XCTAssertEqual(result.errors, [], file: file, line: line)
}

/// Asserts the configuration is refused with an error mentioning `text`, at `atLine` when given.
@discardableResult
func assertError(
    _ yaml: String, _ text: String, atLine: Int? = nil, file: StaticString = #filePath, line: UInt = #line
) -> Diagnostic? {
    let result = load(yaml)
    XCTAssertNil(result.config, "accepted a configuration that should fail with '\(text)'", file: file, line: line)
    guard let match = result.errors.first(where: { $0.description.contains(text) }) else {
        XCTFail("no error mentions '\(text)'; errors: \(result.errors.map(\.description))", file: file, line: line)
        return nil
    }
    if let atLine { XCTAssertEqual(match.location.line, atLine, match.description, file: file, line: line) }
    return match
}

func assertWarning(
    _ yaml: String, _ text: String, in folder: TemporaryFolder? = nil, file: StaticString = #filePath,
    line: UInt = #line
) {
    let result = load(yaml, in: folder)
    XCTAssertNotNil(result.config, "errors: \(result.errors.map(\.description))", file: file, line: line)
    XCTAssertTrue(
        result.warnings.contains { $0.description.contains(text) },
        "no warning mentions '\(text)'; warnings: \(result.warnings.map(\.description))", file: file, line: line)
}
