import ArgumentParser
import Foundation
import IsthmusCrypto
import IsthmusIKE
import IsthmusIKEv2
import IsthmusIP

/// `isthmus-bench ike`: an IKEv2 load generator built on our own initiator core (scripts/bench-ike runs it).
struct IKEBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ike",
        abstract: "Set up many IKEv2 SAs (PSK, one CHILD SA each, a virtual IP by CP) against a responder; setups/s.",
        discussion: """
            Each initiator is our sans-I/O IKEv2 core with an identity of its own (--id-template) that asks for a \
            virtual address (CP CFG_REQUEST, as a remote-access client does), so one responder configuration \
            (Isthmus point_to_site, strongSwan `remote { id = %any }` with a pool) accepts them all. All of them \
            share one UDP socket on the IKE port and one on the NAT-T port of the source address; responses are \
            routed by our SPI. The rate is the setups established over the time from the first IKE_SA_INIT sent \
            to the last CHILD SA up.
            """
    )

    @Option(help: "The responder: IPv4 ADDRESS[:PORT] (port 500 by default).")
    var target: String

    @Option(help: "The local IPv4 ADDRESS[:PORT] to send from (default: the route's source address, port 500).")
    var source: String?

    @Option(help: "The NAT-T port bound beside the source (IKE floats to it when a NAT is detected).")
    var natPort: UInt16 = 4500

    @Option(help: "IKE SAs to set up in all.")
    var count: Int = 200

    @Option(help: "Setups in flight at once.")
    var concurrency: Int = 200

    @Option(help: "The IKE proposal, strongSwan notation (e.g. aes128-sha256-ecp256, aes128-sha256-modp2048).")
    var ike: String = "aes128-sha256-ecp256"

    @Option(help: "The ESP proposal of the CHILD SA.")
    var esp: String = "aes128gcm16"

    @Option(help: "The pre-shared key (the responder's point-to-site key).")
    var psk: String

    @Option(help: "Each initiator's identity: %d becomes its number (1...count), e.g. r%d.load.example.")
    var idTemplate: String = "r%d.load.example"

    @Option(help: "The identity the responder must prove (default: its address).")
    var remoteID: String?

    @Option(help: "The CHILD SA's remote traffic selector (the responder narrows it).")
    var remoteTS: String = "0.0.0.0/0"

    @Option(help: "Seconds after the first setup started after which setups still pending count as failed.")
    var timeout: Double = 120

    @Flag(help: "Keep the SAs up after the run (for memory and status measurements) until SIGINT or SIGTERM.")
    var hold = false

    @Option(
        help: ArgumentHelp(
            "Once the SAs are up, this many of them send ICMP echo requests to --traffic-target through their "
                + "CHILD SAs (ESP in UDP, forced), and the replies are counted (0: no traffic)."))
    var traffic: Int = 0

    @Option(help: "Milliseconds between two echo requests of one tunnel.")
    var trafficInterval: Int = 100

    @Option(help: "Seconds the tunnels send (then 2 s for the last replies).")
    var trafficSeconds: Double = 60

    @Option(help: "The address that answers the echoes (default: the first address of --remote-ts plus one).")
    var trafficTarget: String?

    @Option(help: "The CHILD SA lifetime in seconds: a short one makes the initiators rekey during the traffic.")
    var childLifetime: Int = 86_400

    @Flag(help: "Print the figures as one JSON object.")
    var json = false

    @Flag(help: "Print every event of every initiator on standard error.")
    var verbose = false

    func validate() throws {
        guard count >= 1, count <= 1_000_000 else { throw ValidationError("--count must be in 1...1000000") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        guard psk.utf8.count >= 1 else { throw ValidationError("--psk must not be empty") }
        guard traffic >= 0, trafficInterval >= 1, trafficSeconds > 0 else {
            throw ValidationError("--traffic must be 0 or more, --traffic-interval and --traffic-seconds positive")
        }
        guard childLifetime >= 10 else { throw ValidationError("--child-lifetime must be at least 10 seconds") }
    }

    func run() throws {
        let plan: LoadPlan
        do {
            plan = try makePlan()
        } catch {
            throw ValidationError(error.description)
        }
        signal(SIGPIPE, SIG_IGN)
        for number in [SIGINT, SIGTERM] {
            signal(number) { _ in loadStopRequested.store(true, ordering: .relaxed) }
        }
        let generator: IKELoadGenerator
        do {
            generator = try IKELoadGenerator(plan: plan)
        } catch {
            standardError("isthmus-bench ike: \(error.description)")
            throw ExitCode(1)
        }
        standardError(
            "isthmus-bench ike: \(count) IKE SAs (\(ike), ESP \(esp)), \(concurrency) at once, "
                + "from \(plan.source) to \(plan.configuration(1).remote)")
        let summary = generator.run { summary in
            // Unbuffered: with --hold the figures must be out before the process is told to end.
            FileHandle.standardOutput.write(
                Data((json ? Self.json(summary) : Self.text(summary, ike: ike)).utf8 + [10]))
        }
        if summary.failed > 0 { throw ExitCode(3) }
    }

    private func makePlan() throws(LoadOptionError) -> LoadPlan {
        let targetEndpoint = try parseEndpoint(target, defaultPort: 500)
        let sourceEndpoint: UDPEndpoint
        if let source {
            sourceEndpoint = try parseEndpoint(source, defaultPort: 500)
        } else {
            sourceEndpoint = UDPEndpoint(address: try UDPSocket.sourceAddress(toward: targetEndpoint), port: 500)
        }
        let template = try IdentityTemplate(idTemplate)
        let ikeProposals: ProposalList
        let espProposals: ProposalList
        do {
            ikeProposals = try ProposalList(parsing: [ike], for: .ike, version: .v2)
        } catch { throw LoadOptionError("--ike '\(ike)': \(error)") }
        do {
            espProposals = try ProposalList(parsing: [esp], for: .esp, version: .v2)
        } catch { throw LoadOptionError("--esp '\(esp)': \(error)") }
        let remoteIdentity: IKEIdentity
        if let remoteID {
            guard let parsed = IKEIdentity(parsing: remoteID) else {
                throw LoadOptionError("--remote-id '\(remoteID)' is not an identity")
            }
            remoteIdentity = parsed
        } else {
            remoteIdentity = .address(targetEndpoint.address)
        }
        guard let remotePrefix = try? IPPrefix(parsing: remoteTS) else {
            throw LoadOptionError("--remote-ts '\(remoteTS)' is not a prefix")
        }
        for index in [1, count] where IKEIdentity(parsing: template.identity(for: index)) == nil {
            throw LoadOptionError("--id-template gives '\(template.identity(for: index))', which is not an identity")
        }
        var trafficPlan: TrafficPlan?
        if traffic > 0 {
            let target: IPAddress
            if let trafficTarget {
                guard let parsed = try? IPAddress(parsing: trafficTarget) else {
                    throw LoadOptionError("--traffic-target '\(trafficTarget)' is not an address")
                }
                target = parsed
            } else {
                target = IPAddress(family: remotePrefix.network.family, value: remotePrefix.network.value + 1)
            }
            trafficPlan = TrafficPlan(
                tunnels: traffic, interval: .milliseconds(trafficInterval),
                duration: .milliseconds(Int64(trafficSeconds * 1000)), target: target)
        }
        let forceUDP = trafficPlan != nil
        let childLifetime = Duration.seconds(childLifetime)
        let key = SecretBytes(Array(psk.utf8))
        let anywhere = TrafficSelector(prefix: try! IPPrefix(parsing: "0.0.0.0/0"))
        return LoadPlan(
            target: targetEndpoint, source: sourceEndpoint, natPort: natPort, count: count, concurrency: concurrency,
            timeout: .milliseconds(Int64(timeout * 1000)), hold: hold, verbose: verbose, traffic: trafficPlan,
            configuration: { index in
                let identity = template.identity(for: index)
                // Long lifetimes (unless --child-lifetime) and no liveness checks of ours: a held SA stays as it
                // was set up. With traffic ESP goes in UDP, so one socket carries it (strongSwan's encap=yes).
                let settings = IKEConnectionSettings(
                    connectionName: identity, local: sourceEndpoint, remote: targetEndpoint, sharedKey: key,
                    ikeProposals: ikeProposals, espProposals: espProposals, localSelectors: [anywhere],
                    remoteSelectors: [TrafficSelector(prefix: remotePrefix)], ikeLifetime: .seconds(86_400),
                    childLifetime: childLifetime, childLifetimeKilobytes: nil, liveness: nil,
                    forceUDPEncapsulation: forceUDP)
                var configuration = IKEv2Configuration(
                    settings, localIdentity: IKEIdentity(parsing: identity)!, remoteIdentity: remoteIdentity)
                configuration.requestsVirtualAddress = true
                return configuration
            })
    }

    static func json(_ summary: LoadSummary) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(summary)) ?? Data("{}".utf8), as: UTF8.self)
    }

    static func text(_ summary: LoadSummary, ike: String) -> String {
        func f(_ value: Double) -> String { String(format: "%.1f", value) }
        let latency = summary.latencyMilliseconds
        var lines = [
            "IKE SAs established: \(summary.established) of \(summary.count) (\(summary.concurrency) at once, \(ike))",
            "setups/s: \(f(summary.setupsPerSecond)) over \(String(format: "%.3f", summary.windowSeconds)) s "
                + "(first IKE_SA_INIT sent -> last CHILD SA up)",
            "setup latency ms: p50 \(f(latency.p50)) p90 \(f(latency.p90)) p99 \(f(latency.p99)) max \(f(latency.max))",
            "retransmissions: \(summary.retransmissions)",
            "generator CPU ms per setup: \(String(format: "%.3f", summary.generatorCPUMillisecondsPerSetup))",
        ]
        if summary.failed > 0 {
            let reasons = summary.failures.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            lines.append("failed: \(summary.failed) (\(reasons.joined(separator: ", ")))")
        } else {
            lines.append("failed: 0")
        }
        if let traffic = summary.traffic {
            lines.append(
                "traffic: \(traffic.tunnels) tunnels for \(f(traffic.seconds)) s, \(traffic.requestsSent) echo requests, "
                    + "\(traffic.repliesReceived) replies, \(traffic.lost) lost, \(traffic.childRekeys) CHILD SA rekeys"
            )
            if !traffic.notSent.isEmpty || !traffic.receiveDrops.isEmpty {
                lines.append("not sent: \(traffic.notSent), dropped on receipt: \(traffic.receiveDrops)")
            }
        }
        if summary.sendFailures > 0 || summary.unmatchedDatagrams > 0 {
            lines.append("send failures: \(summary.sendFailures), unmatched datagrams: \(summary.unmatchedDatagrams)")
        }
        return lines.joined(separator: "\n")
    }
}
