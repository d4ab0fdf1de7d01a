/// The body codec of one payload type, in either version: everything after the 4-byte generic payload
/// header (RFC 2408 section 3.2, RFC 7296 section 3.2).
///
/// `init(parsing:)` receives a reader bounded to exactly the payload body (the generic header's
/// length has already been checked against the enclosing chain) and must either consume it all or
/// throw; the chain parser rejects unconsumed bytes as ``WireError/Code/trailingData``.
protocol PayloadBody: Hashable, Sendable {
    init(parsing body: inout WireReader) throws(WireError)
    func serializeBody(into writer: inout WireWriter)
}
