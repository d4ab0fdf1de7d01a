/// The fuzzer's input read as a script: bytes taken one at a time, zero once exhausted (so every input
/// is a valid script and a short one simply ends).
public struct FuzzInput {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isExhausted: Bool { offset >= bytes.count }

    public mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// A number below `bound` (at least 1) from one byte.
    public mutating func below(_ bound: Int) -> Int { Int(byte()) % max(bound, 1) }

    public mutating func uint16() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }

    public mutating func uint32() -> UInt32 { UInt32(uint16()) << 16 | UInt32(uint16()) }

    /// A length byte, then that many bytes (fewer when the input ends).
    public mutating func chunk(maximum: Int = 255) -> [UInt8] {
        let count = min(Int(byte()), maximum)
        var result: [UInt8] = []
        result.reserveCapacity(count)
        while result.count < count, !isExhausted { result.append(byte()) }
        return result
    }
}

/// A payload of a message's cleartext chain as the mutations see it: type, critical bit and body
/// (without the generic header). Both IKE versions map their chains to and from this.
public struct FuzzPayload: Hashable, Sendable {
    public var type: UInt8
    public var critical: Bool
    public var body: [UInt8]

    public init(type: UInt8, critical: Bool = false, body: [UInt8]) {
        self.type = type
        self.critical = critical
        self.body = body
    }
}

/// The header fields of a message that a mutation may change before the message is sealed again.
public struct FuzzHeader: Hashable, Sendable {
    public var exchangeType: UInt8
    public var flags: UInt8
    public var messageID: UInt32
}
