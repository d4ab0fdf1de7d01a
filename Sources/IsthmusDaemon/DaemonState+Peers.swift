import Dispatch
import IsthmusEvents
import IsthmusGateway
import NIOCore

/// Remote gateways named by DNS: resolved off the event loop, recorded in ``DaemonOptions/peers``.
extension DaemonState {
    /// How often the remote gateways named by DNS are resolved again besides before each initiation, so
    /// that a passive gateway recognises a peer that moved.
    static let peerResolutionInterval: TimeAmount = .seconds(60)

    /// Resolves every remote gateway named by DNS now and every ``peerResolutionInterval``.
    func schedulePeerResolution() {
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: Self.peerResolutionInterval) { _ in
            let state = bound.value
            guard !state.isShuttingDown else { return }
            for remote in state.config.localNetworks {
                if case .name = remote.gateway { state.resolve(remote) { _, _ in } }
            }
        }
    }

    /// Resolves `remote`'s gateway name on a global dispatch queue (getaddrinfo blocks) and, back on the event loop, records the
    /// addresses (a `peer-resolved` event when they changed, `peer-unresolved` for every connection to it
    /// when the name does not resolve), then calls `done` with whether it resolved.
    func resolve(_ remote: LocalNetwork, done: @escaping (DaemonState, Bool) -> Void) {
        guard case .name(let host) = remote.gateway else { return }
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let finish = NIOLoopBound(done, eventLoop: eventLoop)
        let loop = eventLoop
        let peers = options.peers
        DispatchQueue.global().async {
            let result = PeerAddressBook.resolve(host)
            loop.execute {
                let state = bound.value
                let connections = state.config.connections.filter { $0.localNetwork == remote.name }.map(\.name)
                switch result {
                case .success(let addresses):
                    let before = peers.record(host, addresses)
                    if before != addresses {
                        let list = addresses.map { "\($0)" }.joined(separator: ", ")
                        for name in connections {
                            state.record(
                                GatewayEvent(
                                    time: state.clock(), connection: name, kind: .peerResolved,
                                    message: "\(host) resolves to \(list)"
                                        + (before.map { " (was \($0.map { "\($0)" }.joined(separator: ", ")))" } ?? ""),
                                    details: ["name": host, "addresses": list]))
                        }
                    }
                    finish.value(state, true)
                case .failure(let error):
                    for name in connections {
                        state.record(
                            GatewayEvent(
                                time: state.clock(), connection: name, kind: .peerUnresolved, severity: .error,
                                message: "\(error); the connection is tried again later",
                                details: ["name": host, "reason": error.reason]))
                    }
                    finish.value(state, false)
                }
            }
        }
    }
}
