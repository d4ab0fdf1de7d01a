import ArgumentParser
import Glibc
import IsthmusDaemon
import IsthmusDashboard
import IsthmusGateway
import IsthmusMetrics
import Logging
import Metrics
import Prometheus
import Synchronization

/// `isthmus run FILE`: run the gateway in the foreground until SIGINT or SIGTERM.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway in the foreground.",
        discussion: """
            Listens for IKE on UDP 500 and 4500 (the gateway's public_address, or every address), initiates \
            every connection, and serves `status`, `diagnose`, `up`, `down`, `logs` and `reload` on the control \
            socket (default /run/isthmus/<gateway name>.sock, mode 0600: root only). SIGHUP (or `isthmus reload`) \
            reads FILE again and applies only what changed; SIGINT or SIGTERM deletes the SAs, telling the \
            peers, and exits 0. With --metrics ADDRESS:PORT, Prometheus text is served on GET /metrics at that \
            address. With --dashboard ADDRESS:PORT (or a port alone: 127.0.0.1), the web dashboard is served \
            there: the network diagram, a page per connection, live updates; read-only unless \
            --dashboard-token-file names a file (mode 0600) whose token unlocks up, down, reload and key rotation.

            The gateway plumbs its own data path (root or CAP_NET_ADMIN): a TUN interface per route-based \
            connection (ist-<remote site>, or the connection's interface:) and one shared by the policy-based \
            ones (ist-<gateway>, or the gateway's interface:), each up with an MTU that fits the connection's \
            ESP suites in --path-mtu, and a route into it for every prefix of the remote sites (proto 73). \
            Reload adds and removes only what changed; at exit all of it goes.
            """
    )

    enum LogFormat: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Argument(help: "The YAML configuration file.")
    var file: String

    @Option(name: .long, help: "The control socket (default: /run/isthmus/<gateway name>.sock).")
    var control: String?

    @Option(name: .long, help: "Log lines as text or as one JSON object per line.")
    var logFormat: LogFormat = .text

    @Option(name: .long, help: "Log level on standard error: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(name: .long, help: "The IKE UDP port.")
    var ikePort: Int = 500

    @Option(name: .long, help: "The NAT-T UDP port (IKE after a non-ESP marker, and ESP-in-UDP).")
    var natPort: Int = 4500

    @Flag(name: .long, help: "Answer peers but do not initiate connections at start-up ('isthmus up' still does).")
    var passive = false

    @Option(
        name: .long,
        help:
            "Instead of plumbing interfaces and routes: carry every connection on this TUN device (created if missing; address and routes are yours)."
    )
    var tun: String?

    @Flag(name: .long, help: "IKE only: negotiate and list CHILD SAs, carry no traffic (no interfaces, no routes).")
    var noDataPlane = false

    @Option(
        name: .long, help: "The BIRD 2 binary for the BGP connections (default: bird on PATH, else /usr/sbin/bird).")
    var bird: String?

    @Option(
        name: .long,
        help: "MTU of the path to the peers: tunnel packets that would not fit get ICMP 'too big', TCP MSS is clamped.")
    var pathMTU: Int = 1500

    @Option(
        name: .long,
        help: "Most half-open IKE SAs (first message received, not yet authenticated) at once, from all peers.")
    var halfOpenLimit: Int = HalfOpenLimits.standard.total

    @Option(
        name: .long,
        help:
            "Most half-open IKE SAs from one address: IKEv2 asks that address for a COOKIE, IKEv1 drops its oldest.")
    var halfOpenPerSource: Int = HalfOpenLimits.standard.perSource

    @Option(
        name: .long, help: "Half-open IKE SAs in all above which every IKEv2 IKE_SA_INIT must carry a COOKIE.")
    var cookieThreshold: Int = HalfOpenLimits.standard.cookieThreshold

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Serve Prometheus metrics on GET /metrics at this local address (off by default).",
            valueName: "address:port"))
    var metrics: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Serve the web dashboard at this address (a port alone: 127.0.0.1; off by default).",
            valueName: "address:port"))
    var dashboard: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A file (mode 0600) whose token unlocks the dashboard's actions; without it the dashboard is read-only.",
            valueName: "path"))
    var dashboardTokenFile: String?

    func validate() throws {
        for (name, port) in [("--ike-port", ikePort), ("--nat-port", natPort)] where !(1...65535).contains(port) {
            throw ValidationError("\(name) must be 1 to 65535, not \(port)")
        }
        guard (1280...65535).contains(pathMTU) else {
            throw ValidationError("--path-mtu must be 1280 to 65535, not \(pathMTU)")
        }
        if ikePort == natPort { throw ValidationError("--ike-port and --nat-port must differ") }
        if tun != nil && noDataPlane { throw ValidationError("--tun and --no-data-plane exclude each other") }
        if let tun, !TunnelInterfaceName.isValid(tun) {
            throw ValidationError("--tun must be an interface name of 1 to 15 characters, not '\(tun)'")
        }
        for (name, value) in [("--half-open-limit", halfOpenLimit), ("--half-open-per-source", halfOpenPerSource)]
        where !(1...1_000_000).contains(value) {
            throw ValidationError("\(name) must be 1 to 1000000, not \(value)")
        }
        guard (0...1_000_000).contains(cookieThreshold) else {
            throw ValidationError("--cookie-threshold must be 0 to 1000000, not \(cookieThreshold)")
        }
        if let metrics, MetricsAddress(parsing: metrics) == nil {
            throw ValidationError(
                "--metrics must be an IP address and a port, such as 127.0.0.1:9469 or [::1]:9469, not '\(metrics)'")
        }
        if let dashboard, DashboardAddress.parse(dashboard) == nil {
            throw ValidationError(
                "--dashboard must be an IP address and a port, or a port, such as 127.0.0.1:8080, [::1]:8080 or 8080, "
                    + "not '\(dashboard)'")
        }
        if dashboardTokenFile != nil && dashboard == nil {
            throw ValidationError("--dashboard-token-file needs --dashboard")
        }
    }

    func run() async throws {
        // Until the gateway traps SIGHUP (reload), its default action would end the process: a
        // `systemctl reload` during start-up must not.
        signal(SIGHUP, SIG_IGN)
        let loaded = ConfigLoader.load(path: file, secrets: .refuse)
        let config = try loaded.acceptedConfig(file: file)
        let level = logLevel
        let format = logFormat
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
        let logger = Logger(label: "isthmus.run")
        let ledger = InitialContactLedger()
        // What remote gateways named by DNS resolve to: the daemon resolves, the IKE factories read.
        let peers = PeerAddressBook()
        let pools = ClientAddressPools()
        let port = UInt16(ikePort)
        let factories = IKESessions.factories(
            config: config, ikePort: port, initialContact: ledger, peers: peers, clientPools: pools)
        var options = DaemonOptions(
            ikePort: ikePort, natPort: natPort, controlPath: control, initiateOnStart: !passive,
            dataPath: noDataPlane ? .none : tun.map { .tun($0) } ?? .managed,
            pathMTU: pathMTU)
        options.peers = peers
        options.clientPools = pools
        options.configFile = file
        options.birdExecutable = bird
        options.configPositions = loaded.positions
        options.halfOpenLimits = HalfOpenLimits(
            total: halfOpenLimit, perSource: halfOpenPerSource, cookieThreshold: cookieThreshold)
        let file = self.file
        let reloader: GatewayDaemon.ConfigReloader = {
            let result = ConfigLoader.load(path: file, secrets: .refuse)
            guard let config = result.config else {
                return .failure(
                    GatewayDaemon.ReloadRejected(
                        summary: "\(file): \(result.errorCount); the new configuration was not accepted",
                        diagnostics: result.errors.map(\.description)))
            }
            let factories = IKESessions.factories(
                config: config, ikePort: port, initialContact: ledger, peers: peers, clientPools: pools)
            var reload = GatewayDaemon.Reload(
                config: config, makeInitiator: factories.makeInitiator, makeResponder: factories.makeResponder)
            reload.positions = result.positions
            return .success(reload)
        }
        // The metrics endpoint listens before the gateway starts: a bind failure means no gateway.
        var metricsServer: MetricsServer.Running?
        if let metrics, let address = MetricsAddress(parsing: metrics) {
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            options.metrics = MetricsSystem.factory
            do {
                metricsServer = try await MetricsServer(
                    address: address, registry: registry, logger: Logger(label: "isthmus.metrics")
                ).start()
            } catch {
                printError("isthmus run: cannot serve metrics on \(address): \(error)")
                throw ExitCode(1)
            }
            logger.notice("serving metrics", metadata: ["address": "\(address)", "path": "/\(MetricsServer.path)"])
        }
        // The dashboard's token is read before anything starts: a token others may read means no gateway.
        var token: DashboardToken?
        if let dashboardTokenFile {
            do {
                token = try DashboardToken.load(path: dashboardTokenFile)
            } catch {
                await metricsServer?.stop()
                printError("isthmus run: \(error)")
                throw ExitCode(1)
            }
        }
        // The dashboard listens once the daemon exists and before it starts: a bind failure means no gateway.
        let dashboardServer = DashboardHandle()
        var attach: (@Sendable (GatewayDaemon) async throws -> Void)?
        if let dashboard, let address = DashboardAddress.parse(dashboard) {
            let token = token
            let file = self.file
            attach = { daemon in
                let server = DashboardServer(
                    address: address, backend: DashboardWiring.backend(daemon: daemon, file: file), token: token,
                    logger: Logger(label: "isthmus.dashboard"))
                do {
                    dashboardServer.set(try await server.start())
                } catch {
                    throw DashboardError("cannot serve the dashboard on \(address): \(error)")
                }
                if !DashboardAddress.isLoopback(address) {
                    logger.warning(
                        """
                        the dashboard is served over plain HTTP on \(address), which other machines may reach: its \
                        pages, and the token when actions are used, cross the network unencrypted; prefer \
                        127.0.0.1 and an SSH tunnel (ssh -L 8080:127.0.0.1:8080 gateway)
                        """)
                }
                logger.notice(
                    "serving the dashboard",
                    metadata: [
                        "url": "http://\(address)/",
                        "actions": "\(token == nil ? "off (read-only)" : "unlocked by the token")",
                    ])
            }
        }
        do {
            try await GatewayDaemon.serve(
                config: config, options: options, logger: logger, makeInitiator: factories.makeInitiator,
                makeResponder: factories.makeResponder, reloader: reloader, attach: attach)
        } catch {
            await dashboardServer.stop()
            await metricsServer?.stop()
            printError("isthmus run: \(error)")
            throw ExitCode(1)
        }
        await dashboardServer.stop()
        await metricsServer?.stop()
    }
}

/// The running dashboard, once `attach` started it (set from the daemon's start-up, stopped at exit).
final class DashboardHandle: Sendable {
    private let running = Mutex<DashboardServer.Running?>(nil)

    func set(_ server: DashboardServer.Running) { running.withLock { $0 = server } }

    func stop() async {
        let server = running.withLock { value in
            defer { value = nil }
            return value
        }
        await server?.stop()
    }
}
