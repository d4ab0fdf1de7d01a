import IsthmusCrypto
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

final class EAPMSCHAPv2ServerTests: XCTestCase {
    private func users() throws -> EAPUserDatabase {
        EAPUserDatabase(ntHashes: [
            "alice": try MSCHAPv2Crypto.ntPasswordHash(password: "correct horse"),
            "Bob": try MSCHAPv2Crypto.ntPasswordHash(password: "b0b"),
        ])
    }

    /// Runs a whole conversation; returns the final outcome and the client.
    private func converse(identity: String, password: String) throws -> (EAPMSCHAPv2Server.Outcome, EAPTestClient) {
        var random = SplitMix64(seed: 7)
        var server = EAPMSCHAPv2Server(users: try users(), firstIdentifier: 200)
        var client = EAPTestClient(identity: identity, password: password)
        var request = server.start().serialize()
        for _ in 0..<6 {
            let answer = try XCTUnwrap(try client.answer(request))
            switch server.handle(answer, random: &random) {
            case .send(let packet), .refusing(let packet, _): request = packet.serialize()
            case let outcome: return (outcome, client)
            }
        }
        XCTFail("the conversation did not end")
        throw WireError(code: .invalidValue, offset: 0, reason: "no end")
    }

    func testRightPasswordSucceedsWithTheSameMSKOnBothSides() throws {
        let (outcome, client) = try converse(identity: "alice", password: "correct horse")
        guard case .succeeded(let success, let user, let msk) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(user, "alice")
        XCTAssertEqual(success.code, .success)
        XCTAssertEqual(msk.count, 64)
        XCTAssertEqual(client.msk, msk)
        XCTAssertTrue(client.serverVerified, "the client checked S=")
    }

    func testDomainPrefixAndCaseOfTheNameAreAccepted() throws {
        let (outcome, _) = try converse(identity: "CORP\\bob", password: "b0b")
        guard case .succeeded(_, let user, _) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(user, "Bob")
    }

    func testWrongPasswordIsRefusedWithError691AndNoRetry() throws {
        var random = SplitMix64(seed: 1)
        var server = EAPMSCHAPv2Server(users: try users(), firstIdentifier: 0)
        var client = EAPTestClient(identity: "alice", password: "wrong")
        let identity = try XCTUnwrap(try client.answer(server.start().serialize()))
        guard case .send(let challenge) = server.handle(identity, random: &random) else { return XCTFail() }
        let response = try XCTUnwrap(try client.answer(challenge.serialize()))
        guard case .refusing(let failureRequest, let failure) = server.handle(response, random: &random) else {
            return XCTFail()
        }
        XCTAssertEqual(failure, .wrongPassword(user: "alice"))
        XCTAssertEqual(failure.description, "wrong password for user alice")
        let ack = try XCTUnwrap(try client.answer(failureRequest.serialize()))
        XCTAssertTrue(try XCTUnwrap(client.refusedWith).hasPrefix("E=691 R=0 C="))
        XCTAssertTrue(try XCTUnwrap(client.refusedWith).contains(" V=3 M="))
        guard case .failed(let eapFailure, let again, let reported) = server.handle(ack, random: &random) else {
            return XCTFail()
        }
        XCTAssertEqual(eapFailure.code, .failure)
        XCTAssertEqual(again, failure)
        XCTAssertTrue(reported)
        XCTAssertTrue(server.isFinished)
    }

    func testUnknownUserLooksLikeAWrongPasswordToThePeer() throws {
        var random = SplitMix64(seed: 1)
        var server = EAPMSCHAPv2Server(users: try users(), firstIdentifier: 0)
        var client = EAPTestClient(identity: "mallory", password: "x")
        let identity = try XCTUnwrap(try client.answer(server.start().serialize()))
        guard case .send(let challenge) = server.handle(identity, random: &random) else { return XCTFail() }
        let response = try XCTUnwrap(try client.answer(challenge.serialize()))
        guard case .refusing(let packet, .unknownUser("mallory")) = server.handle(response, random: &random) else {
            return XCTFail()
        }
        guard case .failureRequest(_, let text)? = try? MSCHAPv2Packet(parsing: packet.data, isRequest: true) else {
            return XCTFail()
        }
        XCTAssertTrue(text.hasPrefix("E=691 R=0"))
    }

    func testNakAndGarbageEndInEAPFailure() throws {
        var random = SplitMix64(seed: 1)
        var server = EAPMSCHAPv2Server(users: try users(), firstIdentifier: 9)
        _ = server.start()
        guard case .failed(let failure, .methodRefused, false) = server.handle([2, 9, 0, 6, 3, 13], random: &random)
        else { return XCTFail() }
        XCTAssertEqual(failure.serialize(), [4, 9, 0, 4])
        var other = EAPMSCHAPv2Server(users: try users(), firstIdentifier: 9)
        _ = other.start()
        guard case .failed(_, .malformed, _) = other.handle([2, 8, 0, 5, 1], random: &random) else {
            return XCTFail("a wrong identifier")
        }
    }

    func testRandomInputNeverTraps() throws {
        var random = SplitMix64(seed: 99)
        for round in 0..<3000 {
            var server = EAPMSCHAPv2Server(users: try users(), firstIdentifier: UInt8(round & 0xff))
            _ = server.start()
            for _ in 0..<3 {
                var bytes = random.bytes(Int(random.next() % 70))
                if bytes.count >= 5 {
                    bytes[0] = 2
                    bytes[1] = UInt8(round & 0xff)
                    bytes[2] = 0
                    bytes[3] = UInt8(bytes.count)
                    bytes[4] = random.next() % 2 == 0 ? 1 : 26
                }
                _ = server.handle(bytes, random: &random)
            }
        }
    }
}
