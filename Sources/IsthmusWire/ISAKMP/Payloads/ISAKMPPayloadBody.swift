/// The body codec of one ISAKMP payload type: everything after the 4-byte generic header.
///
/// `init(parsing:)` receives a reader bounded to exactly the payload body and must consume it all
/// or throw; the chain parser rejects unconsumed bytes.
protocol ISAKMPPayloadBody: Hashable, Sendable {
    init(parsing body: inout WireReader) throws(WireError)
    func serializeBody(into writer: inout WireWriter)
}
