import IsthmusCrypto
import IsthmusIP

/// The devices `isthmus export` writes the peer's configuration for.
public enum ExportDevice: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// strongSwan 5.x, `swanctl.conf` (one file with the secret).
    case strongswan
    /// libreswan 4.x, an `ipsec.conf` connection plus an `ipsec.secrets` line (two files).
    case libreswan
    /// NETGEAR ProSAFE FVS318N: its IKE Policy and VPN Policy screens, field by field.
    case netgearFVS318N = "netgear-fvs318n"

    public var description: String {
        switch self {
        case .strongswan: "strongSwan (swanctl.conf)"
        case .libreswan: "libreswan (ipsec.conf and ipsec.secrets)"
        case .netgearFVS318N: "NETGEAR ProSAFE FVS318N (IKE Policy and VPN Policy screens)"
        }
    }
}

/// One file of an export.
public struct ExportedFile: Sendable, Hashable {
    /// The file name to write it under (`--output DIR`): `cloud-office.conf`, `cloud-office.secrets`.
    public var name: String
    public var contents: String
    /// Whether the contents include the pre-shared key (such a file is written with mode 0600).
    public var containsKey: Bool
}

/// Where an export came from, for the header of every file (no time stamp: exports are reproducible).
public struct ExportOrigin: Sendable, Hashable {
    /// Our configuration file as the user named it (the first one, for an active-active pair).
    public var configFile: String
    /// Every configuration file of the export (two for an active-active pair).
    public var configFiles: [String]
    /// The connection's name as the user gave it (a pair's files rename it per gateway).
    public var connection: String?

    public init(configFile: String) {
        self.configFile = configFile
        configFiles = [configFile]
    }

    /// An export of one connection of several gateways (an active-active pair): `connection` in each of `files`.
    public init(configFiles: [String], connection: String) {
        configFile = configFiles.first ?? ""
        self.configFiles = configFiles
        self.connection = connection
    }

    /// The command that makes this export again.
    func command(_ peer: PeerSide, _ device: ExportDevice) -> String {
        "isthmus export \(connection ?? peer.connectionName) --device \(device.rawValue) "
            + configFiles.map { "--config \($0)" }.joined(separator: " ") + (peer.sharedKey == nil ? " --no-key" : "")
    }
}

/// Everything the device cannot express, each with the field of our configuration to change.
public struct ExportProblems: Error, Sendable, Hashable, CustomStringConvertible {
    public var problems: [ExportProblem]

    public init(_ problems: [ExportProblem]) { self.problems = problems }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Turns a ``PeerSide`` into a device's configuration.
public enum PeerExport {
    /// The files for `device`, or every setting it cannot express.
    public static func files(for peer: PeerSide, device: ExportDevice, origin: ExportOrigin) throws(ExportProblems)
        -> [ExportedFile]
    {
        switch device {
        case .strongswan: try StrongSwanExport.files(for: peer, origin: origin)
        case .libreswan: try LibreswanExport.files(for: peer, origin: origin)
        case .netgearFVS318N: try NetgearFVS318NExport.files(for: peer, origin: origin)
        }
    }

    /// The branch's side of connection `name` of an active-active pair (`peers`: the connection of each
    /// gateway, all leading to the same device): the device's files for each tunnel, its connection named
    /// `NAME-GATEWAY`, and one BIRD configuration with a session to each gateway.
    public static func files(forPair peers: [PeerSide], device: ExportDevice, origin: ExportOrigin)
        throws(ExportProblems) -> [ExportedFile]
    {
        guard let first = peers.first, peers.count > 1 else {
            guard let only = peers.first else { throw ExportProblems([]) }
            return try files(for: only, device: device, origin: origin)
        }
        var problems: [ExportProblem] = []
        for peer in peers.dropFirst() where peer.localAddress != first.localAddress {
            problems.append(
                ExportProblem(
                    field: .connection(peer.connectionName, "local_network"),
                    message: "connection '\(peer.connectionName)' of gateway '\(peer.ourGatewayName)' leads to "
                        + "\(peer.localAddress), the one of gateway '\(first.ourGatewayName)' to \(first.localAddress): "
                        + "a pair's export is for one device", fix: "name the connections that lead to the same site"))
        }
        if Set(peers.map(\.ourGatewayName)).count != peers.count {
            problems.append(
                ExportProblem(
                    field: .gateway("name"),
                    message: "the gateways of a pair need distinct names (they name the tunnels)",
                    fix: "give each gateway its own name"))
        }
        guard problems.isEmpty else { throw ExportProblems(problems) }
        var result: [ExportedFile] = []
        var renamed: [PeerSide] = []
        for (index, var peer) in peers.enumerated() {
            peer.connectionName = "\(peer.connectionName)-\(peer.ourGatewayName)"
            peer.ipsecInterface = index + 1
            renamed.append(peer)
            result += try files(for: peer, device: device, origin: origin).filter { !$0.name.hasSuffix(".bird.conf") }
        }
        let sessions = renamed.compactMap { peer in peer.bgp.map { (peer, $0) } }
        if !sessions.isEmpty {
            result.append(
                BirdPeerExport.file(
                    for: sessions, name: origin.connection ?? first.connectionName, origin: origin, device: device))
        }
        return result
    }

    /// Whether `key` can be written between double quotes in a strongSwan or libreswan file: printable
    /// ASCII without `"` and `\`. Any other key is written in hex (`0x...`), which both accept.
    static func isQuotable(_ key: [UInt8]) -> Bool {
        key.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }

    /// `0x` and the key in lower-case hex.
    static func hex(_ key: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]("0x".utf8)
        for byte in key {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The key as a quoted string or hex, for strongSwan and libreswan secrets.
    static func secretLiteral(_ key: SharedKey) -> String {
        key.withMaterial { bytes in
            isQuotable(bytes) ? "\"" + String(decoding: bytes, as: UTF8.self) + "\"" : hex(bytes)
        }
    }

    /// The lines every export starts with (prefixed by the format's comment marker).
    /// `keyFile` names the file that holds the key when it is not this one.
    static func header(
        _ peer: PeerSide, device: ExportDevice, origin: ExportOrigin, what: String, keyFile: String? = nil
    ) -> [String] {
        var lines = [
            "\(what) for the peer of Isthmus connection '\(peer.connectionName)'.",
            "Generated by: \(origin.command(peer, device))",
            "This side: local network '\(peer.peerName)' of the Isthmus configuration, \(peer.localAddress), "
                + "protecting \(list(peer.localPrefixes)).",
            "The Isthmus side: gateway '\(peer.ourGatewayName)', \(peer.remoteAddress), protecting "
                + "\(list(peer.remotePrefixes)).",
            "\(peer.ikeVersion), pre-shared key, IP address identities; regenerate rather than edit.",
        ]
        if let keyFile {
            lines.append("The pre-shared key is not in this file but in \(keyFile).")
        } else if peer.sharedKey != nil {
            lines.append(
                "It contains the pre-shared key: keep it mode 0600 and never mail or paste it anywhere public.")
        } else {
            lines.append(
                "Exported with --no-key: the key is NOT in it. Get it with 'isthmus key show "
                    + "\(peer.connectionName) --config \(origin.configFile)'.")
        }
        return lines
    }

    static func list(_ prefixes: [IPPrefix]) -> String { prefixes.map(\.description).joined(separator: ", ") }

    /// The problem for an algorithm the device cannot negotiate, naming our field and what to use.
    /// `reasons`: why each proposal was left out, when known.
    static func cannotExpress(
        _ peer: PeerSide, _ proto: ProposalProtocol, device: String, what: String, reasons: [String] = [],
        fix: String
    ) -> ExportProblem {
        let key = proto == .ike ? "ike" : "esp"
        let proposals = proto == .ike ? peer.ike : peer.esp
        var message =
            "\(device) cannot negotiate \(what); connection '\(peer.connectionName)' \(key) has "
            + "no proposal it can express ('\(proposals)')"
        if !reasons.isEmpty { message += ": " + reasons.joined(separator: "; ") }
        return ExportProblem(field: .connection(peer.connectionName, key), message: message, fix: fix)
    }
}
