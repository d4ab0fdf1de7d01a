import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusTestSupport
import IsthmusWire

@testable import IsthmusIKEv1

/// Our IKEv1 initiator and responder state machines, with their ISAKMP SA keys at hand: a mutated message
/// is decrypted with the IV its receiver uses (RFC 2409 Appendix B, followed here message by message),
/// changed, its HASH payload computed again over the changed chain (Quick Mode HASH(1) and HASH(2),
/// Informational HASH(1)), and encrypted again, so the mutation reaches the logic behind the HASH check.
public final class IKEv1FuzzCore: FuzzCore {
    static let maximumSessions = 6

    var machines: [IKEv1StateMachine?]
    let configurations: [IKEv1Configuration]
    var sessions = 1
    /// The IV the receiver uses for a datagram seen before (a retransmission is decrypted like the original).
    var seenIVs: [[UInt8]: [UInt8]] = [:]
    /// The next IV of each exchange: the last ciphertext block delivered in it.
    var chains: [ChainKey: [UInt8]] = [:]

    struct ChainKey: Hashable {
        var cookieI: UInt64
        var cookieR: UInt64
        var messageID: UInt32
    }

    public init(variant: UInt8) {
        configurations = FuzzConfigurations.ikev1(variant)
        machines = [
            IKEv1StateMachine(configuration: configurations[0], role: .initiator, random: SplitMix64(seed: 1)), nil,
        ]
    }

    public func handle(_ side: FuzzSide, _ input: IKEInput, now: MonotonicTime) -> [IKEAction] {
        machines[side.rawValue]?.handle(input, now: now) ?? []
    }

    public func prepareDelivery(_ datagram: IKEDatagram, to side: FuzzSide) {
        // Like the dispatcher: a Main Mode message 1 that no session takes opens a responder session.
        guard side == .responder, sessions < Self.maximumSessions,
            let message = try? ISAKMPMessage.parse(datagram.bytes), message.exchangeType == .identityProtection,
            message.responderCookie == 0
        else { return }
        if let responder = machines[1], !responder.closed,
            responder.current != nil || responder.isakmpSAs.contains(where: { $0.cookieI == message.initiatorCookie })
        {
            return
        }
        sessions += 1
        machines[1] = IKEv1StateMachine(
            configuration: configurations[1], role: .responder, random: SplitMix64(seed: 1000 + UInt64(sessions)))
    }

    public func restartInitiator() {
        guard machines[0]?.closed ?? true, sessions < Self.maximumSessions else { return }
        sessions += 1
        machines[0] = IKEv1StateMachine(
            configuration: configurations[0], role: .initiator, random: SplitMix64(seed: UInt64(sessions)))
    }

    // MARK: - Keys and IVs

    /// The ISAKMP SA (with keys) a message names by its cookies, the receiver's record first.
    func sa(_ message: ISAKMPMessage, receiver: FuzzSide) -> IKEv1StateMachine.ISAKMPSA? {
        for side in [receiver, receiver.other] {
            if let sa = machines[side.rawValue]?.isakmpSAs.first(where: {
                $0.cookieI == message.initiatorCookie && $0.cookieR == message.responderCookie && $0.crypto != nil
            }) {
                return sa
            }
        }
        return nil
    }

    /// The IV the receiver decrypts `bytes` with: a repeat as before, the running IV of its exchange, or the
    /// first IV of Main Mode message 5 or of a Quick Mode or Informational exchange.
    func iv(_ message: ISAKMPMessage, bytes: [UInt8], receiver: FuzzSide) -> [UInt8]? {
        if let iv = seenIVs[bytes] { return iv }
        let key = ChainKey(
            cookieI: message.initiatorCookie, cookieR: message.responderCookie, messageID: message.messageID)
        if message.exchangeType != .informational, let iv = chains[key] { return iv }
        guard let sa = sa(message, receiver: receiver), let crypto = sa.crypto else { return nil }
        if message.messageID == 0 {
            guard !sa.publicI.isEmpty, !sa.publicR.isEmpty else { return nil }
            return try? crypto.phase1IV(publicInitiator: sa.publicI, publicResponder: sa.publicR)
        }
        guard !sa.lastPhase1Block.isEmpty else { return nil }
        return try? crypto.phase2IV(lastPhase1Block: sa.lastPhase1Block, messageID: message.messageID)
    }

    public func observe(delivered datagram: IKEDatagram, from side: FuzzSide) {
        guard let message = try? ISAKMPMessage.parse(datagram.bytes),
            case .encrypted(_, let ciphertext) = message.body,
            let iv = iv(message, bytes: datagram.bytes, receiver: side.other)
        else { return }
        seenIVs[datagram.bytes] = iv
        let key = ChainKey(
            cookieI: message.initiatorCookie, cookieR: message.responderCookie, messageID: message.messageID)
        chains[key] = Array(ciphertext.suffix(iv.count))
    }

    // MARK: - Mutations

    public func mutate(_ datagram: IKEDatagram, from side: FuzzSide, _ mutations: [PayloadMutation]) -> [UInt8]? {
        guard let message = try? ISAKMPMessage.parse(datagram.bytes) else { return nil }
        var header = FuzzHeader(
            exchangeType: message.exchangeType.rawValue, flags: message.flags.rawValue, messageID: message.messageID)
        switch message.body {
        case .payloads(let plain):
            var payloads = plain.map(Self.fuzzPayload)
            PayloadMutation.apply(mutations, to: &payloads, header: &header)
            return ISAKMPMessage(
                initiatorCookie: message.initiatorCookie, responderCookie: message.responderCookie,
                exchangeType: ISAKMPExchangeType(rawValue: header.exchangeType),
                flags: ISAKMPHeader.Flags(rawValue: header.flags), messageID: header.messageID,
                body: .payloads(payloads.map(Self.payload))
            ).serialize()
        case .encrypted:
            guard let crypto = sa(message, receiver: side.other)?.crypto,
                let iv = iv(message, bytes: datagram.bytes, receiver: side.other),
                let decrypted = try? crypto.decrypt(message, iv: iv)
            else { return nil }
            let hash = hashKind(decrypted, messageID: message.messageID, crypto: crypto)
            var payloads = decrypted.payloads.map(Self.fuzzPayload)
            PayloadMutation.apply(mutations, to: &payloads, header: &header)
            if let hash, !mutations.contains(.keepStaleHash) {
                rehash(&payloads, hash, messageID: header.messageID, crypto: crypto)
            }
            return try? crypto.encrypt(
                cookieInitiator: message.initiatorCookie, cookieResponder: message.responderCookie,
                exchange: ISAKMPExchangeType(rawValue: header.exchangeType), messageID: header.messageID,
                payloads: payloads.map(Self.payload), iv: iv
            ).bytes
        }
    }

    enum HashKind {
        /// `prf(SKEYID_a, M-ID | rest)`: Quick Mode message 1, Informational.
        case first
        /// `prf(SKEYID_a, M-ID | Ni_b | rest)`: Quick Mode message 2.
        case second(nonceInitiator: [UInt8])
    }

    /// Which HASH the message's first payload is, found by computing each over the message as it came.
    func hashKind(_ decrypted: IKEv1SACrypto.Decrypted, messageID: UInt32, crypto: IKEv1SACrypto) -> HashKind? {
        guard case .hash(let hash)? = decrypted.payloads.first else { return nil }
        let rest = decrypted.afterFirstPayload
        if hash.data == crypto.hash1(messageID: messageID, rest: rest) { return .first }
        for machine in machines.compactMap({ $0 }) {
            if let nonce = machine.quickModes[messageID]?.nonceI, !nonce.isEmpty,
                hash.data == crypto.hash2(messageID: messageID, nonceInitiator: nonce, rest: rest)
            {
                return .second(nonceInitiator: nonce)
            }
        }
        return nil
    }

    /// Computes the HASH payload (first) again over the payloads after it as they will be serialized.
    func rehash(_ payloads: inout [FuzzPayload], _ kind: HashKind, messageID: UInt32, crypto: IKEv1SACrypto) {
        guard payloads.first?.type == ISAKMPPayloadType.hash.rawValue else { return }
        let chain = ISAKMPPayloadChain.serialize(payloads.map(Self.payload))
        let extents = IKEv1Raw.payloadExtents(chain, count: payloads.count)
        guard extents.count == payloads.count, let first = extents.first, let last = extents.last else { return }
        let rest = Array(chain[first.upperBound..<last.upperBound])
        switch kind {
        case .first: payloads[0].body = crypto.hash1(messageID: messageID, rest: rest)
        case .second(let nonce):
            payloads[0].body = crypto.hash2(messageID: messageID, nonceInitiator: nonce, rest: rest)
        }
    }

    public func forge(from side: FuzzSide, _ input: inout FuzzInput) -> IKEDatagram? {
        guard let machine = machines[side.rawValue], let sa = machine.current, let crypto = sa.crypto,
            !sa.lastPhase1Block.isEmpty
        else { return nil }
        let choice = input.byte()
        let known = machine.quickModes.keys.sorted()
        let messageID =
            choice & 0x80 != 0 && !known.isEmpty ? known[Int(input.byte()) % known.count] : input.uint32() | 1
        let exchange: ISAKMPExchangeType = choice & 1 == 0 ? .informational : .quickMode
        var payloads = [FuzzPayload(type: ISAKMPPayloadType.hash.rawValue, body: [])]
        for _ in 0..<input.below(5) {
            let type = input.byte()
            // Mostly the payload types IKEv1 knows (1-20), some of any type.
            payloads.append(FuzzPayload(type: type < 224 ? 1 + type % 20 : type, body: input.chunk()))
        }
        payloads[0].body = [UInt8](repeating: 0, count: crypto.prf.outputLength)
        rehash(&payloads, .first, messageID: messageID, crypto: crypto)
        let key = ChainKey(cookieI: sa.cookieI, cookieR: sa.cookieR, messageID: messageID)
        let running = exchange == .quickMode ? chains[key] : nil
        guard
            let iv = running ?? (try? crypto.phase2IV(lastPhase1Block: sa.lastPhase1Block, messageID: messageID)),
            let bytes = try? crypto.encrypt(
                cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR, exchange: exchange, messageID: messageID,
                payloads: payloads.map(Self.payload), iv: iv
            ).bytes
        else { return nil }
        return IKEDatagram(bytes: bytes, source: machine.local, destination: machine.remote)
    }

    // MARK: - Invariants

    public func violations(keysComparable: Bool) -> [String] {
        var found: [String] = []
        for (index, machine) in machines.enumerated() {
            guard let machine else { continue }
            if machine.isakmpSAs.count > IKEv1StateMachine.maximumISAKMPSAs {
                found.append("side \(index) keeps \(machine.isakmpSAs.count) ISAKMP SAs")
            }
            if machine.quickModes.count > IKEv1StateMachine.maximumQuickModes {
                found.append("side \(index) keeps \(machine.quickModes.count) Quick Modes")
            }
        }
        guard keysComparable, let ours = machines[0]?.current, let theirs = machines[1]?.current,
            ours.cookieI == theirs.cookieI, ours.cookieR == theirs.cookieR, let mine = ours.crypto?.keys,
            let peer = theirs.crypto?.keys
        else { return found }
        if !(mine.skeyid == peer.skeyid && mine.skeyidD == peer.skeyidD && mine.skeyidA == peer.skeyidA
            && mine.skeyidE == peer.skeyidE)
        {
            found.append("ISAKMP SA \(ours.ids): both ends established with different keys")
        }
        return found
    }

    // MARK: - Payloads as the mutations see them

    static func fuzzPayload(_ payload: ISAKMPPayload) -> FuzzPayload {
        FuzzPayload(type: payload.payloadType.rawValue, body: IKEv1Raw.body(of: payload))
    }

    static func payload(_ payload: FuzzPayload) -> ISAKMPPayload {
        .unknown(type: ISAKMPPayloadType(rawValue: payload.type), body: payload.body)
    }
}
