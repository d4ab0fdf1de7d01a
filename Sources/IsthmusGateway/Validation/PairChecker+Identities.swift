import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIKEv1
import IsthmusIKEv2
import IsthmusIP

/// The pair check's identities and NAT traversal.
extension PairChecker {
    // MARK: - Identities

    /// Only when `local_id` or `remote_id` is written: default identities are the addresses, which
    /// ``checkAddresses()`` compares.
    mutating func checkIdentities() {
        // Built by a non-mutating function and added here: the same loop with `add` inside crashed the
        // release compiler (Swift 6.3.1, SIL ownership verifier).
        let found = [Self.identityMismatch(sender: a, receiver: b), Self.identityMismatch(sender: b, receiver: a)]
        for diagnostic in found.compactMap({ $0 }) { add(diagnostic) }
    }

    /// The error when the identity `sender` authenticates with is not the one `receiver` expects, or nil
    /// (also when neither side wrote an identity: the address check covers the defaults).
    private static func identityMismatch(sender: End, receiver: End) -> Diagnostic? {
        guard sender.connection.localIdentity != nil || receiver.connection.remoteIdentity != nil,
            let sent = sender.sentIdentity, let expected = receiver.expectedIdentity, !sent.matches(expected)
        else { return nil }
        let sentFrom =
            sender.connection.localIdentity != nil
            ? "its local_id"
            : sender.connection.authentication == .certificate ? "its certificate's subject" : "its public address"
        let expectedFrom =
            receiver.connection.remoteIdentity != nil ? "its remote_id" : "the gateway_address of its local network"
        let message =
            "\(sender.label) authenticates as \(sent) (\(sentFrom)), but \(receiver.label) expects \(expected) "
            + "(\(expectedFrom)): authentication fails with an identity mismatch"
        let fix =
            "set remote_id: \(sent) on \(receiver.connection.name), or local_id: \(expected) on "
            + "\(sender.connection.name)"
        let senderLocation =
            sender.connection.localIdentity != nil ? sender.at("local_id") : sender.publicAddressLocation
        let receiverLocation =
            receiver.connection.remoteIdentity != nil
            ? receiver.at("remote_id") : receiver.remoteAt("gateway_address")
        if receiver.connection.remoteIdentity != nil {
            return receiver.diagnostic(
                .error, receiverLocation, message, fix: fix,
                notes: [sender.note(senderLocation, "\(sender.label)'s identity")])
        }
        return sender.diagnostic(
            .error, senderLocation, message, fix: fix,
            notes: [receiver.note(receiverLocation, "what \(receiver.label) expects")])
    }

    /// Whether any proposal of `list` names a DH group (asks for PFS).
    static func usesPFS(_ list: ProposalList) -> Bool { list.proposals.contains { !$0.keyExchange.isEmpty } }

    // MARK: - NAT traversal

    mutating func summariseNATTraversal() {
        let (na, nb) = (a.connection.natTraversal, b.connection.natTraversal)
        if na == .auto, nb == .auto {
            lines.append("NAT traversal: auto on both (UDP 4500 only when a NAT is detected)")
        } else {
            let forcing = [a, b].filter { $0.connection.natTraversal == .force }.map(\.gateway.name)
            lines.append(
                "NAT traversal: forced by \(forcing.joined(separator: " and ")): ESP always in UDP 4500 (the other "
                    + "side detects a NAT and follows)")
        }
    }
}
