import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIKEv1
import IsthmusIKEv2
import IsthmusIP
import IsthmusPKI

/// One of the two configurations `isthmus check A B` compares: the loaded model, the file as the user
/// named it and where each value was written (``ConfigLoadResult/positions``).
public struct PairCheckSide: Sendable {
    public var file: String
    public var config: GatewayConfig
    public var positions: [String: SourceLocation]

    public init(file: String, config: GatewayConfig, positions: [String: SourceLocation]) {
        self.file = file
        self.config = config
        self.positions = positions
    }
}

/// What the pair check found: the connections it paired, a summary of each pair, and every disagreement
/// as a positioned ``Diagnostic`` (errors fail the check, warnings do not).
public struct PairCheckReport: Sendable {
    /// Two connections that are the two ends of one tunnel.
    public struct Pair: Sendable, Hashable {
        /// The connection of the first file and the one of the second.
        public var first: String
        public var second: String
        /// How they were paired, in words.
        public var pairedBy: String
        /// The summary: versions, key, chosen proposals, prefixes, lifetimes and who rekeys first, liveness.
        public var lines: [String]
    }

    public var pairs: [Pair]
    public var diagnostics: [Diagnostic]

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { diagnostics.filter { $0.severity == .warning } }

    /// The summary of every pair, for standard output.
    public var summary: String {
        pairs.map { pair in
            (["\(pair.first) <=> \(pair.second) (paired by \(pair.pairedBy))"] + pair.lines.map { "  " + $0 })
                .joined(separator: "\n")
        }.joined(separator: "\n")
    }
}

/// Checks two gateway configurations against each other before either is deployed: the two ends of each
/// tunnel must hold the same key, share a proposal, mirror each other's prefixes, speak the same IKE version
/// and kind, have lifetimes that work together, and at least one must check liveness.
///
/// Pure: it reads the two loaded models and their positions, nothing else. What the two ends will
/// negotiate comes from the cores themselves (``IKEv1Agreement``, ``IKEv2Agreement``), once with each end
/// initiating, since both may.
public enum PairCheck {
    /// Lifetimes this many times apart are far apart: an error for IKEv1 (the seed's flapping tunnel),
    /// a warning for IKEv2.
    public static let farApartRatio = 10.0

    /// Compares configuration `first` with `second`.
    public static func check(_ first: PairCheckSide, _ second: PairCheckSide) -> PairCheckReport {
        var report = PairCheckReport(pairs: [], diagnostics: [])
        let firstEnds = ends(of: first)
        let secondEnds = ends(of: second)
        var taken = Set<Int>()
        var unpaired: [End] = []
        for end in firstEnds {
            let scored = secondEnds.filter { !taken.contains($0.index) }.map { ($0, score(end, $0)) }
            guard let best = scored.filter({ $0.1.value > 0 }).max(by: { $0.1.value < $1.1.value }) else {
                unpaired.append(end)
                continue
            }
            taken.insert(best.0.index)
            var checker = PairChecker(a: end, b: best.0)
            checker.run()
            report.diagnostics += checker.diagnostics
            report.pairs.append(
                PairCheckReport.Pair(
                    first: end.connection.name, second: best.0.connection.name, pairedBy: best.1.how,
                    lines: checker.lines))
        }
        let leftOver = unpaired + secondEnds.filter { !taken.contains($0.index) }
        for end in leftOver {
            let other = end.side.file == first.file ? second : first
            let gateway = end.remote.gateway
            var diagnostic = Diagnostic(
                report.pairs.isEmpty ? .error : .warning, file: end.side.file, at: end.at("name"),
                "connection '\(end.connection.name)' has no counterpart in \(other.file): no connection there leads "
                    + "back to \(end.side.config.gateway.name) (\(end.publicAddressText)), and its peer \(gateway) "
                    + "is not \(other.config.gateway.name)'s public address (\(other.config.gateway.publicAddress.map { "\($0)" } ?? "not set"))",
                fix: "check gateway_address and public_address on both sides, or compare this file with the "
                    + "configuration of the gateway at \(gateway)")
            if let location = other.positions["gateway.public_address"] {
                diagnostic.notes.append(
                    Diagnostic.Note(
                        file: other.file, at: location, "\(other.config.gateway.name)'s public address"))
            }
            report.diagnostics.append(diagnostic)
        }
        return report
    }

    /// Every connection of `side` with the local network it leads to.
    static func ends(of side: PairCheckSide) -> [End] {
        side.config.connections.enumerated().compactMap { index, connection in
            guard let remoteIndex = side.config.localNetworks.firstIndex(where: { $0.name == connection.localNetwork })
            else { return nil }
            return End(side: side, index: index, remoteIndex: remoteIndex)
        }
    }

    /// How well two connections point at each other: both at the other's address (or identity) beats one,
    /// which beats names alone; 0 when nothing ties them.
    static func score(_ a: End, _ b: End) -> (value: Int, how: String) {
        let aToB = a.pointsAt(b)
        let bToA = b.pointsAt(a)
        let names =
            a.connection.name == b.connection.name || a.remote.name == b.side.config.gateway.name
            || b.remote.name == a.side.config.gateway.name
        switch (aToB, bToA) {
        case (true, true): return (8 + (names ? 1 : 0), "each leads to the other's public address")
        case (true, false):
            return (4 + (names ? 1 : 0), "\(a.connection.name) leads to \(b.side.config.gateway.name)'s public address")
        case (false, true):
            return (4 + (names ? 1 : 0), "\(b.connection.name) leads to \(a.side.config.gateway.name)'s public address")
        case (false, false):
            return names ? (1, "names: neither leads to the other's public address") : (0, "")
        }
    }
}

/// One connection of one configuration, with the local network it leads to and where its values are.
struct End {
    let side: PairCheckSide
    let index: Int
    let remoteIndex: Int

    var connection: Connection { side.config.connections[index] }
    var remote: LocalNetwork { side.config.localNetworks[remoteIndex] }
    var gateway: GatewaySettings { side.config.gateway }
    /// `office-cloud` of gateway `office`: "office's office-cloud".
    var label: String { "\(gateway.name)'s \(connection.name)" }
    var publicAddressText: String { gateway.publicAddress.map { "\($0)" } ?? "no public address" }

    /// The identity this end authenticates as (with certificates and no `local_id`: its certificate's subject),
    /// and the one it expects from its peer (nil: not known here, or with certificates and no `remote_id`: any
    /// identity the peer's certificate certifies).
    var sentIdentity: IKEIdentity? {
        if let identity = connection.localIdentity { return identity }
        if connection.authentication == .certificate {
            return gateway.certificates.credential.map {
                .distinguishedName(der: $0.value.subjectDER, text: $0.value.subjectText)
            }
        }
        return gateway.publicAddress.map { .address($0) }
    }
    var expectedIdentity: IKEIdentity? {
        if let identity = connection.remoteIdentity { return identity }
        return connection.authentication == .certificate ? nil : remote.gatewayAddress.map { .address($0) }
    }

    /// Whether this end's peer is `other`'s gateway: its address is the other's public address, or its
    /// expected identity is the one the other sends.
    func pointsAt(_ other: End) -> Bool {
        if let address = remote.gatewayAddress, address == other.gateway.publicAddress { return true }
        if let expected = connection.remoteIdentity, let sent = other.sentIdentity, sent.matches(expected) {
            return true
        }
        return false
    }

    /// The position of the connection's `field` (a dotted path below it), or of the first of `fallbacks`
    /// written, or of the connection's name.
    func at(_ field: String, _ fallbacks: String...) -> SourceLocation {
        let base = "connections[\(index)]"
        for path in [field] + fallbacks {
            let full = path.hasPrefix("/") ? String(path.dropFirst()) : "\(base).\(path)"
            if let location = side.positions[full] { return location }
        }
        return side.positions["\(base).name"] ?? side.positions[base] ?? .start
    }

    /// The position of the local network's `field`.
    func remoteAt(_ field: String) -> SourceLocation {
        let base = "local_networks[\(remoteIndex)]"
        return side.positions["\(base).\(field)"] ?? side.positions["\(base).name"] ?? .start
    }

    /// Where this gateway's own prefixes are written.
    var siteLocation: SourceLocation {
        side.positions["site.prefixes"] ?? side.positions["virtual_network.address_spaces"] ?? .start
    }

    var publicAddressLocation: SourceLocation {
        side.positions["gateway.public_address"] ?? side.positions["gateway"] ?? .start
    }

    /// Where the IKE version is decided: `ike_version`, else the connection's or gateway's `kind`.
    var versionLocation: SourceLocation { at("ike_version", "kind", "/gateway.kind") }
    var kindLocation: SourceLocation { at("kind", "/gateway.kind") }

    func note(_ location: SourceLocation, _ message: String) -> Diagnostic.Note {
        Diagnostic.Note(file: side.file, at: location, message)
    }

    func diagnostic(
        _ severity: Diagnostic.Severity, _ location: SourceLocation, _ message: String, fix: String,
        notes: [Diagnostic.Note]
    ) -> Diagnostic {
        var diagnostic = Diagnostic(severity, file: side.file, at: location, message, fix: fix)
        diagnostic.notes = notes
        return diagnostic
    }
}
