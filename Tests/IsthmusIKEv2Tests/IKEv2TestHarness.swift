import IsthmusCrypto
import IsthmusEvents
import IsthmusIP
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

func endpoint(_ text: String, _ port: UInt16 = 500) -> UDPEndpoint {
    UDPEndpoint(address: try! IPAddress(parsing: text), port: port)
}

func selectors(_ prefixes: String...) -> [TrafficSelector] {
    prefixes.map { TrafficSelector(prefix: try! IPPrefix(parsing: $0)) }
}

/// The seed's two sites: office gateway 198.51.100.1 (192.168.1.0/24), cloud 203.0.113.1 (10.0.1.0/24).
func configuration(
    office: Bool, ike: String = "aes256gcm16-prfsha256-ecp256", esp: String = "aes256gcm16",
    key: String = "a-shared-key-of-some-length", localSelectors: [TrafficSelector]? = nil,
    remoteSelectors: [TrafficSelector]? = nil, liveness: IKELiveness? = nil,
    forceUDPEncapsulation: Bool = false
) -> IKEv2Configuration {
    let officeSide = selectors("192.168.1.0/24")
    let cloudSide = selectors("10.0.1.0/24")
    let me = office ? "198.51.100.1" : "203.0.113.1"
    let peer = office ? "203.0.113.1" : "198.51.100.1"
    let settings = IKEConnectionSettings(
        connectionName: office ? "office-cloud" : "cloud-office", local: endpoint(me), remote: endpoint(peer),
        sharedKey: SecretBytes(Array(key.utf8)),
        ikeProposals: try! ProposalList(parsing: [ike], for: .ike, version: .v2),
        espProposals: try! ProposalList(parsing: [esp], for: .esp, version: .v2),
        localSelectors: localSelectors ?? (office ? officeSide : cloudSide),
        remoteSelectors: remoteSelectors ?? (office ? cloudSide : officeSide),
        ikeLifetime: .seconds(3600), childLifetime: .seconds(600), childLifetimeKilobytes: nil, liveness: liveness,
        forceUDPEncapsulation: forceUDPEncapsulation)
    return IKEv2Configuration(
        settings, localIdentity: .address(try! IPAddress(parsing: me)),
        remoteIdentity: .address(try! IPAddress(parsing: peer)))
}

/// Two cores wired back to back with an injected clock: datagrams one sends are handed to the other,
/// timers are kept in a list and fired on request, everything else is recorded.
final class Pair {
    let initiator: IKEv2Session
    var responder: IKEv2Session
    let responderConfiguration: IKEv2Configuration
    var responderSeed: UInt64
    var now: MonotonicTime = .zero
    /// Pending timers per side.
    var timers: [(side: Side, timer: IKETimer, at: MonotonicTime)] = []
    var installed: [Side: [ESPSecurityAssociation]] = [.initiator: [], .responder: []]
    var retired: [Side: [UInt32]] = [.initiator: [], .responder: []]
    var removed: [Side: [UInt32]] = [.initiator: [], .responder: []]
    var released: [Side: [UInt32]] = [.initiator: [], .responder: []]
    var events: [Side: [GatewayEvent]] = [.initiator: [], .responder: []]
    /// CHILD SAs sent to a peer that moved (RFC 7296 section 2.23), with where to.
    var moved: [Side: [(spi: UInt32, remote: UDPEndpoint)]] = [:]
    var closed: Set<Side> = []
    var keepalives: [Side: Int] = [:]
    /// The restart decision of the last `.ikeSAClosed` per side.
    var restarts: [Side: Bool] = [:]
    /// Datagrams in flight, to be delivered by `run`.
    var inFlight: [(to: Side, datagram: IKEDatagram)] = []
    /// Every datagram sent, for inspection.
    var sent: [(from: Side, datagram: IKEDatagram)] = []
    /// Return false to lose a datagram.
    var deliver: (Side, IKEDatagram) -> Bool = { _, _ in true }

    enum Side: Hashable { case initiator, responder }

    init(initiator: IKEv2Configuration, responder: IKEv2Configuration, seed: UInt64 = 1) {
        self.initiator = IKEv2Session(initiating: initiator, random: SplitMix64(seed: seed))
        self.responder = IKEv2Session(responding: responder, random: SplitMix64(seed: seed &+ 1000))
        self.responderConfiguration = responder
        self.responderSeed = seed &+ 1000
    }

    func session(_ side: Side) -> IKEv2Session { side == .initiator ? initiator : responder }

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
                if deliver(side, datagram) { inFlight.append((other, datagram)) }
            case .childSA(.install(let parameters)):
                installed[side, default: []].append(parameters)
            case .childSA(.remove(let spi)):
                removed[side, default: []].append(spi)
            case .childSA(.retireOutbound(let spi)):
                retired[side, default: []].append(spi)
            case .childSA(.confirmOutbound(let spi)):
                released[side, default: []].append(spi)
            case .childSA(.moveRemote(let spi, let remote)):
                moved[side, default: []].append((spi, remote))
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

    /// Delivers datagrams until none are left (each exchange completes).
    func run(limit: Int = 100) {
        var steps = 0
        while !inFlight.isEmpty, steps < limit {
            let (to, datagram) = inFlight.removeFirst()
            // Like the daemon's dispatcher: a new IKE_SA_INIT after the responder closed gets a new session.
            if to == .responder, closed.contains(.responder),
                let message = try? IKEv2Message.parse(datagram.bytes), message.exchangeType == .ikeSAInit,
                !message.flags.contains(.response)
            {
                responderSeed &+= 1
                responder = IKEv2Session(responding: responderConfiguration, random: SplitMix64(seed: responderSeed))
                closed.remove(.responder)
            }
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

    func kinds(_ side: Side) -> [GatewayEvent.Kind] { events[side, default: []].map(\.kind) }

    func establish() {
        input(.initiator, .initiate)
        run()
    }
}
