import Foundation
import IsthmusGateway
import IsthmusIP
import Synchronization

/// The addresses of remote gateways named by DNS (`gateway_address: office.example.com`), as last
/// resolved: the daemon resolves each name when it starts and again before each new attempt to initiate;
/// the IKE factories read it (an initiator goes to the first address, a responder recognises a peer by any
/// of them). Literal addresses need no entry.
public final class PeerAddressBook: Sendable {
    private let resolved = Mutex<[String: [IPAddress]]>([:])

    public init() {}

    /// The address to initiate to: the literal one, or the first the name resolved to (nil before it did,
    /// and for `any`: such a peer is never initiated to).
    public func address(of peer: PeerAddress) -> IPAddress? {
        switch peer {
        case .address(let address): address
        case .name(let name): resolved.withLock { $0[name]?.first }
        case .any: nil
        }
    }

    /// Whether a datagram from `address` comes from `peer` by its address (never for `any`: such a peer is
    /// the fallback when no address matches).
    public func matches(_ peer: PeerAddress, _ address: IPAddress) -> Bool {
        switch peer {
        case .address(let literal): literal == address
        case .name(let name): resolved.withLock { $0[name]?.contains(address) ?? false }
        case .any: false
        }
    }

    /// Records what `name` resolved to; returns the addresses it had before (nil: none).
    @discardableResult
    public func record(_ name: String, _ addresses: [IPAddress]) -> [IPAddress]? {
        resolved.withLock { book in
            let before = book[name]
            book[name] = addresses
            return before
        }
    }

    /// Resolves `name` with the system resolver (getaddrinfo: /etc/hosts, DNS), IPv4 first, on the calling
    /// thread (it blocks: call it off the event loop).
    public static func resolve(_ name: String) -> Result<[IPAddress], ResolutionError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(name, nil, &hints, &list)
        guard code == 0 else {
            return .failure(ResolutionError(name: name, reason: String(cString: gai_strerror(code))))
        }
        defer { freeaddrinfo(list) }
        var addresses: [IPAddress] = []
        var entry = list
        while let current = entry {
            if let sockaddr = current.pointee.ai_addr {
                let address: IPAddress?
                switch Int32(current.pointee.ai_family) {
                case AF_INET:
                    address = sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                        IPAddress(v4: UInt32(bigEndian: $0.pointee.sin_addr.s_addr))
                    }
                case AF_INET6:
                    address = sockaddr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                        withUnsafeBytes(of: pointer.pointee.sin6_addr) { IPAddress(bytes: Array($0)) }
                    }
                default: address = nil
                }
                if let address, !addresses.contains(address) { addresses.append(address) }
            }
            entry = current.pointee.ai_next
        }
        guard !addresses.isEmpty else { return .failure(ResolutionError(name: name, reason: "no address")) }
        return .success(addresses.sorted { ($0.family == .v4 ? 0 : 1) < ($1.family == .v4 ? 0 : 1) })
    }

    public struct ResolutionError: Error, Sendable, Hashable, CustomStringConvertible {
        public var name: String
        public var reason: String
        public var description: String { "cannot resolve \(name): \(reason)" }
    }
}
