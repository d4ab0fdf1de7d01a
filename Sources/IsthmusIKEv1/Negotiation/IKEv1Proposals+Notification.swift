import IsthmusCrypto
import IsthmusIP
import IsthmusWire

// MARK: - Attributes in notification data (RESPONDER-LIFETIME, RFC 2407 section 4.6.3.1)

extension IKEv1Proposals {
    /// Most attributes read from one notification (a RESPONDER-LIFETIME carries at most four).
    static let maximumNotifyAttributes = 16

    /// Data attributes in wire form (RFC 2408 section 3.3).
    static func attributeBytes(_ attributes: [DataAttribute]) -> [UInt8] {
        var bytes: [UInt8] = []
        for attribute in attributes {
            switch attribute.value {
            case .basic(let value):
                let type = attribute.type | 0x8000
                bytes += [UInt8(type >> 8), UInt8(type & 0xFF), UInt8(value >> 8), UInt8(value & 0xFF)]
            case .variable(let data):
                bytes += [UInt8(attribute.type >> 8), UInt8(attribute.type & 0xFF)]
                bytes += [UInt8(data.count >> 8), UInt8(data.count & 0xFF)] + data
            }
        }
        return bytes
    }

    /// Parses data attributes; nil when they do not fill `bytes` exactly.
    static func parseAttributes(_ bytes: [UInt8]) -> [DataAttribute]? {
        var attributes: [DataAttribute] = []
        var offset = 0
        while offset < bytes.count {
            guard offset + 4 <= bytes.count, attributes.count < maximumNotifyAttributes else { return nil }
            let typeField = UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
            let second = UInt16(bytes[offset + 2]) << 8 | UInt16(bytes[offset + 3])
            offset += 4
            if typeField & 0x8000 != 0 {
                attributes.append(DataAttribute(type: typeField & 0x7FFF, value: .basic(second)))
            } else {
                guard offset + Int(second) <= bytes.count else { return nil }
                attributes.append(
                    DataAttribute(type: typeField, value: .variable(Array(bytes[offset..<(offset + Int(second))]))))
                offset += Int(second)
            }
        }
        return attributes
    }

    /// The lifetime a RESPONDER-LIFETIME notification announces: phase 1 attribute numbers for the
    /// ISAKMP SA, IPsec DOI ones for an ESP SA.
    static func responderLifetime(_ notification: ISAKMPNotificationPayload) -> IKEv1Lifetime? {
        guard let attributes = parseAttributes(notification.data) else { return nil }
        if notification.protocolID == .isakmp {
            return lifetime(
                attributes, type: ISAKMPAttributeType.Phase1.lifeType,
                duration: ISAKMPAttributeType.Phase1.lifeDuration)
        }
        return lifetime(
            attributes, type: ISAKMPAttributeType.Phase2.saLifeType,
            duration: ISAKMPAttributeType.Phase2.saLifeDuration)
    }

    static func responderLifetimeNotification(
        _ lifetime: IKEv1Lifetime, protocolID: ISAKMPProtocolID, spi: [UInt8]
    ) -> ISAKMPNotificationPayload {
        let attributes =
            protocolID == .isakmp
            ? lifeAttributes(
                lifetime, type: ISAKMPAttributeType.Phase1.lifeType,
                duration: ISAKMPAttributeType.Phase1.lifeDuration)
            : lifeAttributes(
                lifetime, type: ISAKMPAttributeType.Phase2.saLifeType,
                duration: ISAKMPAttributeType.Phase2.saLifeDuration)
        return ISAKMPNotificationPayload(
            protocolID: protocolID, spi: spi, notifyType: .responderLifetime,
            data: attributeBytes(attributes))
    }
}
