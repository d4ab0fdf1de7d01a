import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP

/// The two ends of the pair: our initiator's session and our responder's.
public enum FuzzSide: Int, Hashable, Sendable, CaseIterable {
    case initiator = 0
    case responder = 1

    public var other: FuzzSide { self == .initiator ? .responder : .initiator }
}

/// What the driver needs from one IKE version: its two state machines, and the keys to open and seal
/// their messages again after a mutation.
public protocol FuzzCore: AnyObject {
    /// A pair in one of a few configurations (suites, liveness, encapsulation), chosen by the script.
    init(variant: UInt8)
    /// Handles one input on one side; nothing when that side has no session.
    func handle(_ side: FuzzSide, _ input: IKEInput, now: MonotonicTime) -> [IKEAction]
    /// Called before a datagram reaches `side`: opens a responder session for a new negotiation, as the
    /// daemon's dispatcher would.
    func prepareDelivery(_ datagram: IKEDatagram, to side: FuzzSide)
    /// Opens a new initiator session when the old one is closed (the shell restarting the connection).
    func restartInitiator()
    /// The datagram `from` sent with `mutations` applied to its cleartext payload chain and header, sealed
    /// again with the SA's keys; nil when the harness cannot open it (then it goes as it was).
    func mutate(_ datagram: IKEDatagram, from side: FuzzSide, _ mutations: [PayloadMutation]) -> [UInt8]?
    /// Sees every datagram delivered, as delivered (IKEv1 follows the CBC IV chains).
    func observe(delivered datagram: IKEDatagram, from side: FuzzSide)
    /// A message `side` never sent, built from the input and protected with its current keys.
    func forge(from side: FuzzSide, _ input: inout FuzzInput) -> IKEDatagram?
    /// Broken invariants of the two state machines. `keysComparable`: no changed message was delivered,
    /// so two ends of one SA must hold the same keys.
    func violations(keysComparable: Bool) -> [String]
}
