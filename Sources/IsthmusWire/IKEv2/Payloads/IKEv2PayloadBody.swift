/// The body codec of one IKEv2 payload type: everything after the 4-byte generic payload header.
///
/// `init(parsing:)` receives a reader bounded to exactly the payload body (the generic header's
/// length has already been checked against the enclosing chain) and must either consume it all or
/// throw; the chain parser rejects unconsumed bytes as ``WireError/Code/trailingData``.
protocol IKEv2PayloadBody: Hashable, Sendable {
    init(parsing body: inout WireReader) throws(WireError)
    func serializeBody(into writer: inout WireWriter)
}
