import IsthmusWire
import XCTest

/// Every datagram strongSwan sent or received in the captures parses, and re-serializes byte for byte.
final class CaptureParsingTests: XCTestCase {
    func testIKEv2CapturesParseAndRoundTrip() throws {
        for name in CaptureFixture.ikev2Cases {
            let capture = try CaptureFixture.load(name)
            var exchanges: [IKEv2ExchangeType] = []
            var espCount = 0
            for datagram in capture.datagrams {
                guard let ike = CaptureFixture.ikeBytes(datagram) else {
                    let header = datagram.bytes.withUnsafeBytes { ESPHeader.parse($0) }
                    XCTAssertNotNil(header, "\(name) #\(datagram.index): not IKE, not ESP")
                    XCTAssertTrue(capture.espKeys.contains { $0.spiValue == header?.spi }, "\(name): unknown SPI")
                    espCount += 1
                    continue
                }
                let message = try IKEv2Message.parse(ike)
                XCTAssertEqual(message.serialize()[...], ike, "\(name) #\(datagram.index) does not re-serialize")
                exchanges.append(message.exchangeType)
            }
            XCTAssertEqual(Array(exchanges.prefix(4)), [.ikeSAInit, .ikeSAInit, .ikeAuth, .ikeAuth], name)
            XCTAssertTrue(exchanges.contains(.createChildSA), name)
            XCTAssertTrue(exchanges.contains(.informational), name)
            XCTAssertEqual(espCount, 10, name)
        }
    }

    func testIKEv2InitCarriesTheLoggedKeyExchangeAndSPIs() throws {
        for name in CaptureFixture.ikev2Cases {
            let capture = try CaptureFixture.load(name)
            let keys = try XCTUnwrap(capture.ikeKeys.first)
            let request = try IKEv2Message.parse(try XCTUnwrap(CaptureFixture.ikeBytes(capture.datagrams[0])))
            XCTAssertEqual(String(request.initiatorSPI, radix: 16).leftPadded(16), keys.spiI)
            XCTAssertTrue(request.flags.contains(.initiator))
            let ke = request.payloads.compactMap { payload -> IKEv2KeyExchangePayload? in
                if case .keyExchange(let ke) = payload { return ke }
                return nil
            }
            XCTAssertEqual(ke.count, 1, name)
            XCTAssertEqual(ke.first?.group, name.contains("ecp256") ? 19 : 14)
            let response = try IKEv2Message.parse(try XCTUnwrap(CaptureFixture.ikeBytes(capture.datagrams[1])))
            XCTAssertEqual(String(response.responderSPI, radix: 16).leftPadded(16), keys.spiR)
            XCTAssertTrue(response.flags.contains(.response))
            // IKE_AUTH onwards is one SK payload.
            let auth = try IKEv2Message.parse(try XCTUnwrap(CaptureFixture.ikeBytes(capture.datagrams[2])))
            guard case .encrypted(let sk)? = auth.payloads.last else { return XCTFail("IKE_AUTH without SK") }
            XCTAssertEqual(sk.firstInnerPayloadType, .identificationInitiator)
        }
    }

    func testIKEv1CapturesParseAndRoundTrip() throws {
        for name in CaptureFixture.ikev1Cases {
            let capture = try CaptureFixture.load(name)
            var exchanges: [ISAKMPExchangeType] = []
            var encrypted = 0
            var espCount = 0
            for datagram in capture.datagrams {
                guard let ike = CaptureFixture.ikeBytes(datagram) else {
                    XCTAssertNotNil(datagram.bytes.withUnsafeBytes { ESPHeader.parse($0) })
                    espCount += 1
                    continue
                }
                let message = try ISAKMPMessage.parse(ike)
                XCTAssertEqual(message.serialize()[...], ike, "\(name) #\(datagram.index) does not re-serialize")
                exchanges.append(message.exchangeType)
                if case .encrypted = message.body { encrypted += 1 }
            }
            XCTAssertEqual(Array(exchanges.prefix(6)), Array(repeating: .identityProtection, count: 6), name)
            XCTAssertEqual(exchanges.filter { $0 == .quickMode }.count, 3, name)
            XCTAssertEqual(encrypted, exchanges.count - 4, "Main Mode 1-4 are the only cleartext messages")
            XCTAssertEqual(espCount, 6, name)
        }
    }

    func testIKEv1MainModeOneOffersTheSeedsPhase1() throws {
        let capture = try CaptureFixture.load("ikev1-aes256-sha1-modp1024")
        let message = try ISAKMPMessage.parse(try XCTUnwrap(CaptureFixture.ikeBytes(capture.datagrams[0])))
        guard case .payloads(let payloads) = message.body, case .securityAssociation(let sa)? = payloads.first else {
            return XCTFail("Main Mode 1 does not start with SA")
        }
        let vendorIDs = payloads.filter { if case .vendorID = $0 { true } else { false } }
        XCTAssertEqual(vendorIDs.count, 5)
        XCTAssertEqual(sa.proposals.count, 1)
        XCTAssertEqual(sa.proposals.first?.transforms.count, 1)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
