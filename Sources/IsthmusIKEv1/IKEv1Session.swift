import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import Synchronization

/// An IKEv1 connection as the I/O shell drives it: the deterministic ``IKEv1StateMachine`` behind a
/// lock, conforming to the same `IKESession` protocol as IKEv2, with the same actions and
/// `ChildSAParameters`, so the daemon and the ESP data plane run it unchanged.
///
/// Routing notes for the dispatcher: IKEv1 headers carry no initiator flag, so "our cookie" is the
/// initiator cookie when we initiated and the responder cookie otherwise; ``localSPIs`` lists every
/// cookie of ours that should route here (a phase 1 rekey adds one). A Main Mode message 1 from this
/// connection's peer while the session is established is the peer replacing the ISAKMP SA and belongs
/// to this session too.
public final class IKEv1Session: IKESession {
    private let machine: Mutex<IKEv1StateMachine>
    public let connectionName: String

    /// A session that will initiate when sent `IKEInput.initiate`.
    public init(initiating configuration: IKEv1Configuration, random: any RandomNumberGenerator & Sendable) {
        connectionName = configuration.connectionName
        machine = Mutex(IKEv1StateMachine(configuration: configuration, role: .initiator, random: random))
    }

    /// A session that answers a Main Mode message 1 (pass the message as its first input).
    public init(responding configuration: IKEv1Configuration, random: any RandomNumberGenerator & Sendable) {
        connectionName = configuration.connectionName
        machine = Mutex(IKEv1StateMachine(configuration: configuration, role: .responder, random: random))
    }

    public var localSPI: UInt64 { machine.withLock { $0.localSPI } }

    /// The peer's IP address as configured: a Main Mode message 1 from it may replace this session's
    /// ISAKMP SA (see ``acceptsPeerMainMode``).
    public var peerAddress: IPAddress { machine.withLock { $0.configuration.remote.address } }

    /// Whether a new Main Mode from the peer (message 1, responder cookie zero) belongs to this session:
    /// it holds an established ISAKMP SA, which the peer is replacing (IKEv1 has no phase 1 rekey exchange;
    /// strongSwan reauthenticates with a new Main Mode and moves the IPsec SAs to the new SA).
    public var acceptsPeerMainMode: Bool { machine.withLock { !$0.closed && $0.current != nil } }

    /// Every cookie of ours that routes to this session now (current, negotiating and retiring ISAKMP SAs).
    public var localSPIs: [UInt64] { machine.withLock { $0.localSPIs } }

    /// Messages dropped because they did not parse, decrypt, authenticate or fit the state.
    public var droppedMessages: Int { machine.withLock { $0.droppedMessages } }

    public func handle(_ input: IKEInput, now: MonotonicTime) -> [IKEAction] {
        machine.withLock { $0.handle(input, now: now) }
    }

    public func status(now: MonotonicTime) -> IKESAStatus {
        machine.withLock { $0.status(now: now) }
    }

    /// Tests: a look at the state machine (keys of the current SA, to forge messages with).
    func inspect<T>(_ body: (IKEv1StateMachine) -> T) -> T {
        machine.withLock { body($0) }
    }
}

extension IKEv1StateMachine {
    func status(now: MonotonicTime) -> IKESAStatus {
        var status = baseStatus(now: now)
        status.droppedMessages = droppedMessages
        return status
    }

    private func baseStatus(now: MonotonicTime) -> IKESAStatus {
        let sa = current ?? isakmpSAs.last
        let state: IKESAState
        if closed {
            state = .closed
        } else if current != nil {
            state = isakmpSAs.contains(where: { !$0.isEstablished }) ? .rekeying : .established
        } else {
            switch sa?.phase {
            case nil: state = .idle
            case .sentMM5: state = .authenticating
            case .repliedMM2, .repliedMM4: state = .halfOpen
            case .sentMM1, .sentMM3, .established: state = .connecting
            }
        }
        let role = sa?.role ?? self.role
        return IKESAStatus(
            connection: connection, ikeVersion: 1, state: state, role: role.rawValue,
            localSPI: SAIdentifier.ike(sa?.ourCookie ?? firstCookie),
            remoteSPI: SAIdentifier.ike(sa.map { $0.role == .initiator ? $0.cookieR : $0.cookieI } ?? 0),
            local: "\(local)", remote: "\(remote)", algorithms: sa?.suite?.description,
            natLocal: sa?.nat.local ?? false, natRemote: sa?.nat.remote ?? false,
            establishedSecondsAgo: current?.establishedAt.map { (now - $0).components.seconds },
            rekeyInSeconds: current?.rekeyAt.map { ($0 - now).components.seconds },
            childSAs: ipsecSAs.map { child in
                IKESAStatus.ChildSA(
                    inboundSPI: SAIdentifier.esp(child.inboundSPI),
                    outboundSPI: SAIdentifier.esp(child.parameters.outboundSPI),
                    localSelectors: child.parameters.localSelectors.map(\.description),
                    remoteSelectors: child.parameters.remoteSelectors.map(\.description),
                    algorithms: child.suite.description, state: child.rekeyed ? "rekeyed" : "installed",
                    rekeyInSeconds: child.rekeyAt.map { ($0 - now).components.seconds },
                    lifetimeSeconds: child.lifetime.seconds.map { Int64(clamping: $0) },
                    lifetimeReason: child.lifetimeReason)
            },
            lifetimeSeconds: current?.lifetime.seconds.map { Int64(clamping: $0) },
            lifetimeReason: current?.lifetimeReason)
    }
}
