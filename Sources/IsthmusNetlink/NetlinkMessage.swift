/// A netlink message (linux/netlink.h, RFC 3549): a 16-byte header (length, type, flags, sequence
/// number, port ID, all in host byte order) and a payload padded to 4 bytes. Pure: built and parsed
/// here, sent and received by ``NetlinkSocket``.
public struct NetlinkMessage: Sendable, Hashable {
    public var type: UInt16
    public var flags: UInt16
    public var sequence: UInt32
    /// The sender's port ID: 0 for the kernel.
    public var portID: UInt32
    public var payload: [UInt8]

    public init(type: UInt16, flags: UInt16, sequence: UInt32 = 0, portID: UInt32 = 0, payload: [UInt8]) {
        self.type = type
        self.flags = flags
        self.sequence = sequence
        self.portID = portID
        self.payload = payload
    }

    /// `struct nlmsghdr`.
    public static let headerLength = 16
    /// Messages and attributes start at multiples of 4 (NLMSG_ALIGN, NLA_ALIGN).
    static func aligned(_ length: Int) -> Int { (length + 3) & ~3 }

    /// The message on the wire, header first.
    public func encoded() -> [UInt8] {
        var bytes = NetlinkBytes()
        bytes.append(UInt32(Self.headerLength + payload.count))
        bytes.append(type)
        bytes.append(flags)
        bytes.append(sequence)
        bytes.append(portID)
        bytes.bytes += payload
        bytes.pad()
        return bytes.bytes
    }

    /// Every message of one datagram from the kernel. A length that leaves the datagram or is shorter
    /// than the header is an error: nothing after it can be framed.
    public static func decodeAll(_ datagram: [UInt8]) throws(NetlinkError) -> [NetlinkMessage] {
        var messages: [NetlinkMessage] = []
        var offset = 0
        while datagram.count - offset >= headerLength {
            let reader = NetlinkReader(datagram, from: offset)
            let length = Int(reader.u32(0))
            guard length >= headerLength, length <= datagram.count - offset else {
                throw NetlinkError("malformed netlink message: length \(length) at offset \(offset)")
            }
            messages.append(
                NetlinkMessage(
                    type: reader.u16(4), flags: reader.u16(6), sequence: reader.u32(8), portID: reader.u32(12),
                    payload: Array(datagram[(offset + headerLength)..<(offset + length)])))
            offset += aligned(length)
        }
        return messages
    }

    /// The error code of an `NLMSG_ERROR` message: 0 for an acknowledgement, else a negative errno.
    public var errorCode: Int32? {
        guard type == Netlink.messageError, payload.count >= 4 else { return nil }
        return Int32(bitPattern: NetlinkReader(payload).u32(0))
    }
}

/// A routing attribute (`struct rtattr` / `struct nlattr`): length, type, value, padded to 4 bytes.
public struct NetlinkAttribute: Sendable, Hashable {
    public var type: UInt16
    public var value: [UInt8]

    public init(type: UInt16, value: [UInt8]) {
        self.type = type
        self.value = value
    }

    public init(type: UInt16, uint32: UInt32) {
        self.init(type: type, value: withUnsafeBytes(of: uint32) { Array($0) })
    }

    /// A NUL-terminated string (interface names).
    public init(type: UInt16, string: String) {
        self.init(type: type, value: Array(string.utf8) + [0])
    }

    /// The value as a host-order 32-bit number, when it is 4 bytes long.
    public var uint32: UInt32? {
        value.count == 4 ? NetlinkReader(value).u32(0) : nil
    }

    /// The value as a string without its NUL terminator.
    public var string: String {
        String(decoding: value.prefix(while: { $0 != 0 }), as: UTF8.self)
    }

    static func encode(_ attributes: [NetlinkAttribute], into bytes: inout NetlinkBytes) {
        for attribute in attributes {
            bytes.append(UInt16(4 + attribute.value.count))
            bytes.append(attribute.type)
            bytes.bytes += attribute.value
            bytes.pad()
        }
    }

    /// The attributes in `bytes` (what follows a message's fixed part). A length that runs past the end
    /// is an error.
    static func decodeAll(_ bytes: ArraySlice<UInt8>) throws(NetlinkError) -> [NetlinkAttribute] {
        var attributes: [NetlinkAttribute] = []
        var offset = bytes.startIndex
        while bytes.endIndex - offset >= 4 {
            let reader = NetlinkReader(Array(bytes[offset..<(offset + 4)]))
            let length = Int(reader.u16(0))
            guard length >= 4, length <= bytes.endIndex - offset else {
                throw NetlinkError("malformed netlink attribute: length \(length)")
            }
            // The nested and byte-order flags are not part of the type.
            let type = reader.u16(2) & 0x3FFF
            attributes.append(NetlinkAttribute(type: type, value: Array(bytes[(offset + 4)..<(offset + length)])))
            offset += NetlinkMessage.aligned(length)
        }
        return attributes
    }
}

/// Host-order integers appended to a byte array.
struct NetlinkBytes {
    var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value) { bytes += $0 }
    }

    mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }
}

/// Host-order integers read from a byte array at offsets the caller checked.
struct NetlinkReader {
    let bytes: [UInt8]
    let base: Int

    init(_ bytes: [UInt8], from base: Int = 0) {
        self.bytes = bytes
        self.base = base
    }

    func u8(_ offset: Int) -> UInt8 { bytes[base + offset] }

    func u16(_ offset: Int) -> UInt16 { read(offset) }

    func u32(_ offset: Int) -> UInt32 { read(offset) }

    private func read<T: FixedWidthInteger>(_ offset: Int) -> T {
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { raw in
            for index in 0..<MemoryLayout<T>.size { raw[index] = bytes[base + offset + index] }
        }
        return value
    }
}

/// A netlink request the kernel refused, or a reply that could not be read.
public struct NetlinkError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    /// The errno the kernel answered with (positive), when it did.
    public var errno: Int32?

    public init(_ message: String, errno: Int32? = nil) {
        self.message = message
        self.errno = errno
    }

    public var description: String {
        guard let errno else { return message }
        return "\(message): \(Netlink.errorName(errno))"
    }
}
