/// A one-octet code point read from the wire (a payload type, a protocol ID) that keeps unknown
/// values, so its `init(rawValue:)` cannot fail.
protocol OctetCode: Equatable {
    var rawValue: UInt8 { get }
    init(rawValue: UInt8)
}
