import IsthmusCrypto
import IsthmusIP
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

/// Shorthands for negotiation tests: proposal lists from strongSwan text, hand-built transforms.
enum NegotiationFixtures {
    static func ike(_ text: String) throws -> ProposalList {
        try ProposalList(parsing: [text], for: .ike, version: .v2)
    }

    static func esp(_ text: String) throws -> ProposalList {
        try ProposalList(parsing: [text], for: .esp, version: .v2)
    }

    static func transform(_ type: IKEv2TransformType, _ id: UInt16, keyLength: UInt16? = nil) -> IKEv2Transform {
        IKEv2Transform(type: type, id: id, attributes: keyLength.map { [DataAttribute.keyLength($0)] } ?? [])
    }

    static func proposal(
        _ number: UInt8 = 1, _ protocolID: IKEv2ProtocolID = .ike, spi: [UInt8] = [], _ transforms: [IKEv2Transform]
    ) -> IKEv2Proposal {
        IKEv2Proposal(number: number, protocolID: protocolID, spi: spi, transforms: transforms)
    }

    /// Proposal 1 for IKE without an SPI.
    static func proposal(_ transforms: [IKEv2Transform]) -> IKEv2Proposal {
        IKEv2Proposal(number: 1, protocolID: .ike, spi: [], transforms: transforms)
    }

    static func sa(_ proposals: IKEv2Proposal...) -> IKEv2SecurityAssociationPayload {
        IKEv2SecurityAssociationPayload(proposals: proposals)
    }

    /// Unwraps a success or fails the test with the failure's description.
    static func success<Value, Failure: Error>(
        _ result: Result<Value, Failure>, file: StaticString = #filePath, line: UInt = #line
    ) throws -> Value {
        switch result {
        case .success(let value): return value
        case .failure(let error):
            XCTFail("unexpected failure: \(error)", file: file, line: line)
            throw error
        }
    }

    /// Unwraps a failure or fails the test.
    static func failure<Value>(
        _ result: Result<Value, IKEv2NegotiationFailure>, file: StaticString = #filePath, line: UInt = #line
    ) throws -> IKEv2NegotiationFailure {
        switch result {
        case .success(let value):
            XCTFail("unexpected success: \(value)", file: file, line: line)
            throw XCTSkip("unexpected success")
        case .failure(let error): return error
        }
    }
}
