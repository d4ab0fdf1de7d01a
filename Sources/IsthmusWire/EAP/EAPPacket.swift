/// One EAP packet (RFC 3748 section 4): what an IKEv2 EAP payload carries (RFC 7296 section 3.16).
///
/// Requests and Responses carry a type and its data; Success and Failure carry nothing. The codec checks
/// the Length field against the bytes it was given and never traps.
public struct EAPPacket: Sendable, Equatable {
    /// The Code field (section 4).
    public enum Code: UInt8, Sendable {
        case request = 1
        case response = 2
        case success = 3
        case failure = 4
    }

    /// The method types this gateway speaks (section 5, RFC 3748's registry).
    public enum MethodType: Sendable, Equatable {
        case identity
        case notification
        case nak
        /// EAP-MSCHAPv2 (draft-kamath-pppext-eap-mschapv2).
        case mschapv2
        case other(UInt8)

        public init(rawValue: UInt8) {
            switch rawValue {
            case 1: self = .identity
            case 2: self = .notification
            case 3: self = .nak
            case 26: self = .mschapv2
            default: self = .other(rawValue)
            }
        }

        public var rawValue: UInt8 {
            switch self {
            case .identity: 1
            case .notification: 2
            case .nak: 3
            case .mschapv2: 26
            case .other(let value): value
            }
        }
    }

    public var code: Code
    public var identifier: UInt8
    /// The type of a Request or Response; nil for Success and Failure.
    public var type: MethodType?
    /// What follows the type (Request/Response only).
    public var data: [UInt8]

    public init(code: Code, identifier: UInt8, type: MethodType? = nil, data: [UInt8] = []) {
        self.code = code
        self.identifier = identifier
        self.type = type
        self.data = data
    }

    /// Parses one packet; the Length field must equal the input's length (bytes after it are refused).
    public init(parsing bytes: [UInt8]) throws(WireError) {
        var reader = WireReader(bytes)
        guard let codeByte = reader.readUInt8(), let identifier = reader.readUInt8(),
            let length = reader.readInteger(as: UInt16.self)
        else {
            throw WireError(.truncated, at: 0, "an EAP packet needs 4 header bytes, got \(bytes.count)")
        }
        guard let code = Code(rawValue: codeByte) else {
            throw WireError(.invalidValue, at: 0, "EAP code \(codeByte) is not 1 to 4")
        }
        guard Int(length) == bytes.count else {
            throw WireError(
                Int(length) > bytes.count ? .truncated : .lengthMismatch, at: 2,
                "EAP length \(length) does not match the \(bytes.count) bytes received")
        }
        self.code = code
        self.identifier = identifier
        switch code {
        case .success, .failure:
            guard length == 4 else {
                throw WireError(.lengthMismatch, at: 2, "an EAP Success or Failure is 4 bytes, not \(length)")
            }
            self.type = nil
            self.data = []
        case .request, .response:
            guard let type = reader.readUInt8() else {
                throw WireError(.truncated, at: 4, "an EAP Request or Response needs a type")
            }
            self.type = MethodType(rawValue: type)
            self.data = Array(reader.readRemaining())
        }
    }

    /// The packet's bytes.
    public func serialize() -> [UInt8] {
        var body: [UInt8] = []
        if let type, code == .request || code == .response {
            body = [type.rawValue] + data
        }
        let length = 4 + body.count
        return [code.rawValue, identifier, UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)]
            + body
    }
}

/// An EAP-MSCHAPv2 message: the data of an EAP packet of type 26 (draft-kamath-pppext-eap-mschapv2-02
/// section 2; RFC 2759 section 4 for the Challenge and Response values).
public enum MSCHAPv2Packet: Sendable, Equatable {
    /// Server to peer: the 16-byte authenticator challenge and the server's name.
    case challenge(id: UInt8, challenge: [UInt8], name: [UInt8])
    /// Peer to server: the peer challenge, the 24-byte NT-Response, the flags and the user name.
    case response(id: UInt8, peerChallenge: [UInt8], ntResponse: [UInt8], flags: UInt8, name: [UInt8])
    /// Server to peer: "S=<authenticator response> M=<message>".
    case successRequest(id: UInt8, message: String)
    /// Peer to server: the acknowledgement of a Success Request (the opcode alone).
    case successResponse
    /// Server to peer: "E=eeee R=r C=cccc V=vvvv M=<msg>".
    case failureRequest(id: UInt8, message: String)
    /// Peer to server: the acknowledgement of a Failure Request (the opcode alone).
    case failureResponse
    /// Peer to server: a password change (parsed for its ID only; this gateway does not change passwords).
    case changePassword(id: UInt8)

    /// The opcodes (section 2).
    public enum OpCode: UInt8, Sendable {
        case challenge = 1
        case response = 2
        case success = 3
        case failure = 4
        case changePassword = 7
    }

    /// The size of Value-Size's value in a Response: peer challenge 16, reserved 8, NT-Response 24, flags 1.
    static let responseValueSize = 49
    /// Change-Password's fixed part (RFC 2759 section 7: encrypted password 516, hash 16, peer challenge 16,
    /// reserved 8, NT-Response 24, flags 2).
    static let changePasswordSize = 582

    /// Parses the data of an EAP packet of type MSCHAPv2 (what follows the type byte); `isRequest` tells a
    /// Success or Failure Request (with a message) from the peer's one-byte acknowledgement.
    public init(parsing data: [UInt8], isRequest: Bool) throws(WireError) {
        var reader = WireReader(data, origin: 5)
        guard let opByte = reader.readUInt8() else {
            throw WireError(.truncated, at: 5, "an EAP-MSCHAPv2 message needs an opcode")
        }
        guard let opCode = OpCode(rawValue: opByte) else {
            throw WireError(.invalidValue, at: 5, "EAP-MSCHAPv2 opcode \(opByte) is unknown")
        }
        if !isRequest, opCode == .success || opCode == .failure {
            // The peer's acknowledgement is the opcode alone (section 2.4, 2.5); tolerate nothing else.
            guard reader.isAtEnd else {
                throw WireError(.trailingData, at: reader.offset, "an EAP-MSCHAPv2 acknowledgement has no data")
            }
            self = opCode == .success ? .successResponse : .failureResponse
            return
        }
        guard let id = reader.readUInt8(), let msLength = reader.readInteger(as: UInt16.self) else {
            throw WireError(.truncated, at: 6, "EAP-MSCHAPv2 \(opCode) needs an ID and an MS-Length")
        }
        // MS-Length counts from the opcode (the EAP length minus 5).
        guard Int(msLength) == data.count else {
            throw WireError(
                .lengthMismatch, at: 7, "EAP-MSCHAPv2 MS-Length \(msLength) does not match \(data.count) bytes")
        }
        switch opCode {
        case .challenge:
            guard let size = reader.readUInt8(), size == 16, let challenge = reader.readSlice(16) else {
                throw WireError(.invalidValue, at: reader.offset, "an MSCHAPv2 challenge must be 16 bytes")
            }
            self = .challenge(id: id, challenge: Array(challenge), name: Array(reader.readRemaining()))
        case .response:
            guard let size = reader.readUInt8(), Int(size) == Self.responseValueSize,
                let peerChallenge = reader.readSlice(16), reader.readSlice(8) != nil,
                let ntResponse = reader.readSlice(24), let flags = reader.readUInt8()
            else {
                throw WireError(
                    .invalidValue, at: reader.offset, "an MSCHAPv2 response must carry a 49-byte value")
            }
            self = .response(
                id: id, peerChallenge: Array(peerChallenge), ntResponse: Array(ntResponse), flags: flags,
                name: Array(reader.readRemaining()))
        case .success:
            self = .successRequest(id: id, message: String(decoding: reader.readRemaining(), as: UTF8.self))
        case .failure:
            self = .failureRequest(id: id, message: String(decoding: reader.readRemaining(), as: UTF8.self))
        case .changePassword:
            guard reader.remaining == Self.changePasswordSize else {
                throw WireError(
                    .lengthMismatch, at: reader.offset, "an MSCHAPv2 Change-Password has 582 bytes after its header")
            }
            self = .changePassword(id: id)
        }
    }

    /// The data of the EAP packet (what follows the type byte).
    public func serialize() -> [UInt8] {
        func framed(_ opCode: OpCode, _ id: UInt8, _ body: [UInt8]) -> [UInt8] {
            let length = 4 + body.count
            return [opCode.rawValue, id, UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)]
                + body
        }
        switch self {
        case .challenge(let id, let challenge, let name):
            return framed(.challenge, id, [UInt8(truncatingIfNeeded: challenge.count)] + challenge + name)
        case .response(let id, let peerChallenge, let ntResponse, let flags, let name):
            return framed(
                .response, id,
                [UInt8(Self.responseValueSize)] + peerChallenge + [UInt8](repeating: 0, count: 8) + ntResponse
                    + [flags] + name)
        case .successRequest(let id, let message): return framed(.success, id, Array(message.utf8))
        case .failureRequest(let id, let message): return framed(.failure, id, Array(message.utf8))
        case .successResponse: return [OpCode.success.rawValue]
        case .failureResponse: return [OpCode.failure.rawValue]
        case .changePassword(let id): return framed(.changePassword, id, [UInt8](repeating: 0, count: 582))
        }
    }
}
