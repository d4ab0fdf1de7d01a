import IsthmusCrypto
import IsthmusEvents
import IsthmusIP
import Synchronization

/// An IKEv2 SA as the I/O shell drives it: the deterministic ``IKEv2StateMachine`` behind a lock.
///
/// The shell calls every method from one event loop, so the lock is uncontended; it makes the type
/// `Sendable` without trusting that.
public final class IKEv2Session: IKESession {
    private let machine: Mutex<IKEv2StateMachine>
    public let connectionName: String

    /// A session that will initiate when sent ``IKEInput/initiate``.
    public init(initiating configuration: IKEv2Configuration, random: any RandomNumberGenerator & Sendable) {
        connectionName = configuration.connectionName
        machine = Mutex(IKEv2StateMachine(configuration: configuration, role: .initiator, random: random))
    }

    /// A session that answers an IKE_SA_INIT request (pass the request as its first input).
    public init(responding configuration: IKEv2Configuration, random: any RandomNumberGenerator & Sendable) {
        connectionName = configuration.connectionName
        machine = Mutex(IKEv2StateMachine(configuration: configuration, role: .responder, random: random))
    }

    public var localSPI: UInt64 { machine.withLock { $0.localSPI } }

    public func handle(_ input: IKEInput, now: MonotonicTime) -> [IKEAction] {
        machine.withLock { $0.handle(input, now: now) }
    }

    public func status(now: MonotonicTime) -> IKESAStatus {
        machine.withLock { $0.status(now: now) }
    }
}

extension IKEv2StateMachine {
    func status(now: MonotonicTime) -> IKESAStatus {
        IKESAStatus(
            connection: connection, ikeVersion: 2, state: IKESAState(rawValue: phase.rawValue) ?? .idle, role: role.rawValue,
            localSPI: SAIdentifier.ike(localSPI), remoteSPI: SAIdentifier.ike(role == .initiator ? spiResponder : spiInitiator),
            local: "\(local)", remote: "\(remote)", algorithms: ikeSuite?.description, natLocal: natLocal,
            natRemote: natRemote, establishedSecondsAgo: establishedAt.map { (now - $0).components.seconds },
            rekeyInSeconds: ikeRekeyAt.map { ($0 - now).components.seconds },
            childSAs: childSAs.map { child in
                IKESAStatus.ChildSA(
                    inboundSPI: SAIdentifier.esp(child.parameters.inboundSPI), outboundSPI: SAIdentifier.esp(child.parameters.outboundSPI),
                    localSelectors: child.parameters.localSelectors.map(\.description),
                    remoteSelectors: child.parameters.remoteSelectors.map(\.description),
                    algorithms: child.suite.description,
                    state: deletedChildSPIs.contains(child.parameters.inboundSPI) ? "rekeyed" : "installed",
                    rekeyInSeconds: child.rekeyAt.map { ($0 - now).components.seconds })
            })
    }
}
