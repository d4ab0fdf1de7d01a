/// Reassembly of one fragmented message (RFC 7383 section 2.6): the decrypted shares by fragment
/// number until all are there. Only authenticated fragments are added.
public struct IKEFragmentReassembly: Sendable {
    /// Most fragments accepted for one message: at the 1280-byte default a 64 KiB message needs 52.
    public static let maximumFragmentCount = 64
    /// Most reassembled bytes: the IKE length field's limit.
    public static let maximumReassembledBytes = 65_535

    public let messageID: UInt32
    public let isResponse: Bool
    public let total: Int
    /// What fragment 1 says about the whole (IKEv2: the type of the first inner payload).
    public private(set) var tag: UInt8 = 0
    private var shares: [Int: ArraySlice<UInt8>] = [:]
    private var byteCount = 0

    /// Nil when `total` is out of bounds.
    public init?(messageID: UInt32, isResponse: Bool, total: Int) {
        guard total >= 1, total <= Self.maximumFragmentCount else { return nil }
        self.messageID = messageID
        self.isResponse = isResponse
        self.total = total
    }

    /// Adds a share; false when it does not belong (number or total out of line, too big). A
    /// repeated fragment is ignored.
    public mutating func add(number: Int, total: Int, share: ArraySlice<UInt8>, tag: UInt8) -> Bool {
        guard total == self.total, (1...self.total).contains(number) else { return false }
        guard shares[number] == nil else { return true }
        guard byteCount + share.count <= Self.maximumReassembledBytes else { return false }
        if number == 1 { self.tag = tag }
        shares[number] = share
        byteCount += share.count
        return true
    }

    public var isComplete: Bool { shares.count == total }

    /// The shares in order, once all are there.
    public func assembled() -> [UInt8]? {
        guard isComplete else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(byteCount)
        for number in 1...total {
            guard let share = shares[number] else { return nil }
            bytes += share
        }
        return bytes
    }
}
