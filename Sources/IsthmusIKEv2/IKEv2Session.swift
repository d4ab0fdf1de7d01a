import IsthmusCrypto
import IsthmusEvents
import IsthmusIP
import Synchronization

/// An IKEv2 SA as the I/O shell drives it: the deterministic ``IKEv2StateMachine`` behind a lock.
///
/// The shell calls every method from one event loop, so the lock is uncontended; it makes the type
/// `Sendable` without trusting that.
public final class IKEv2Session: IKESession {
    /// Internal (not private) so unit tests can play a hostile peer with the established keys.
    let machine: Mutex<IKEv2StateMachine>
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

    public var summary: IKESASummary {
        machine.withLock { IKESASummary(state: $0.state.phase, client: $0.client?.identity) }
    }
}

extension IKEv2StateMachine {
    func status(now: MonotonicTime) -> IKESAStatus {
        let suite: NegotiatedIKESuite?
        var establishedAt: MonotonicTime?
        var rekeyAt: MonotonicTime?
        var childSAs: [IKEv2EstablishedSA.ChildSA] = []
        switch state {
        case .idle, .connecting:
            suite = nil
        case .authenticating(let authenticating):
            suite = authenticating.protection.suite
        case .halfOpen(let halfOpen):
            suite = halfOpen.protection.suite
        case .established(let sa):
            (suite, establishedAt, rekeyAt, childSAs) = (sa.protection.suite, sa.establishedAt, sa.rekeyAt, sa.childSAs)
        case .deleting(let deleting):
            let sa = deleting.sa
            (suite, establishedAt, rekeyAt, childSAs) = (sa.protection.suite, sa.establishedAt, sa.rekeyAt, sa.childSAs)
        case .closed(let closed):
            (suite, establishedAt, rekeyAt) = (closed.suite, closed.establishedAt, closed.rekeyAt)
        }
        var status = IKESAStatus(
            connection: connection, ikeVersion: 2, state: state.phase, role: role.rawValue,
            localSPI: SAIdentifier.ike(spis.local), remoteSPI: SAIdentifier.ike(spis.remote), local: "\(local)",
            remote: "\(remote)", algorithms: suite?.description, natLocal: nat.local, natRemote: nat.remote,
            establishedSecondsAgo: establishedAt.map { (now - $0).components.seconds },
            rekeyInSeconds: rekeyAt.map { ($0 - now).components.seconds },
            childSAs: childSAs.map { child in
                IKESAStatus.ChildSA(
                    inboundSPI: SAIdentifier.esp(child.inboundSPI), outboundSPI: SAIdentifier.esp(child.outboundSPI),
                    localSelectors: child.localSelectors.map(\.description),
                    remoteSelectors: child.remoteSelectors.map(\.description), algorithms: child.suite.description,
                    state: child.deleted ? "rekeyed" : "installed",
                    rekeyInSeconds: child.rekeyAt.map { ($0 - now).components.seconds })
            })
        status.clientIdentity = client?.identity
        status.virtualAddress = client.map { "\($0.virtualAddress)" }
        return status
    }
}
