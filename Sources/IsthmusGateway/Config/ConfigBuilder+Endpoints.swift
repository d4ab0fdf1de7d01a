import IsthmusCrypto
import IsthmusEvents
import IsthmusIP
import Yams

/// `endpoints:` entries and their ACL rules.
extension ConfigBuilder {
    // MARK: - endpoints

    mutating func readEndpoint(_ value: LocatedNode) -> Endpoint? {
        guard
            let fields = reader.mapping(
                value, what: describe(value, as: "endpoint"), keys: ["name", "address", "protocol", "port", "rules"],
                required: ["name", "address", "rules"])
        else { return nil }
        var endpoint: Endpoint?
        let failed = addsErrors { builder in
            let name = fields["name"].flatMap { builder.reader.name($0, what: "endpoint name") }
            let address = fields["address"].flatMap { builder.reader.address($0, what: "endpoint address") }
            let transport =
                fields["protocol"].map {
                    builder.reader.choice($0, what: "protocol", as: TransportProtocol.self)
                } ?? .any
            var port: UInt16?
            if let node = fields["port"] {
                if transport?.hasPorts == false {
                    builder.reader.sink.error(
                        node.location, "a port applies only to protocol tcp or udp",
                        fix: "set 'protocol: tcp' or 'protocol: udp', or remove the port")
                } else if let number = builder.reader.integer(node, what: "port", range: 1...65535) {
                    port = UInt16(number)
                }
            }
            var rules: [ACLRule] = []
            if let node = fields["rules"], let items = builder.reader.sequence(node, what: "rules") {
                rules = items.compactMap { builder.readRule($0) }
                if items.isEmpty {
                    builder.reader.sink.error(
                        node.location, "the endpoint has no rules, so nothing may reach it",
                        fix: "add '- {action: permit, remote: PREFIX}' rules")
                }
            }
            if let name, let address, let transport {
                endpoint = Endpoint(name: name, address: address, transport: transport, port: port, rules: rules)
            }
        }
        return failed ? nil : endpoint
    }

    mutating func readRule(_ value: LocatedNode) -> ACLRule? {
        guard
            let fields = reader.mapping(
                value, what: "rule", keys: ["action", "remote", "description"],
                required: ["action"])
        else { return nil }
        guard let action = fields["action"].flatMap({ reader.choice($0, what: "rule action", as: ACLRule.Action.self) })
        else { return nil }
        var remote: IPPrefix?
        if let node = fields["remote"] {
            if case .scalar(let scalar) = node.node, scalar.string.lowercased() == "any" {
                remote = nil
            } else {
                guard let prefix = reader.prefix(node, what: "rule remote") else { return nil }
                remote = prefix
            }
        }
        let description = fields["description"].flatMap { reader.string($0, what: "rule description") }
        return ACLRule(action: action, remote: remote, description: description)
    }
}
