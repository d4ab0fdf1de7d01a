extension DiagnosisReport {
    /// The human form (`isthmus diagnose`): one line per healthy connection, a block per troubled one with
    /// each finding's explanation, evidence (events with their times) and fixes here and on the peer.
    public var text: String {
        let report = self
        var out = "gateway \(report.gateway)\n"
        if report.connections.isEmpty { out += "no connections\n" }
        for diagnosis in report.connections {
            if diagnosis.findings.isEmpty {
                out += "\n\(diagnosis.connection): \(diagnosis.summary)\n"
                continue
            }
            let count = diagnosis.findings.count
            out += "\n\(diagnosis.connection): \(diagnosis.state), \(count) finding\(count == 1 ? "" : "s")\n"
            for finding in diagnosis.findings {
                out += "\n"
                out += Self.wrap(
                    "\(finding.severity.rawValue.uppercased()) \(finding.cause.rawValue): \(finding.summary)",
                    indent: "  ", continuation: "    ")
                out += Self.wrap(finding.explanation, indent: "    ")
                if !finding.evidence.isEmpty {
                    out += "    evidence:\n"
                    for item in finding.evidence {
                        let when = item.time.map { "\($0) " } ?? ""
                        out += Self.wrap(
                            "\(when)\(item.name): \(item.text)", indent: "      ", continuation: "        ")
                    }
                }
                let local = finding.fixes.filter { $0.side == .local }
                let peer = finding.fixes.filter { $0.side == .peer }
                if !local.isEmpty {
                    out += "    fix here:\n"
                    for fix in local { out += Self.render(fix) }
                }
                if !peer.isEmpty {
                    out += "    fix on the peer:\n"
                    for fix in peer { out += Self.render(fix) }
                }
            }
        }
        return out
    }

    static func render(_ fix: DiagnosisFix) -> String {
        var head = fix.text
        if let device = fix.device { head = "\(Self.deviceName(device)): \(head)" }
        var out = Self.wrap(head, indent: "      - ", continuation: "        ")
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
