import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusWire

/// The Configuration payload of IKE_AUTH (RFC 7296 sections 2.19, 3.15): a point-to-site responder answers a
/// client's CP(CFG_REQUEST) with CP(CFG_REPLY) (its virtual address, DNS servers, the networks behind us)
/// and narrows the CHILD SA to that address; an initiator may ask for an address as a client does.
///
/// A responder without a free address answers INTERNAL_ADDRESS_FAILURE (section 3.15.4) in place of the
/// CHILD SA (FAILED_CP_REQUIRED when the client asked for nothing), and a `client-refused` event names the
/// cause. The IKE SA authenticates, as section 1.2 has it for a failed CHILD SA, and then we delete it at once
/// (an INFORMATIONAL DELETE right after the IKE_AUTH response): strongSwan keeps such an IKE SA ("failed to
/// establish CHILD_SA, keeping IKE_SA") and would hold an SA that can carry nothing until its lifetime ends.
extension IKEv2StateMachine {
    // MARK: - Responder

    /// The CFG_REPLY for the client's CFG_REQUEST in `inner`, the lease taken and the CHILD SA's selectors
    /// narrowed to the client's virtual address (TSi) and our networks (TSr). Nil payload: a site-to-site
    /// connection (no pool), where a CP is ignored. A failure is the notification to send instead of the
    /// CHILD SA (INTERNAL_ADDRESS_FAILURE: pool exhausted; FAILED_CP_REQUIRED: no CFG_REQUEST).
    /// - Parameter identity: the client's authenticated identity (IDi for a pre-shared key; the certificate
    ///   subject or the EAP identity with those methods): what the pool keys on.
    mutating func configurationReply(
        _ inner: [IKEv2Payload], identity: String, now: MonotonicTime, into actions: inout [IKEAction]
    ) -> Result<IKEv2Payload?, ChildFailure> {
        guard let pointToSite = configuration.pointToSite else { return .success(nil) }
        let details = ["identity": identity, "peer": "\(remote)"]
        guard let request = inner.lazy.compactMap(\.configuration).first(where: { $0.configurationType == .request })
        else {
            emit(
                .clientRefused, .warning,
                "client \(identity) at \(remote) sent no configuration request (CP): a point-to-site client needs a "
                    + "virtual address; FAILED_CP_REQUIRED",
                details: details.merging(["reason": "no-cp-request"]) { $1 },
                now: now, into: &actions)
            clientRefused = true
            return .failure(ChildFailure(notify: .failedCPRequired))
        }
        // A malformed or IPv6 request is no preference: the pool chooses.
        let requested = request.attributes.lazy
            .filter { $0.type == IKEv2ConfigurationAttribute.internalIPv4AddressType }
            .compactMap { try? $0.ipv4Value() }.compactMap { IPAddress(bytes: $0) }.first
        // An address the pool never hands out is refused, said once, and the pool chooses.
        if let requested, let refusal = pointToSite.addresses.refusal(ofRequested: requested) {
            emit(
                .clientAddressRequestRefused, .notice,
                "client \(identity) at \(remote): \(refusal); it gets an address of the pool instead",
                details: details.merging(["reason": "address-not-in-pool", "requested": "\(requested)"]) { $1 },
                now: now, into: &actions)
        }
        let address: IPAddress
        switch pointToSite.addresses.lease(to: identity, requested: requested) {
        case .success(let leased): address = leased
        case .failure(let error):
            emit(
                .clientRefused, .error,
                "client \(identity) at \(remote) refused: \(error); answered INTERNAL_ADDRESS_FAILURE",
                details: details.merging(["reason": "pool-exhausted"]) { $1 }, now: now, into: &actions)
            clientRefused = true
            return .failure(ChildFailure(notify: .internalAddressFailure))
        }
        if let previous = client, previous.leased {
            pointToSite.addresses.release(previous.virtualAddress, of: previous.identity)
        }
        client = IKEv2Client(identity: identity, virtualAddress: address, leased: true)
        configuration.remoteSelectors = [TrafficSelector(prefix: IPPrefix(masking: address, length: 32))]
        configuration.localSelectors = pointToSite.networks.filter { $0.family == .v4 }.map(TrafficSelector.init)
        var attributes: [IKEv2ConfigurationAttribute] = [.internalIPv4Address(address.bytes)]
        attributes += pointToSite.dnsServers.filter { $0.family == .v4 }.map { .internalIPv4DNS($0.bytes) }
        attributes += pointToSite.networks.filter { $0.family == .v4 }.map {
            .internalIPv4Subnet(address: $0.network.bytes, mask: $0.netmask.bytes)
        }
        return .success(.configuration(IKEv2ConfigurationPayload(configurationType: .reply, attributes: attributes)))
    }

    /// The client of an IKE SA that just authenticated has its address: `client-connected`.
    mutating func announceClient(now: MonotonicTime, into actions: inout [IKEAction]) {
        guard let client, client.leased else { return }
        emit(
            .clientConnected, .info,
            "client \(client.identity) connected from \(remote) with virtual address \(client.virtualAddress)",
            details: ["identity": client.identity, "virtual_address": "\(client.virtualAddress)", "peer": "\(remote)"],
            now: now, into: &actions)
    }

    /// After every input: a refused client's IKE SA is deleted once its IKE_AUTH is answered; once the IKE SA
    /// is closed, however it closed, the lease goes back to the pool and `client-disconnected` says so.
    mutating func settleClient(now: MonotonicTime, into actions: inout [IKEAction]) {
        if clientRefused, case .established = state {
            clientRefused = false
            terminate(restart: false, now: now, into: &actions)
        }
        guard case .closed = state, let client, client.leased, let pool = configuration.pointToSite?.addresses else {
            return
        }
        self.client = nil
        pool.release(client.virtualAddress, of: client.identity)
        emit(
            .clientDisconnected, .info,
            "client \(client.identity) at \(remote) disconnected; virtual address \(client.virtualAddress) released",
            details: ["identity": client.identity, "virtual_address": "\(client.virtualAddress)", "peer": "\(remote)"],
            now: now, into: &actions)
    }

    // MARK: - Initiator

    /// CP(CFG_REQUEST) for an IPv4 address and DNS servers, when the configuration asks for one.
    var configurationRequest: [IKEv2Payload] {
        guard configuration.requestsVirtualAddress else { return [] }
        return [
            .configuration(
                IKEv2ConfigurationPayload(
                    configurationType: .request,
                    attributes: [
                        IKEv2ConfigurationAttribute(type: IKEv2ConfigurationAttribute.internalIPv4AddressType),
                        IKEv2ConfigurationAttribute(type: IKEv2ConfigurationAttribute.internalIPv4DNSType),
                    ]))
        ]
    }

    /// Records the address of the responder's CFG_REPLY, when we asked for one.
    mutating func noteConfigurationReply(_ inner: [IKEv2Payload]) {
        guard configuration.requestsVirtualAddress,
            let reply = inner.lazy.compactMap(\.configuration).first(where: { $0.configurationType == .reply }),
            let address = reply.attributes.lazy
                .filter({ $0.type == IKEv2ConfigurationAttribute.internalIPv4AddressType })
                .compactMap({ try? $0.ipv4Value() }).compactMap({ IPAddress(bytes: $0) }).first
        else { return }
        client = IKEv2Client(identity: "\(configuration.localIdentity)", virtualAddress: address, leased: false)
    }
}

extension IKEv2Payload {
    var configuration: IKEv2ConfigurationPayload? {
        if case .configuration(let value) = self { value } else { nil }
    }
}
