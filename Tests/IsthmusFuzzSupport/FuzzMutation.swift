/// One change to a message's cleartext payload chain or header, decoded from the fuzzer's input.
public enum PayloadMutation: Hashable, Sendable {
    case remove(index: Int)
    case duplicate(index: Int)
    case swap(Int, Int)
    case setType(index: Int, type: UInt8)
    case insert(index: Int, FuzzPayload)
    case setByte(index: Int, offset: Int, value: UInt8)
    /// A big-endian 16- or 32-bit field: lengths, counts, SPIs, ports, attribute values.
    case setField(index: Int, offset: Int, value: UInt32, width: Int)
    case truncate(index: Int, length: Int)
    case insertBytes(index: Int, offset: Int, [UInt8])
    case replaceBody(index: Int, [UInt8])
    case toggleCritical(index: Int)
    case setMessageID(UInt32)
    case shiftMessageID(Int8)
    case setExchangeType(UInt8)
    case flipFlags(UInt8)
    /// IKEv1: leave the HASH payload as it was instead of computing it again over the changed chain.
    case keepStaleHash

    /// Biggest body a mutation builds, so a chain always fits the 16-bit length fields.
    static let maximumBody = 1024

    /// One to four mutations from the input.
    public static func decodeList(_ input: inout FuzzInput) -> [PayloadMutation] {
        (0...input.below(4)).map { _ in decode(&input) }
    }

    static func decode(_ input: inout FuzzInput) -> PayloadMutation {
        let kind = input.below(17)
        let index = Int(input.byte())
        switch kind {
        case 0: return .remove(index: index)
        case 1: return .duplicate(index: index)
        case 2: return .swap(index, Int(input.byte()))
        case 3: return .setType(index: index, type: input.byte())
        case 4: return .insert(index: index, FuzzPayload(type: input.byte(), body: input.chunk()))
        case 5: return .setByte(index: index, offset: Int(input.byte()), value: input.byte())
        case 6: return .setField(index: index, offset: Int(input.byte()), value: UInt32(input.uint16()), width: 2)
        case 7: return .setField(index: index, offset: Int(input.byte()), value: input.uint32(), width: 4)
        case 8: return .truncate(index: index, length: Int(input.byte()))
        case 9: return .insertBytes(index: index, offset: Int(input.byte()), input.chunk())
        case 10: return .replaceBody(index: index, input.chunk())
        case 11: return .toggleCritical(index: index)
        case 12: return .setMessageID(input.uint32() >> UInt32(index % 32))
        case 13: return .shiftMessageID(Int8(bitPattern: UInt8(truncatingIfNeeded: index)))
        case 14: return .setExchangeType(UInt8(truncatingIfNeeded: index))
        case 15: return .flipFlags(UInt8(truncatingIfNeeded: index))
        default: return .keepStaleHash
        }
    }

    /// Applies `mutations` in order; indices and offsets wrap around what is there.
    public static func apply(_ mutations: [PayloadMutation], to payloads: inout [FuzzPayload], header: inout FuzzHeader)
    {
        for mutation in mutations { mutation.apply(to: &payloads, header: &header) }
    }

    func apply(to payloads: inout [FuzzPayload], header: inout FuzzHeader) {
        func at(_ index: Int) -> Int? { payloads.isEmpty ? nil : index % payloads.count }
        func offset(_ offset: Int, in body: [UInt8]) -> Int { offset % (body.count + 1) }
        switch self {
        case .remove(let index):
            if let i = at(index) { payloads.remove(at: i) }
        case .duplicate(let index):
            if let i = at(index) { payloads.insert(payloads[i], at: i) }
        case .swap(let first, let second):
            if let i = at(first), let j = at(second) { payloads.swapAt(i, j) }
        case .setType(let index, let type):
            if let i = at(index) { payloads[i].type = type }
        case .insert(let index, let payload):
            payloads.insert(payload, at: index % (payloads.count + 1))
        case .setByte(let index, let position, let value):
            guard let i = at(index), !payloads[i].body.isEmpty else { return }
            payloads[i].body[position % payloads[i].body.count] = value
        case .setField(let index, let position, let value, let width):
            guard let i = at(index), payloads[i].body.count >= width else { return }
            let start = position % (payloads[i].body.count - width + 1)
            for k in 0..<width {
                payloads[i].body[start + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(width - 1 - k)))
            }
        case .truncate(let index, let length):
            if let i = at(index) { payloads[i].body = Array(payloads[i].body.prefix(length)) }
        case .insertBytes(let index, let position, let bytes):
            guard let i = at(index), payloads[i].body.count + bytes.count <= Self.maximumBody else { return }
            payloads[i].body.insert(contentsOf: bytes, at: offset(position, in: payloads[i].body))
        case .replaceBody(let index, let bytes):
            if let i = at(index) { payloads[i].body = bytes }
        case .toggleCritical(let index):
            if let i = at(index) { payloads[i].critical.toggle() }
        case .setMessageID(let value): header.messageID = value
        case .shiftMessageID(let delta): header.messageID = header.messageID &+ UInt32(bitPattern: Int32(delta))
        case .setExchangeType(let value): header.exchangeType = value
        case .flipFlags(let bits): header.flags ^= bits
        case .keepStaleHash: break
        }
    }
}

/// Changes to a whole datagram as sent (after sealing): what an attacker without the keys can do.
public enum RawMutation: Hashable, Sendable {
    case setByte(offset: Int, value: UInt8)
    case truncate(length: Int)
    case append([UInt8])
    case flipBit(offset: Int, bit: UInt8)

    public static func decodeList(_ input: inout FuzzInput) -> [RawMutation] {
        (0...input.below(4)).map { _ in
            switch input.below(4) {
            case 0: .setByte(offset: Int(input.uint16()), value: input.byte())
            case 1: .truncate(length: Int(input.uint16()))
            case 2: .append(input.chunk())
            default: .flipBit(offset: Int(input.uint16()), bit: input.byte() % 8)
            }
        }
    }

    public static func apply(_ mutations: [RawMutation], to bytes: inout [UInt8]) {
        for mutation in mutations {
            switch mutation {
            case .setByte(let offset, let value):
                if !bytes.isEmpty { bytes[offset % bytes.count] = value }
            case .truncate(let length):
                bytes = Array(bytes.prefix(length % (bytes.count + 1)))
            case .append(let extra):
                bytes += extra
            case .flipBit(let offset, let bit):
                if !bytes.isEmpty { bytes[offset % bytes.count] ^= 1 << bit }
            }
        }
    }
}
