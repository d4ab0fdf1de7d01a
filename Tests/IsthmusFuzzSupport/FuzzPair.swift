import IsthmusCrypto
import IsthmusESP
import IsthmusEvents
import IsthmusIKE
import IsthmusIP

/// Runs one fuzz script against a pair of our IKE state machines wired back to back in memory, with an
/// injected clock: the script decides what is delivered, dropped, repeated, reordered, mutated or forged and
/// which timers fire; every action the cores return is consumed and the invariants are checked after each step.
///
/// Script: one byte chooses the configuration, then commands (see ``Command``) until the input ends; at the
/// end everything in flight is delivered and the pending timers fire (bounded).
public final class FuzzPair<Core: FuzzCore> {
    /// Commands per script, datagrams in flight and timers fired at the end: bounds that keep one
    /// execution short whatever the input.
    static var maximumCommands: Int { 200 }
    static var maximumInFlight: Int { 64 }
    static var drainTimers: Int { 8 }
    /// A core that returns more actions than this for one input is broken (an amplification or a loop).
    public static var maximumActions: Int { 128 }
    /// IKE messages are at most this long (the 16-bit UDP length less the headers).
    static var maximumDatagram: Int { 65_507 }

    public let core: Core
    public private(set) var now: MonotonicTime = .zero
    public private(set) var violations: [String] = []
    /// Events per side, in order.
    public private(set) var events: [FuzzSide: [GatewayEvent]] = [:]
    /// CHILD SAs installed and not removed, per side, by inbound SPI.
    public private(set) var installed: [FuzzSide: [UInt32: ESPSecurityAssociation]] = [:]
    /// Whether a changed or forged message was delivered (then the two ends may disagree on keys).
    public private(set) var tampered = false
    private var timers: [(side: FuzzSide, timer: IKETimer, at: MonotonicTime)] = []
    private var inFlight: [(to: FuzzSide, datagram: IKEDatagram)] = []

    public init(variant: UInt8) { core = Core(variant: variant) }

    /// The kinds of the events `side` emitted.
    public func kinds(_ side: FuzzSide) -> [GatewayEvent.Kind] { events[side, default: []].map(\.kind) }

    /// Runs a whole script and returns the pair for inspection.
    @discardableResult
    public static func run(_ script: [UInt8]) -> FuzzPair {
        var input = FuzzInput(script)
        let pair = FuzzPair(variant: input.byte())
        var commands = 0
        while !input.isExhausted, commands < maximumCommands {
            pair.execute(&input)
            commands += 1
        }
        pair.drain()
        return pair
    }

    // MARK: - Commands

    /// What one script byte asks for (modulo 16), with its arguments from the following bytes.
    public enum Command: UInt8, CaseIterable {
        case deliver = 0, deliverAll, fireNextTimer, fireTimer, drop, duplicate, reorder, initiate, terminate
        case mutate, mutateAgain, rawMutate, advanceClock, forge, changeSharedKey, deliverOne
    }

    func execute(_ input: inout FuzzInput) {
        switch Command(rawValue: input.byte() % 16) ?? .deliver {
        case .deliver, .deliverOne: deliverNext()
        case .deliverAll: deliverAll()
        case .fireNextTimer: fireTimer { _, _ in true }
        case .fireTimer:
            let kind = input.below(8)
            let side = FuzzSide(rawValue: input.below(2)) ?? .initiator
            fireTimer { $0 == side && Self.kindIndex($1) == kind }
        case .drop:
            if !inFlight.isEmpty { inFlight.removeFirst() }
        case .duplicate:
            if let first = inFlight.first, inFlight.count < Self.maximumInFlight { inFlight.append(first) }
        case .reorder:
            if inFlight.count > 1 { inFlight.swapAt(0, 1 + input.below(inFlight.count - 1)) }
        case .initiate:
            core.restartInitiator()
            feed(.initiator, .initiate)
        case .terminate: feed(FuzzSide(rawValue: input.below(2)) ?? .initiator, .terminate)
        case .mutate, .mutateAgain: deliverNext(mutations: PayloadMutation.decodeList(&input))
        case .rawMutate: deliverNext(raw: RawMutation.decodeList(&input))
        case .advanceClock: now = now + .seconds(Int64(input.byte()) * 4)
        case .forge:
            let side = FuzzSide(rawValue: input.below(2)) ?? .initiator
            if let datagram = core.forge(from: side, &input) {
                tampered = true
                deliver(datagram, to: side.other)
            }
        case .changeSharedKey:
            let side = FuzzSide(rawValue: input.below(2)) ?? .initiator
            let key = input.below(2) == 0 ? FuzzConfigurations.sharedKey : FuzzConfigurations.otherSharedKey
            if key != FuzzConfigurations.sharedKey { tampered = true }
            feed(side, .sharedKeyChanged(SecretBytes(Array(key.utf8))))
        }
    }

    /// Delivers what is in flight, then fires pending timers (each followed by its deliveries), then lets what
    /// finishes an operation run (an exchange queued behind the last one; the end of an old CHILD SA's grace
    /// after its rekey), so the pair does not end halfway through one because the timer budget ran out there.
    func drain() {
        deliverAll()
        for _ in 0..<Self.drainTimers {
            guard fireTimer(where: { _, _ in true }) else { break }
            deliverAll()
        }
        for _ in 0..<Self.drainTimers {
            // Only what is due within a minute: a live CHILD SA's hard expiry is far off and stays armed.
            guard fireTimer(until: now + .seconds(60), where: { _, timer in Self.finishesAnOperation(timer) }) else {
                break
            }
            deliverAll()
        }
    }

    func deliverAll() {
        var steps = 0
        while !inFlight.isEmpty, steps < Self.maximumInFlight {
            deliverNext()
            steps += 1
        }
    }

    func deliverNext(mutations: [PayloadMutation] = [], raw: [RawMutation] = []) {
        guard !inFlight.isEmpty else { return }
        var (to, datagram) = inFlight.removeFirst()
        if !mutations.isEmpty, let bytes = core.mutate(datagram, from: to.other, mutations) {
            tampered = tampered || bytes != datagram.bytes
            datagram.bytes = bytes
        }
        if !raw.isEmpty {
            let original = datagram.bytes
            RawMutation.apply(raw, to: &datagram.bytes)
            tampered = tampered || original != datagram.bytes
        }
        deliver(datagram, to: to)
    }

    func deliver(_ datagram: IKEDatagram, to side: FuzzSide) {
        core.prepareDelivery(datagram, to: side)
        core.observe(delivered: datagram, from: side.other)
        feed(side, .datagram(datagram))
    }

    @discardableResult
    func fireTimer(until horizon: MonotonicTime? = nil, where predicate: (FuzzSide, IKETimer) -> Bool) -> Bool {
        guard
            let index = timers.indices.filter({
                predicate(timers[$0].side, timers[$0].timer) && timers[$0].at <= horizon ?? timers[$0].at
            })
            .min(by: { timers[$0].at < timers[$1].at })
        else { return false }
        let (side, timer, at) = timers.remove(at: index)
        now = max(now, at)
        feed(side, .timer(timer))
        return true
    }

    /// Timers that complete what an exchange started: a queued exchange's turn, an old CHILD SA's end of grace.
    static func finishesAnOperation(_ timer: IKETimer) -> Bool {
        switch timer {
        case .startQueuedExchange, .expireChildSA: true
        default: false
        }
    }

    static func kindIndex(_ timer: IKETimer) -> Int {
        switch timer {
        case .retransmit: 0
        case .rekeyIKESA: 1
        case .rekeyChildSA: 2
        case .expireChildSA: 3
        case .liveness: 4
        case .natKeepalive: 5
        case .abandon: 6
        case .startQueuedExchange: 7
        }
    }

    // MARK: - Actions and invariants

    func feed(_ side: FuzzSide, _ input: IKEInput) {
        let actions = core.handle(side, input, now: now)
        if actions.count > Self.maximumActions {
            violations.append("\(side) returned \(actions.count) actions for one input")
        }
        for action in actions { apply(side, action) }
        violations += core.violations(keysComparable: !tampered)
        if !tampered { checkChildSAKeys() }
    }

    private func apply(_ side: FuzzSide, _ action: IKEAction) {
        switch action {
        case .send(let datagram):
            if datagram.bytes.count > Self.maximumDatagram {
                violations.append("\(side) sent a datagram of \(datagram.bytes.count) bytes")
            }
            if inFlight.count < Self.maximumInFlight { inFlight.append((side.other, datagram)) }
        case .natKeepalive: break
        case .childSA(.install(let sa)):
            if sa.inboundSPI < 256 { violations.append("\(side) installed reserved inbound SPI \(sa.inboundSPI)") }
            installed[side, default: [:]][sa.inboundSPI] = sa
        case .childSA(.remove(let spi)): installed[side]?[spi] = nil
        case .childSA: break
        case .armTimer(let timer, let at):
            timers.removeAll { $0.side == side && $0.timer == timer }
            timers.append((side, timer, at))
        case .cancelTimer(let timer): timers.removeAll { $0.side == side && $0.timer == timer }
        case .event(let event): events[side, default: []].append(event)
        case .ikeSAClosed: timers.removeAll { $0.side == side }
        }
    }

    /// Two CHILD SAs whose SPIs pair up (ours in is theirs out and the reverse) carry the same keys.
    private func checkChildSAKeys() {
        for ours in installed[.initiator, default: [:]].values {
            guard let theirs = installed[.responder]?[ours.outboundSPI], theirs.outboundSPI == ours.inboundSPI
            else { continue }
            let agree =
                ours.encryption == theirs.encryption && ours.integrity == theirs.integrity
                && ours.inboundEncryptionKey == theirs.outboundEncryptionKey
                && ours.outboundEncryptionKey == theirs.inboundEncryptionKey
                && ours.inboundIntegrityKey == theirs.outboundIntegrityKey
                && ours.outboundIntegrityKey == theirs.inboundIntegrityKey
            if !agree {
                violations.append("CHILD SA \(ours.inboundSPI)/\(ours.outboundSPI): the two ends' keys differ")
            }
        }
    }
}
