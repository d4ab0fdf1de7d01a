import ArgumentParser
import IsthmusDaemon

/// `isthmus diagnose [NAME] [--json]`: per connection, a verdict from the running gateway: the cause, the
/// evidence with times, and the fixes on both sides.
struct Diagnose: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain why a connection is not up or works badly, and what to change on each side.",
        discussion: """
            Reads the running gateway's status, event history, counters and configuration. A healthy \
            connection gets one line; otherwise each finding names its cause (proposal-mismatch, \
            authentication-failed, traffic-selector-mismatch, peer-unreachable, nat-udp4500-blocked, flapping, \
            lifetime-mismatch, mtu, acl-denied, data-path-down, key-file-changed, dpd-timeout), the events and \
            counters it rests on, and the fix: the YAML line or command here, and the setting on the peer in \
            strongSwan, libreswan or generic router terms.
            """)

    @Argument(help: "The connection (default: every connection).")
    var name: String?

    @Flag(name: .long, help: "Print {\"gateway\": ..., \"connections\": [...]} as JSON.")
    var json = false

    @OptionGroup var control: ControlOptions

    func run() throws {
        let reply = try control.send(ControlRequest(command: "diagnose", connection: name))
        let report = DiagnosisReport(
            gateway: reply.response.gateway ?? "", connections: reply.response.diagnoses ?? [])
        if json {
            print(String(decoding: ControlCodec.encode(report), as: UTF8.self))
        } else {
            print(Self.render(report), terminator: "")
        }
    }

    /// The human form: one line per healthy connection, a block per troubled one.
    static func render(_ report: DiagnosisReport) -> String {
        var out = "gateway \(report.gateway)\n"
        if report.connections.isEmpty { out += "no connections\n" }
        for diagnosis in report.connections {
            if diagnosis.findings.isEmpty {
                out += "\n\(diagnosis.connection): \(diagnosis.summary)\n"
                continue
            }
            out += "\n\(diagnosis.connection): \(diagnosis.summary)\n"
            for finding in diagnosis.findings {
                out += "\n  \(finding.severity.rawValue.uppercased()) \(finding.cause.rawValue): \(finding.summary)\n"
                out += wrap(finding.explanation, indent: "    ")
                if !finding.evidence.isEmpty {
                    out += "    evidence:\n"
                    for item in finding.evidence {
                        let when = item.time.map { "\($0) " } ?? ""
                        switch item.source {
                        case .event: out += "      \(when)\(item.name): \(item.text)\n"
                        case .counter, .status: out += "      \(item.name): \(item.text)\n"
                        case .config: out += "      \(item.name): \(item.text)\n"
                        }
                    }
                }
                let local = finding.fixes.filter { $0.side == .local }
                let peer = finding.fixes.filter { $0.side == .peer }
                if !local.isEmpty {
                    out += "    fix here:\n"
                    for fix in local { out += render(fix) }
                }
                if !peer.isEmpty {
                    out += "    fix on the peer:\n"
                    for fix in peer { out += render(fix) }
                }
            }
        }
        return out
    }

    static func render(_ fix: DiagnosisFix) -> String {
        var head = fix.text
        if let device = fix.device { head = "\(deviceName(device)): \(head)" }
        var out = wrap(head, indent: "      - ", continuation: "        ")
        if let yaml = fix.yaml {
            for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) { out += "          \(line)\n" }
        }
        if let command = fix.command, !fix.text.contains("`\(command)`") { out += "        $ \(command)\n" }
        return out
    }

    static func deviceName(_ device: String) -> String {
        switch device {
        case "strongswan": "strongSwan"
        case "libreswan": "libreswan"
        case "netgear": "NETGEAR"
        default: "other routers"
        }
    }

    /// Words of `text` on lines of at most `width` characters, the first after `indent`, the others after
    /// `continuation` (default: as many spaces as `indent`).
    static func wrap(_ text: String, indent: String, continuation: String? = nil, width: Int = 100) -> String {
        let next = continuation ?? String(repeating: " ", count: indent.count)
        var out = ""
        var line = indent
        var empty = true
        for word in text.split(separator: " ") {
            if !empty && line.count + 1 + word.count > width {
                out += line + "\n"
                line = next
                empty = true
            }
            line += (empty ? "" : " ") + word
            empty = false
        }
        return out + line + "\n"
    }
}
