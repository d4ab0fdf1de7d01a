import IsthmusIP

#if canImport(Glibc)
    import Glibc
#endif

/// A `NETLINK_ROUTE` socket and the requests the gateway makes on it: list, change and delete interfaces,
/// list, add and delete routes. Each call is one request and its answer (blocking, bounded by a
/// receive timeout); the kernel's error comes back as a ``NetlinkError`` with its errno and, where the
/// kernel gives one, its extended-ack text.
public final class NetlinkSocket {
    private let fd: CInt
    private var sequence: UInt32 = 1

    /// Datagrams up to this size are read (a dump answer comes in several).
    static let receiveCapacity = 64 * 1024
    /// How long one answer may take before the request fails.
    static let receiveTimeoutSeconds = 2
    /// `SOL_NETLINK`, `NETLINK_CAP_ACK` (errors without the echoed request) and `NETLINK_EXT_ACK`
    /// (errors with a text).
    static let solNetlink: CInt = 270
    static let capAck: CInt = 10
    static let extAck: CInt = 11
    /// NLMSGERR_ATTR_MSG: the text of an extended acknowledgement.
    static let errorAttributeMessage: UInt16 = 1

    public init() throws(NetlinkError) {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)  // NETLINK_ROUTE
        guard fd >= 0 else { throw NetlinkError("cannot open a netlink socket", errno: errno) }
        var timeout = timeval(tv_sec: Self.receiveTimeoutSeconds, tv_usec: 0)
        var on: CInt = 1
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, Self.solNetlink, Self.capAck, &on, socklen_t(MemoryLayout<CInt>.size))
        setsockopt(fd, Self.solNetlink, Self.extAck, &on, socklen_t(MemoryLayout<CInt>.size))
        self.fd = fd
    }

    deinit { close(fd) }

    // MARK: Interfaces

    /// Every interface of this network namespace.
    public func interfaces() throws(NetlinkError) -> [NetworkInterface] {
        var result: [NetworkInterface] = []
        for message in try dump(type: Netlink.getLink, payload: NetworkInterface.requestPayload(index: 0))
        where message.type == Netlink.newLink {
            result.append(try NetworkInterface(payload: message.payload))
        }
        return result
    }

    /// The interface called `name`, or nil.
    public func interface(named name: String) throws(NetlinkError) -> NetworkInterface? {
        try interfaces().first(where: { $0.name == name })
    }

    /// Sets an interface's MTU (when given) and brings it up or down.
    public func setInterface(index: Int32, up: Bool, mtu: Int? = nil) throws(NetlinkError) {
        var attributes: [NetlinkAttribute] = []
        if let mtu { attributes.append(NetlinkAttribute(type: Netlink.linkMTU, uint32: UInt32(mtu))) }
        try request(
            type: Netlink.newLink, flags: 0,
            payload: NetworkInterface.requestPayload(
                index: index, flags: up ? Netlink.interfaceUp : 0, change: Netlink.interfaceUp,
                attributes: attributes),
            what: "set interface #\(index) \(up ? "up" : "down")\(mtu.map { " mtu \($0)" } ?? "")")
    }

    /// Deletes an interface (a persistent TUN device left behind, say).
    public func deleteInterface(index: Int32) throws(NetlinkError) {
        try request(
            type: Netlink.deleteLink, flags: 0, payload: NetworkInterface.requestPayload(index: index),
            what: "delete interface #\(index)")
    }

    // MARK: Addresses

    /// Gives interface `index` the address `address` (`ip address add ADDRESS/LENGTH dev ...`); the kernel
    /// adds the route to its prefix. An address it has already is no error.
    public func addAddress(_ address: InterfaceAddress, interfaceIndex index: Int32) throws(NetlinkError) {
        do {
            try request(
                type: Netlink.newAddress, flags: Netlink.flagCreate | Netlink.flagExclusive,
                payload: AddressMessage.requestPayload(address, interfaceIndex: index),
                what: "add address \(address) to interface #\(index)")
        } catch  where error.errno == EEXIST {
            return
        }
    }

    /// Takes `address` off interface `index` (with the route to its prefix).
    public func deleteAddress(_ address: InterfaceAddress, interfaceIndex index: Int32) throws(NetlinkError) {
        try request(
            type: Netlink.deleteAddress, flags: 0,
            payload: AddressMessage.requestPayload(address, interfaceIndex: index),
            what: "delete address \(address) from interface #\(index)")
    }

    // MARK: Routes

    /// The routes of one family in every table.
    public func routes(_ family: IPFamily) throws(NetlinkError) -> [Route] {
        var result: [Route] = []
        for message in try dump(type: Netlink.getRoute, payload: Route.dumpPayload(family))
        where message.type == Netlink.newRoute {
            if let route = try Route(payload: message.payload) { result.append(route) }
        }
        return result
    }

    /// Adds a route; with `replace` an existing route to the same destination and metric is replaced,
    /// without it such a route makes this fail with EEXIST.
    public func addRoute(_ route: Route, replace: Bool = false) throws(NetlinkError) {
        try request(
            type: Netlink.newRoute, flags: Netlink.flagCreate | (replace ? Netlink.flagReplace : Netlink.flagExclusive),
            payload: route.requestPayload(), what: "add route \(route)")
    }

    public func deleteRoute(_ route: Route) throws(NetlinkError) {
        try request(type: Netlink.deleteRoute, flags: 0, payload: route.requestPayload(), what: "delete route \(route)")
    }

    // MARK: Requests

    /// Sends a request that wants an acknowledgement and waits for it.
    func request(type: UInt16, flags: UInt16, payload: [UInt8], what: String) throws(NetlinkError) {
        let sequence = try send(
            type: type, flags: Netlink.flagRequest | Netlink.flagAcknowledge | flags, payload: payload)
        while true {
            for message in try receive() where message.sequence == sequence {
                guard let code = message.errorCode else { continue }
                if code == 0 { return }
                throw NetlinkError(
                    "cannot \(what)" + (Self.extendedAckText(message).map { " (\($0))" } ?? ""), errno: -code)
            }
        }
    }

    /// Sends a dump request and collects every message of the answer up to `NLMSG_DONE`.
    func dump(type: UInt16, payload: [UInt8]) throws(NetlinkError) -> [NetlinkMessage] {
        let sequence = try send(type: type, flags: Netlink.flagRequest | Netlink.flagDump, payload: payload)
        var result: [NetlinkMessage] = []
        while true {
            for message in try receive() where message.sequence == sequence {
                if message.type == Netlink.messageDone { return result }
                if let code = message.errorCode, code != 0 {
                    throw NetlinkError("netlink dump \(type) failed", errno: -code)
                }
                result.append(message)
            }
        }
    }

    private func send(type: UInt16, flags: UInt16, payload: [UInt8]) throws(NetlinkError) -> UInt32 {
        sequence &+= 1
        let bytes = NetlinkMessage(type: type, flags: flags, sequence: sequence, payload: payload).encoded()
        // struct sockaddr_nl of the kernel: family AF_NETLINK, port ID 0, no groups.
        var kernel = sockaddr_storage()
        withUnsafeMutableBytes(of: &kernel) { raw in
            raw.storeBytes(of: UInt16(AF_NETLINK), toByteOffset: 0, as: UInt16.self)
        }
        let sent = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &kernel) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buffer.baseAddress, buffer.count, 0, $0, 12)
                }
            }
        }
        guard sent == bytes.count else { throw NetlinkError("cannot send a netlink request", errno: errno) }
        return sequence
    }

    private func receive() throws(NetlinkError) -> [NetlinkMessage] {
        var buffer = [UInt8](repeating: 0, count: Self.receiveCapacity)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { throw NetlinkError("no answer from the kernel on netlink", errno: errno) }
        return try NetlinkMessage.decodeAll(Array(buffer[0..<count]))
    }

    /// The text of an extended acknowledgement: `struct nlmsgerr` (error, then the request's header only,
    /// thanks to NETLINK_CAP_ACK) followed by attributes.
    static func extendedAckText(_ message: NetlinkMessage) -> String? {
        let start = 4 + NetlinkMessage.headerLength
        guard message.payload.count > start,
            let attributes = try? NetlinkAttribute.decodeAll(message.payload[start...])
        else { return nil }
        return attributes.first(where: { $0.type == errorAttributeMessage })?.string
    }
}
