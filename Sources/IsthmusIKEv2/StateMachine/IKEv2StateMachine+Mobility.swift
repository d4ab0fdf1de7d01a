import IsthmusEvents
import IsthmusIP

extension IKEv2StateMachine {
    /// RFC 7296 section 2.23: when the peer is behind a NAT, IKE and ESP go to the address and port the
    /// peer's most recent authenticated message came from, so that its NAT may rebind (a new port, a new
    /// public address) without the SAs going dark. Called with the source of every message that passed
    /// integrity; nothing moves while the IKE SA is not established, or when no NAT was detected on the
    /// peer's side (a peer not behind a NAT has no reason to move, and MOBIKE is not implemented).
    mutating func followPeer(to source: UDPEndpoint, now: MonotonicTime, into actions: inout [IKEAction]) {
        guard source != remote, nat.remote, case .established(let sa) = state else { return }
        let before = remote
        remote = source
        emit(
            .peerMoved, .notice,
            "peer moved from \(before) to \(source) (its NAT rebound or its address changed); IKE and ESP follow it",
            details: ["from": "\(before)", "to": "\(source)"], now: now, into: &actions)
        let esp = UDPEndpoint(address: source.address, port: usesUDPEncapsulation ? source.port : 0)
        for child in sa.childSAs {
            actions.append(.childSA(.moveRemote(inboundSPI: child.inboundSPI, remote: esp)))
        }
    }
}
