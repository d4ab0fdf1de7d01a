import IsthmusEvents
import IsthmusIKE
import IsthmusWire

/// A peer that restarted (RFC 7296 section 2.4): its INITIAL_CONTACT says it holds no IKE SA with us but
/// the one it just authenticated, so the shell forgets the older ones (``IKEInput/forget(reason:)``)
/// instead of keeping them until liveness checks fail.
extension IKEv2StateMachine {
    /// After an IKE_AUTH authenticated (either role): a `peer-restarted` event when it carried
    /// INITIAL_CONTACT (section 3.10.1: only meaningful in IKE_AUTH, so it is not looked for elsewhere).
    mutating func noteInitialContact(_ inner: [IKEv2Payload], now: MonotonicTime, into actions: inout [IKEAction]) {
        guard inner.notifies.contains(where: { $0.notifyType == .initialContact }) else { return }
        emit(
            .peerRestarted, .notice,
            "peer \(remote) sent INITIAL_CONTACT: it holds no other IKE SA with us; older IKE SAs of this "
                + "connection are forgotten", details: ["peer": "\(remote)"], now: now, into: &actions)
    }

    /// Closes without a DELETE: every CHILD SA leaves the data plane, the connection is not restarted (the
    /// newer IKE SA carries it).
    mutating func forget(reason: String, now: MonotonicTime, into actions: inout [IKEAction]) {
        switch state {
        case .idle, .closed:
            return
        case .established(var sa):
            removeAllChildren(reason: reason, from: &sa, now: now, into: &actions)
            state = .established(sa)
        case .connecting, .halfOpen, .authenticating, .deleting:
            break
        }
        emit(.ikeSADeleted, .notice, "IKE SA forgotten without a DELETE: \(reason)", now: now, into: &actions)
        close(restart: false, into: &actions)
    }
}
