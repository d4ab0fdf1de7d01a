import IsthmusWire

/// Reassembly of one fragmented message (RFC 7383 section 2.6): the decrypted shares by fragment
/// number, until all are there. Only authenticated fragments are stored.
struct IKEv2FragmentAssembly {
    /// Most fragments accepted for one message: at the 1280-byte default a 64 KiB message needs 52.
    static let maximumFragmentCount = 64
    /// Most reassembled bytes: the IKE length field's limit.
    static let maximumReassembledBytes = 65_535

    let messageID: UInt32
    let isResponse: Bool
    let total: Int
    var firstPayloadType: IKEv2PayloadType = .none
    var shares: [Int: ArraySlice<UInt8>] = [:]
    var byteCount = 0

    init?(messageID: UInt32, isResponse: Bool, total: UInt16) {
        guard total >= 1, Int(total) <= Self.maximumFragmentCount else { return nil }
        self.messageID = messageID
        self.isResponse = isResponse
        self.total = Int(total)
    }

    /// Adds an authenticated share; false when it does not belong (number or total out of line, too big).
    mutating func add(_ fragment: IKEv2EncryptedFragmentPayload, share: ArraySlice<UInt8>) -> Bool {
        let number = Int(fragment.fragmentNumber)
        guard Int(fragment.totalFragments) == total, (1...total).contains(number) else { return false }
        guard shares[number] == nil else { return true }
        guard byteCount + share.count <= Self.maximumReassembledBytes else { return false }
        if number == 1 { firstPayloadType = fragment.firstInnerPayloadType }
        shares[number] = share
        byteCount += share.count
        return true
    }

    var isComplete: Bool { shares.count == total }

    /// The inner payloads, once complete.
    func payloads() throws -> [IKEv2Payload] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(byteCount)
        for number in 1...total {
            guard let share = shares[number] else { throw IKEv2Failure.malformedEncryptedPayload }
            bytes += share
        }
        return try IKEv2PayloadChain.parse(bytes[...], firstPayloadType: firstPayloadType)
    }
}
