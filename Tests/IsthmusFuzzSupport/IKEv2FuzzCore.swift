import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusTestSupport
import IsthmusWire

@testable import IsthmusIKEv2

/// Our IKEv2 initiator and responder state machines, with their keys at hand: a mutated message is
/// opened with the receiver's keys and sealed again with the sender's (its SK payload authenticates), so
/// the mutation reaches the parsing and the state logic behind the integrity check.
public final class IKEv2FuzzCore: FuzzCore {
    /// Sessions opened (new responders, restarted initiators) per run, so a script cannot loop on them.
    static let maximumSessions = 6

    var machines: [IKEv2StateMachine?]
    let configurations: [IKEv2Configuration]
    var sessions = 1
    /// IVs of re-sealed messages: a counter of the harness's own, far from the cores' counters.
    var ivCounter: UInt64 = 1 << 48

    public init(variant: UInt8) {
        configurations = FuzzConfigurations.ikev2(variant)
        machines = [
            IKEv2StateMachine(configuration: configurations[0], role: .initiator, random: SplitMix64(seed: 1)), nil,
        ]
    }

    public func handle(_ side: FuzzSide, _ input: IKEInput, now: MonotonicTime) -> [IKEAction] {
        machines[side.rawValue]?.handle(input, now: now) ?? []
    }

    func isClosed(_ side: FuzzSide) -> Bool {
        guard let machine = machines[side.rawValue] else { return true }
        if case .closed = machine.state { return true }
        return false
    }

    public func prepareDelivery(_ datagram: IKEDatagram, to side: FuzzSide) {
        // Like the dispatcher: an IKE_SA_INIT request for an SPI we do not know opens a responder session.
        guard side == .responder, sessions < Self.maximumSessions,
            let message = try? IKEv2Message.parse(datagram.bytes), message.exchangeType == .ikeSAInit,
            !message.flags.contains(.response)
        else { return }
        if let responder = machines[1], !isClosed(.responder), responder.spis.initiator == message.initiatorSPI {
            return
        }
        sessions += 1
        machines[1] = IKEv2StateMachine(
            configuration: configurations[1], role: .responder, random: SplitMix64(seed: 1000 + UInt64(sessions)))
    }

    public func restartInitiator() {
        guard isClosed(.initiator), sessions < Self.maximumSessions else { return }
        sessions += 1
        machines[0] = IKEv2StateMachine(
            configuration: configurations[0], role: .initiator, random: SplitMix64(seed: UInt64(sessions)))
    }

    /// The keys `side` holds for the IKE SA a message names by its SPIs (current or retired by a rekey).
    func protection(of side: FuzzSide, for message: IKEv2Message) -> IKEv2MessageProtection? {
        guard let machine = machines[side.rawValue] else { return nil }
        if machine.spis.initiator == message.initiatorSPI, machine.spis.responder == message.responderSPI {
            return machine.currentProtection
        }
        let retired: IKEv2EstablishedSA.RetiredIKESA?
        switch machine.state {
        case .established(let sa): retired = sa.retired
        case .deleting(let deleting): retired = deleting.sa.retired
        case .idle, .connecting, .authenticating, .halfOpen, .closed: retired = nil
        }
        guard let retired, retired.spis.initiator == message.initiatorSPI,
            retired.spis.responder == message.responderSPI
        else { return nil }
        return retired.protection
    }

    public func mutate(_ datagram: IKEDatagram, from side: FuzzSide, _ mutations: [PayloadMutation]) -> [UInt8]? {
        guard let message = try? IKEv2Message.parse(datagram.bytes) else { return nil }
        var header = FuzzHeader(
            exchangeType: message.exchangeType.rawValue, flags: message.flags.rawValue, messageID: message.messageID)
        switch message.payloads.last {
        case .encrypted?:
            guard let opener = protection(of: side.other, for: message),
                let sealer = protection(of: side, for: message),
                let inner = try? opener.crypto.open(datagram.bytes, message: message)
            else { return nil }
            var payloads = inner.map(Self.fuzzPayload)
            PayloadMutation.apply(mutations, to: &payloads, header: &header)
            return seal(Self.header(message, header), payloads, with: sealer.crypto)
        case .encryptedFragment?:
            return nil
        default:
            var payloads = message.payloads.map(Self.fuzzPayload)
            PayloadMutation.apply(mutations, to: &payloads, header: &header)
            var changed = Self.header(message, header)
            changed.payloads = payloads.map(Self.payload)
            return changed.serialize()
        }
    }

    public func observe(delivered datagram: IKEDatagram, from side: FuzzSide) {}

    public func forge(from side: FuzzSide, _ input: inout FuzzInput) -> IKEDatagram? {
        guard let machine = machines[side.rawValue], let protection = machine.currentProtection else { return nil }
        let exchanges: [IKEv2ExchangeType] = [.createChildSA, .informational, .ikeAuth, .ikeSAInit]
        let choice = input.byte()
        var flags: IKEv2Header.Flags = machine.role == .initiator ? [.initiator] : []
        if choice & 0x80 != 0 { flags.insert(.response) }
        let header = IKEv2Message(
            initiatorSPI: machine.spis.initiator, responderSPI: machine.spis.responder,
            exchangeType: exchanges[Int(choice) % exchanges.count], flags: flags, messageID: UInt32(input.byte()),
            payloads: [])
        let payloads = (0..<input.below(5)).map { _ in
            let type = input.byte()
            // Mostly the payload types IKEv2 knows (33-48), some of any type.
            return FuzzPayload(type: type < 224 ? 33 + type % 16 : type, body: input.chunk())
        }
        guard let bytes = seal(header, payloads, with: protection.crypto) else { return nil }
        return IKEDatagram(bytes: bytes, source: machine.local, destination: machine.remote)
    }

    func seal(_ header: IKEv2Message, _ payloads: [FuzzPayload], with crypto: IKEv2SACrypto) -> [UInt8]? {
        try? crypto.seal(header: header, inner: payloads.map(Self.payload)) { iv in
            ivCounter &+= 1
            for index in iv.indices {
                iv[index] = UInt8(truncatingIfNeeded: ivCounter >> (8 * UInt64((iv.count - 1 - index) % 8)))
            }
        }
    }

    public func violations(keysComparable: Bool) -> [String] {
        guard keysComparable, let initiator = machines[0], let responder = machines[1],
            initiator.spis.initiator == responder.spis.initiator, initiator.spis.responder == responder.spis.responder,
            let ours = Self.establishedKeys(initiator), let theirs = Self.establishedKeys(responder)
        else { return [] }
        let agree =
            ours.skD == theirs.skD && ours.skAi == theirs.skAi && ours.skAr == theirs.skAr && ours.skEi == theirs.skEi
            && ours.skEr == theirs.skEr
        return agree ? [] : ["IKE SA \(initiator.saIDs): both ends established with different keys"]
    }

    static func establishedKeys(_ machine: IKEv2StateMachine) -> IKEv2SAKeys? {
        switch machine.state {
        case .established(let sa): sa.protection.crypto.keys
        case .deleting(let deleting): deleting.sa.protection.crypto.keys
        case .idle, .connecting, .authenticating, .halfOpen, .closed: nil
        }
    }

    // MARK: - Payloads as the mutations see them

    static func header(_ message: IKEv2Message, _ header: FuzzHeader) -> IKEv2Message {
        IKEv2Message(
            initiatorSPI: message.initiatorSPI, responderSPI: message.responderSPI,
            exchangeType: IKEv2ExchangeType(rawValue: header.exchangeType),
            flags: IKEv2Header.Flags(rawValue: header.flags), messageID: header.messageID, payloads: [])
    }

    static func fuzzPayload(_ payload: IKEv2Payload) -> FuzzPayload {
        let bytes = IKEv2PayloadChain.serialize([payload])
        return FuzzPayload(
            type: payload.payloadType.rawValue, critical: bytes.count > 1 && bytes[1] & 0x80 != 0,
            body: Array(bytes.dropFirst(IKEv2PayloadChain.genericHeaderSize)))
    }

    static func payload(_ payload: FuzzPayload) -> IKEv2Payload {
        .unknown(
            IKEv2UnknownPayload(
                payloadType: IKEv2PayloadType(rawValue: payload.type), isCritical: payload.critical, body: payload.body)
        )
    }
}
