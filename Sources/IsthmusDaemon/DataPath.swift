import IsthmusDataplane
import IsthmusESP
import IsthmusEvents
import IsthmusIP
import IsthmusNetlink
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon's own data path: it carries out a ``DataPathPlan`` with the data plane's TUN devices and
/// rtnetlink, and tells the data plane which interface each CHILD SA belongs to.
///
/// Each planned interface is a TUN device the daemon creates (or takes over when a previous run left it
/// behind), brought up with the planned MTU, attached to the data plane under its number (0 for the one
/// the policy-based connections share, 1, 2, ... for route-based connections), with a route into it for
/// every remote prefix, marked `proto 73` (``Route/isthmusProtocol``). A reload applies the difference;
/// at exit the routes go and so do the devices (a TUN disappears when its descriptor closes, also after
/// a crash, and the kernel removes its routes with it). A failure is that connection's only: an
/// interface or route that cannot be set up is a `data-path-failed` event and an error in `status`, and
/// the other connections go on.
///
/// With `--tun NAME` (``init(fixed:tunName:logger:)``) every connection uses that one device, whose
/// address and routes are the user's.
final class DataPath: Sendable {
    /// What `status` shows of a connection's data path.
    struct ConnectionState: Sendable, Hashable {
        var interface: String
        var mtu: Int?
        var routes: [IPPrefix]
        /// Its inner addresses (BGP connections).
        var addresses: [InterfaceAddress] = []
        /// Why it carries no traffic, or nil when it is up.
        var error: String?
    }

    private struct Installed {
        var number: Int
        var index: Int32
        var mtu: Int
        var routes: [IPPrefix]
        var addresses: [InterfaceAddress] = []
        var connections: [String]
        /// It existed before this run opened it (a persistent TUN left behind): deleted at exit.
        var takenOver: Bool
    }

    private struct State: ~Copyable {
        var netlink: NetlinkSocket?
        var installed: [String: Installed] = [:]
        /// The data-plane interface number of each connection's interface.
        var numbers: [String: Int] = [:]
        /// The number of each interface name ever planned: kept while the process lives, so an SA installed
        /// while its interface could not be created finds it once it is (and a re-created one keeps it).
        var interfaceNumbers: [String: Int] = [:]
        var connections: [String: ConnectionState] = [:]
        var nextNumber = 1
    }

    let plane: Dataplane
    /// Whether the daemon creates interfaces and routes (false with `--tun`).
    let managed: Bool
    private let state: Mutex<State>
    private let logger: Logger

    /// A data path the daemon plumbs itself (needs CAP_NET_ADMIN).
    init(managing plane: Dataplane, logger: Logger) throws(NetlinkError) {
        self.plane = plane
        self.managed = true
        self.logger = logger
        let netlink = try NetlinkSocket()
        state = Mutex(State(netlink: netlink))
    }

    /// Every connection on the TUN device `tunName`, interface 0, as `isthmus run --tun` asks.
    init(fixed plane: Dataplane, tunName: String, logger: Logger) throws(DataplaneError) {
        self.plane = plane
        self.managed = false
        self.logger = logger
        state = Mutex(State())
        plane.attach(try Dataplane.openTUN(name: tunName, logger: logger), as: 0)
        state.withLock { $0.connections[""] = ConnectionState(interface: tunName, mtu: nil, routes: []) }
    }

    /// Hands a CHILD SA change to the data plane, an installed SA marked with its connection's interface.
    func submit(_ change: ESPSAChange) {
        guard case .install(var sa) = change else {
            plane.submit(.sa(change))
            return
        }
        // A point-to-site client's SAs are named after it (PointToSiteSessions.trafficKey) and share the
        // clients' interface.
        let connection =
            PointToSiteSessions.isClientTrafficKey(sa.connection) ? PointToSiteSessions.connectionName : sa.connection
        sa.interface = state.withLock { $0.numbers[connection] } ?? 0
        plane.submit(.sa(.install(sa)))
    }

    /// What `status` shows of `connection`'s data path.
    func status(of connection: String) -> ConnectionState? {
        state.withLock { state in
            state.connections[connection] ?? (managed ? nil : state.connections[""])
        }
    }

    // MARK: Plumbing

    /// Makes the interfaces and routes what `plan` says, touching only what differs.
    /// - Returns: one event per connection whose data path changed.
    func apply(_ plan: DataPathPlan, now: Duration) -> [GatewayEvent] {
        guard managed else { return [] }
        return state.withLock { state in
            var events: [GatewayEvent] = []
            let planned = Set(plan.interfaces.map(\.name))
            for (name, installed) in state.installed where !planned.contains(name) {
                remove(name, installed, state: &state)
                for connection in installed.connections {
                    state.connections[connection] = nil
                    state.numbers[connection] = nil
                    events.append(
                        GatewayEvent(
                            time: now, connection: connection, kind: .dataPathRemoved,
                            message: "interface \(name) and its routes removed", details: ["interface": name]))
                }
            }
            for interface in plan.interfaces {
                let before = state.installed[interface.name]
                let number = Self.number(of: interface, state: &state)
                let problem = bringUp(interface, number: number, state: &state)
                for connection in interface.connections {
                    state.numbers[connection] = number
                    let previous = state.connections[connection]
                    let current = ConnectionState(
                        interface: interface.name, mtu: interface.mtu, routes: interface.routes,
                        addresses: interface.addresses, error: problem)
                    state.connections[connection] = current
                    guard previous != current || before == nil else { continue }
                    events.append(Self.event(current, connection: connection, now: now))
                }
            }
            // Connections gone from a shared interface that stays: their routes went with the plan above.
            let connections = Set(plan.interfaces.flatMap(\.connections))
            for name in state.connections.keys where !connections.contains(name) {
                state.connections[name] = nil
                state.numbers[name] = nil
            }
            return events
        }
    }

    /// Forgets interface `name` after its TUN device failed (deleted with `ip link del`, or in error): the
    /// data plane has detached it and the kernel removed its routes with it. Its connections show the
    /// error until the next ``apply(_:now:)`` creates the interface again under the same number, so the SAs
    /// installed for it carry traffic again.
    /// - Returns: one `data-path-failed` event per connection of the interface (none when it is not ours).
    ///
    /// With `--tun` the device is the user's (its address and routes too): it is not created again; the error
    /// stays in `status` until the gateway is restarted.
    func interfaceLost(_ name: String, now: Duration) -> [GatewayEvent] {
        guard managed else {
            return state.withLock { state in
                guard var current = state.connections[""], current.interface == name else { return [] }
                current.error =
                    "TUN device \(name) (--tun) disappeared or failed; the gateway does not create a device it was "
                    + "given: create it again with its address and routes, then restart the gateway"
                state.connections[""] = current
                return [Self.event(current, connection: "", now: now)]
            }
        }
        return state.withLock { state in
            guard let installed = state.installed.removeValue(forKey: name) else { return [] }
            var events: [GatewayEvent] = []
            for connection in installed.connections {
                guard var current = state.connections[connection] else { continue }
                current.error = "interface \(name) disappeared (deleted, or its TUN device failed); recreating it"
                state.connections[connection] = current
                events.append(Self.event(current, connection: connection, now: now))
            }
            logger.error("interface lost", metadata: ["interface": "\(name)"])
            return events
        }
    }

    /// Whether `name` is an interface this data path made and still holds.
    func holds(_ name: String) -> Bool {
        state.withLock { $0.installed[name] != nil }
    }

    /// Removes every route and interface this data path made (exit).
    func tearDown() {
        guard managed else { return }
        state.withLock { state in
            for (name, installed) in state.installed { remove(name, installed, state: &state) }
            state.numbers = [:]
        }
    }

    private static func event(_ state: ConnectionState, connection: String, now: Duration) -> GatewayEvent {
        var details = [
            "interface": state.interface, "mtu": state.mtu.map { "\($0)" } ?? "",
            "routes": state.routes.map { "\($0)" }.joined(separator: " "),
        ]
        if !state.addresses.isEmpty { details["addresses"] = state.addresses.map { "\($0)" }.joined(separator: " ") }
        if let error = state.error {
            return GatewayEvent(
                time: now, connection: connection, kind: .dataPathFailed, severity: .error,
                message: "no traffic can cross: \(error)", details: details)
        }
        let routes = state.routes.isEmpty ? "no routes" : "routes \(details["routes"]!)"
        let addresses = details["addresses"].map { ", address \($0) (routes by BGP)" } ?? ""
        return GatewayEvent(
            time: now, connection: connection, kind: .dataPathReady,
            message: "interface \(state.interface) up, mtu \(state.mtu ?? 0), \(routes)\(addresses)", details: details)
    }

    /// The data-plane number of `interface`: 0 for the shared one, else the one it had, else a new one.
    private static func number(of interface: DataPathPlan.Interface, state: inout State) -> Int {
        if interface.shared { return 0 }
        if let number = state.interfaceNumbers[interface.name] { return number }
        let number = state.nextNumber
        state.nextNumber += 1
        state.interfaceNumbers[interface.name] = number
        return number
    }

    /// Creates (or updates) one interface, as data-plane interface `number`, and its routes; the first
    /// problem met, or nil.
    private func bringUp(_ interface: DataPathPlan.Interface, number: Int, state: inout State) -> String? {
        guard let netlink = state.netlink else { return "no netlink socket" }
        var installed: Installed
        if let existing = state.installed[interface.name] {
            installed = existing
        } else {
            do {
                let takenOver = try netlink.interface(named: interface.name) != nil
                let device = try Dataplane.openTUN(name: interface.name, logger: logger)
                guard let link = try netlink.interface(named: interface.name) else {
                    return "interface \(interface.name) vanished right after it was created"
                }
                installed = Installed(
                    number: number, index: link.index, mtu: 0, routes: [], connections: interface.connections,
                    takenOver: takenOver)
                plane.attach(device, as: number)
                if takenOver {
                    logger.notice(
                        "took over interface \(interface.name), left behind by an earlier run",
                        metadata: ["interface": "\(interface.name)"])
                }
            } catch {
                return "cannot create interface \(interface.name): \(error)"
                    + (Self.isNameTaken(error)
                        ? " (the name is taken by another interface: set interface: in the YAML)" : "")
            }
        }
        installed.connections = interface.connections
        defer { state.installed[interface.name] = installed }
        if installed.mtu != interface.mtu {
            do {
                try netlink.setInterface(index: installed.index, up: true, mtu: interface.mtu)
                installed.mtu = interface.mtu
            } catch {
                return "cannot bring interface \(interface.name) up with mtu \(interface.mtu): \(error)"
            }
        }
        var problem: String?
        for address in installed.addresses where !interface.addresses.contains(address) {
            try? netlink.deleteAddress(address, interfaceIndex: installed.index)
            installed.addresses.removeAll { $0 == address }
        }
        for address in interface.addresses where !installed.addresses.contains(address) {
            do {
                try netlink.addAddress(address, interfaceIndex: installed.index)
                installed.addresses.append(address)
            } catch {
                problem = problem ?? "cannot give interface \(interface.name) the address \(address): \(error)"
                logger.error("\(problem!)", metadata: ["interface": "\(interface.name)"])
            }
        }
        for prefix in installed.routes where !interface.routes.contains(prefix) {
            try? netlink.deleteRoute(Route(destination: prefix, interfaceIndex: installed.index))
            installed.routes.removeAll { $0 == prefix }
        }
        for prefix in interface.routes where !installed.routes.contains(prefix) {
            do {
                try addRoute(prefix, index: installed.index, interface: interface.name, netlink: netlink)
                installed.routes.append(prefix)
            } catch {
                problem = problem ?? error.message
                logger.error("\(error.message)", metadata: ["interface": "\(interface.name)"])
            }
        }
        return problem
    }

    /// Adds the route to `prefix` into interface `index`; a route of ours to the same prefix (an earlier
    /// run's, or another interface's) is replaced, anybody else's is a conflict.
    private func addRoute(_ prefix: IPPrefix, index: Int32, interface: String, netlink: NetlinkSocket)
        throws(RouteConflict)
    {
        let route = Route(destination: prefix, interfaceIndex: index)
        do {
            try netlink.addRoute(route)
            return
        } catch  where error.errno == EEXIST {
            let existing = try? netlink.routes(prefix.family).first {
                $0.destination == prefix && $0.table == Netlink.mainTable && ($0.metric ?? 0) == 0
            }
            if let existing, existing.routingProtocol == Route.isthmusProtocol {
                do {
                    try netlink.addRoute(route, replace: true)
                    return
                } catch {
                    throw RouteConflict(message: "cannot route \(prefix) into \(interface): \(error)")
                }
            }
            let device = existing?.interfaceIndex.flatMap { index in
                (try? netlink.interfaces())?.first(where: { $0.index == index })?.name
            }
            throw RouteConflict(
                message: "cannot route \(prefix) into \(interface): a route to \(prefix) exists already"
                    + (device.map { " (dev \($0), proto \(existing?.routingProtocol ?? 0))" } ?? "")
                    + "; remove it, or change the local network's prefixes")
        } catch {
            throw RouteConflict(message: "cannot route \(prefix) into \(interface): \(error)")
        }
    }

    private struct RouteConflict: Error {
        var message: String
    }

    /// Deletes an interface's routes, detaches its device (the TUN goes when its descriptor closes) and
    /// deletes a taken-over persistent device.
    private func remove(_ name: String, _ installed: Installed, state: inout State) {
        for prefix in installed.routes {
            try? state.netlink?.deleteRoute(Route(destination: prefix, interfaceIndex: installed.index))
        }
        plane.detach(interface: installed.number)
        if installed.takenOver { try? state.netlink?.deleteInterface(index: installed.index) }
        state.installed[name] = nil
        logger.info("interface removed", metadata: ["interface": "\(name)"])
    }

    private static func isNameTaken(_ error: any Error) -> Bool {
        guard let error = error as? DataplaneError else { return false }
        return error.errno == EINVAL || error.errno == EBUSY
    }
}
