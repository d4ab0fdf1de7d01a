/// The Notify payload (RFC 7296 section 3.10).
public struct IKEv2NotifyPayload: PayloadBody {
    /// The protocol of the SA the notification is about, or ``IKEv2ProtocolID/none``.
    public var protocolID: IKEv2ProtocolID
    /// The SPI of that SA; empty when the notification is not about a Child SA.
    public var spi: [UInt8]
    public var notifyType: IKEv2NotifyType
    /// Type-specific data (for example the cookie, or a NAT detection hash).
    public var data: [UInt8]

    /// Creates a notification.
    /// - Precondition: the SPI is at most ``WireLimits/maximumSPISize`` bytes.
    public init(
        protocolID: IKEv2ProtocolID = .none,
        spi: [UInt8] = [],
        notifyType: IKEv2NotifyType,
        data: [UInt8] = []
    ) {
        precondition(spi.count <= WireLimits.maximumSPISize, "SPI too long")
        self.protocolID = protocolID
        self.spi = spi
        self.notifyType = notifyType
        self.data = data
    }

    init(parsing body: inout WireReader) throws(WireError) {
        let fields = try NotifyFields.parse(from: &body)
        self.init(
            protocolID: IKEv2ProtocolID(rawValue: fields.protocolID),
            spi: fields.spi,
            notifyType: IKEv2NotifyType(rawValue: fields.notifyType),
            data: fields.data
        )
    }

    func serializeBody(into writer: inout WireWriter) {
        let fields = NotifyFields(
            protocolID: self.protocolID.rawValue, notifyType: self.notifyType.rawValue, spi: self.spi, data: self.data)
        fields.serialize(into: &writer)
    }
}
