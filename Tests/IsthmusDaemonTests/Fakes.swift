import IsthmusCrypto
import IsthmusEvents
import IsthmusGateway
import IsthmusIKEv2
import IsthmusIP
import Synchronization

@testable import IsthmusDaemon

/// A scripted IKE session: records its inputs and answers with whatever `behavior` returns.
final class FakeSession: IKESession {
    typealias Behavior = @Sendable (FakeSession, IKEInput, Duration) -> [IKEAction]

    struct Recorded: Sendable {
        var inputs: [IKEInput] = []
        var spi: UInt64
        /// What `status` reports: the state, the role and how long ago the SA was established.
        var state: IKESAState = .connecting
        var role = "responder"
        var establishedSecondsAgo: Int64?
    }

    let connectionName: String
    private let recorded: Mutex<Recorded>
    private let behavior: Behavior

    init(connection: String = "peer", spi: UInt64, behavior: @escaping Behavior = { _, _, _ in [] }) {
        connectionName = connection
        recorded = Mutex(Recorded(spi: spi))
        self.behavior = behavior
    }

    var localSPI: UInt64 {
        get { recorded.withLock { $0.spi } }
        set { recorded.withLock { $0.spi = newValue } }
    }

    var inputs: [IKEInput] { recorded.withLock { $0.inputs } }

    /// Makes `status` report an established SA of `role`, established `secondsAgo` ago.
    func reportEstablished(role: String, secondsAgo: Int64) {
        recorded.withLock {
            $0.state = .established
            $0.role = role
            $0.establishedSecondsAgo = secondsAgo
        }
    }

    func handle(_ input: IKEInput, now: Duration) -> [IKEAction] {
        recorded.withLock { $0.inputs.append(input) }
        return behavior(self, input, now)
    }

    func status(now: Duration) -> IKESAStatus {
        let recorded = recorded.withLock { $0 }
        return IKESAStatus(
            connection: connectionName, ikeVersion: 2, state: recorded.state, role: recorded.role,
            localSPI: String(recorded.spi, radix: 16), remoteSPI: "0", local: "127.0.0.1:500",
            remote: "127.0.0.1:500", algorithms: nil, natLocal: false, natRemote: false,
            establishedSecondsAgo: recorded.establishedSecondsAgo, rekeyInSeconds: nil, childSAs: [])
    }
}

/// A fake that reports a set of SPIs explicitly.
final class ReportingSession: IKESessionSPIReporting {
    let connectionName = "peer"
    private let spis: Mutex<[UInt64]>

    init(spis: [UInt64]) { self.spis = Mutex(spis) }

    var localSPI: UInt64 { spis.withLock { $0.last ?? 0 } }
    var localSPIs: [UInt64] {
        get { spis.withLock { $0 } }
        set { spis.withLock { $0 = newValue } }
    }

    func handle(_ input: IKEInput, now: Duration) -> [IKEAction] { [] }

    func status(now: Duration) -> IKESAStatus {
        IKESAStatus(
            connection: connectionName, ikeVersion: 2, state: .established, role: "initiator", localSPI: "",
            remoteSPI: "", local: "", remote: "", algorithms: nil, natLocal: false, natRemote: false,
            establishedSecondsAgo: nil, rekeyInSeconds: nil, childSAs: [])
    }
}

/// IKE header bytes (28 bytes, no payloads) for routing tests.
func ikeHeader(
    initiatorSPI: UInt64, responderSPI: UInt64, exchange: UInt8 = 34, flags: UInt8 = 0x08, version: UInt8 = 0x20,
    messageID: UInt32 = 0
) -> [UInt8] {
    var bytes: [UInt8] = []
    for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: initiatorSPI >> shift)) }
    for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: responderSPI >> shift)) }
    bytes += [0, version, exchange, flags]
    for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: messageID >> shift)) }
    bytes += [0, 0, 0, 28]
    return bytes
}

func endpoint(_ text: String, _ port: UInt16) -> UDPEndpoint {
    // Test addresses are literals; a typo should fail loudly.
    UDPEndpoint(address: try! IPAddress(parsing: text), port: port)
}

/// A one-connection gateway on loopback: connection `peer` to a remote site at 127.0.0.1.
func loopbackConfig(name: String = "test-gw") throws -> GatewayConfig {
    let loopback = try IPAddress(parsing: "127.0.0.1")
    let connection = Connection(
        name: "peer", localNetwork: "remote", kind: .dynamic, ikeVersion: .v2,
        sharedKey: SharedKey(source: .inline, material: Array("a-test-key-of-sufficient-length-123".utf8)),
        ike: Connection.defaultProposals(.ike, version: .v2), esp: Connection.defaultProposals(.esp, version: .v2),
        lifetimes: .default, deadPeerDetection: .default, natTraversal: .auto)
    return GatewayConfig(
        gateway: GatewaySettings(name: name, kind: .dynamic, publicAddress: loopback, pointToSite: nil),
        site: .prefixes([try IPPrefix(parsing: "10.1.0.0/16")]),
        localNetworks: [
            LocalNetwork(
                name: "remote", gatewayAddress: loopback,
                prefixes: [try IPPrefix(parsing: "10.2.0.0/16")])
        ],
        connections: [connection], endpoints: [])
}

/// A fake IKEv1 session: reports its cookies, its peer and whether it takes the peer's new Main Mode.
final class FakeISAKMPSession: IKEv1SessionRouting {
    struct State: Sendable {
        var cookies: [UInt64]
        var acceptsPeerMainMode: Bool
        var inputs = 0
    }

    let connectionName: String
    let peerAddress: IPAddress
    private let state: Mutex<State>

    init(connection: String = "peer", cookies: [UInt64], peer: IPAddress, established: Bool = false) {
        connectionName = connection
        peerAddress = peer
        state = Mutex(State(cookies: cookies, acceptsPeerMainMode: established))
    }

    var localSPI: UInt64 { state.withLock { $0.cookies.last ?? 0 } }
    var localSPIs: [UInt64] {
        get { state.withLock { $0.cookies } }
        set { state.withLock { $0.cookies = newValue } }
    }
    var acceptsPeerMainMode: Bool {
        get { state.withLock { $0.acceptsPeerMainMode } }
        set { state.withLock { $0.acceptsPeerMainMode = newValue } }
    }
    var inputs: Int { state.withLock { $0.inputs } }

    func handle(_ input: IKEInput, now: Duration) -> [IKEAction] {
        state.withLock { $0.inputs += 1 }
        return []
    }

    func status(now: Duration) -> IKESAStatus {
        IKESAStatus(
            connection: connectionName, ikeVersion: 1, state: acceptsPeerMainMode ? .established : .connecting,
            role: "responder", localSPI: String(localSPI, radix: 16), remoteSPI: "0", local: "", remote: "",
            algorithms: nil, natLocal: false, natRemote: false, establishedSecondsAgo: nil, rekeyInSeconds: nil,
            childSAs: [])
    }
}

/// ISAKMP header bytes (RFC 2408 section 3.1; 28 bytes, no payloads): version 1.0, no flags.
func isakmpHeader(cookieI: UInt64, cookieR: UInt64, exchange: UInt8 = 2, messageID: UInt32 = 0) -> [UInt8] {
    ikeHeader(
        initiatorSPI: cookieI, responderSPI: cookieR, exchange: exchange, flags: 0, version: 0x10,
        messageID: messageID)
}
