import IsthmusCrypto
import IsthmusEvents
import IsthmusIP
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusIKEv1

func endpoint(_ text: String, _ port: UInt16 = 500) -> UDPEndpoint {
    UDPEndpoint(address: try! IPAddress(parsing: text), port: port)
}

func selectors(_ prefixes: String...) -> [TrafficSelector] {
    prefixes.map { TrafficSelector(prefix: try! IPPrefix(parsing: $0)) }
}

/// The seed's two sites: office gateway 198.51.100.1 (192.168.1.0/24), cloud 203.0.113.1 (10.0.1.0/24).
func configuration(
    office: Bool, ike: String = "aes256-sha256-modp2048", esp: String = "aes256-sha256",
    key: String = "a-shared-key-of-some-length", localSelectors: [TrafficSelector]? = nil,
    remoteSelectors: [TrafficSelector]? = nil, ikeLifetime: Duration = .seconds(28800),
    childLifetime: Duration = .seconds(3600), childKilobytes: UInt64? = nil,
    dpd: IKELiveness? = nil, fqdn: Bool = false, forceUDPEncapsulation: Bool = false
) -> IKEv1Configuration {
    let officeSide = selectors("192.168.1.0/24")
    let cloudSide = selectors("10.0.1.0/24")
    let me = office ? "198.51.100.1" : "203.0.113.1"
    let peer = office ? "203.0.113.1" : "198.51.100.1"
    let identity: (String, String) -> IKEv1Configuration.Identity = { address, name in
        fqdn ? .fqdn(name) : .address(try! IPAddress(parsing: address))
    }
    let settings = IKEConnectionSettings(
        connectionName: office ? "office-cloud" : "cloud-office", local: endpoint(me), remote: endpoint(peer),
        sharedKey: SecretBytes(Array(key.utf8)),
        ikeProposals: try! ProposalList(parsing: [ike], for: .ike, version: .v1),
        espProposals: try! ProposalList(parsing: [esp], for: .esp, version: .v1),
        localSelectors: localSelectors ?? (office ? officeSide : cloudSide),
        remoteSelectors: remoteSelectors ?? (office ? cloudSide : officeSide),
        ikeLifetime: ikeLifetime, childLifetime: childLifetime, childLifetimeKilobytes: childKilobytes,
        liveness: dpd, forceUDPEncapsulation: forceUDPEncapsulation)
    return IKEv1Configuration(
        settings, localIdentity: identity(me, office ? "office.example.net" : "cloud.example.net"),
        remoteIdentity: identity(peer, office ? "cloud.example.net" : "office.example.net"))
}

/// Two IKEv1 cores back to back with an injected clock: datagrams one sends are handed to the other,
/// timers are kept in a list and fired on request, everything else is recorded.
final class Pair {
    let initiator: IKEv1Session
    let responder: IKEv1Session
    var now: MonotonicTime = .zero
    var timers: [(side: Side, timer: IKETimer, at: MonotonicTime)] = []
    var installed: [Side: [ESPSecurityAssociation]] = [.initiator: [], .responder: []]
    var removed: [Side: [UInt32]] = [.initiator: [], .responder: []]
    var released: [Side: [UInt32]] = [.initiator: [], .responder: []]
    var events: [Side: [GatewayEvent]] = [.initiator: [], .responder: []]
    var closed: Set<Side> = []
    var restarts: [Side: Bool] = [:]
    var keepalives: [Side: Int] = [:]
    var inFlight: [(to: Side, datagram: IKEDatagram)] = []
    var sent: [(from: Side, datagram: IKEDatagram)] = []
    /// Return false to lose a datagram.
    var deliver: (Side, IKEDatagram) -> Bool = { _, _ in true }
    /// Rewrites a datagram on its way (a NAT, an attacker).
    var rewrite: (Side, IKEDatagram) -> IKEDatagram = { _, datagram in datagram }

    enum Side: Hashable { case initiator, responder }

    init(initiator: IKEv1Configuration, responder: IKEv1Configuration, seed: UInt64 = 1) {
        self.initiator = IKEv1Session(initiating: initiator, random: SplitMix64(seed: seed))
        self.responder = IKEv1Session(responding: responder, random: SplitMix64(seed: seed &+ 1000))
    }

    func session(_ side: Side) -> IKEv1Session { side == .initiator ? initiator : responder }

    func input(_ side: Side, _ input: IKEInput) {
        apply(side, session(side).handle(input, now: now))
    }

    func apply(_ side: Side, _ actions: [IKEAction]) {
        let other: Side = side == .initiator ? .responder : .initiator
        for action in actions {
            switch action {
            case .natKeepalive:
                keepalives[side, default: 0] += 1
            case .send(let datagram):
                sent.append((side, datagram))
                if deliver(side, datagram) { inFlight.append((other, rewrite(side, datagram))) }
            case .childSA(.install(let parameters)):
                installed[side, default: []].append(parameters)
            case .childSA(.remove(let spi)):
                removed[side, default: []].append(spi)
            case .childSA(.retireOutbound), .childSA(.moveRemote):
                break
            case .childSA(.confirmOutbound(let spi)):
                released[side, default: []].append(spi)
            case .armTimer(let timer, let at):
                timers.removeAll { $0.side == side && $0.timer == timer }
                timers.append((side, timer, at))
            case .cancelTimer(let timer):
                timers.removeAll { $0.side == side && $0.timer == timer }
            case .event(let event):
                events[side, default: []].append(event)
            case .ikeSAClosed(let restart):
                closed.insert(side)
                restarts[side] = restart
                timers.removeAll { $0.side == side }
            }
        }
    }

    /// Delivers datagrams until none are left.
    func run(limit: Int = 200) {
        var steps = 0
        while !inFlight.isEmpty, steps < limit {
            let (to, datagram) = inFlight.removeFirst()
            input(to, .datagram(datagram))
            steps += 1
        }
    }

    /// Advances the clock to the earliest timer (optionally only of one kind) and fires it.
    @discardableResult
    func fireNextTimer(where predicate: (Side, IKETimer) -> Bool = { _, _ in true }) -> (Side, IKETimer)? {
        guard let next = timers.filter({ predicate($0.side, $0.timer) }).min(by: { $0.at < $1.at }) else { return nil }
        timers.removeAll { $0.side == next.side && $0.timer == next.timer }
        now = max(now, next.at)
        input(next.side, .timer(next.timer))
        return (next.side, next.timer)
    }

    /// Fires timers (delivering what they send) until `time`.
    func advance(to time: MonotonicTime, limit: Int = 1000) {
        var steps = 0
        while steps < limit, let next = timers.min(by: { $0.at < $1.at }), next.at <= time {
            fireNextTimer()
            run()
            steps += 1
        }
        now = max(now, time)
    }

    func kinds(_ side: Side) -> [GatewayEvent.Kind] { events[side, default: []].map(\.kind) }

    func messages(_ side: Side, _ kind: GatewayEvent.Kind) -> [String] {
        events[side, default: []].filter { $0.kind == kind }.map(\.message)
    }

    /// IPsec SAs installed and not removed.
    func live(_ side: Side) -> [ESPSecurityAssociation] {
        installed[side, default: []].filter { !removed[side, default: []].contains($0.inboundSPI) }
    }

    func establish() {
        input(.initiator, .initiate)
        run()
        // Quick Modes for further pairs follow one another `quickModeSpacing` apart.
        while fireNextTimer(where: { $1 == .startQueuedExchange }) != nil { run() }
    }
}
