import IsthmusCrypto
import IsthmusTestSupport
import XCTest

/// RFC 2759 section 9.2 and RFC 3079 section 3.5 byte for byte, and the MSK as strongSwan builds it.
final class MSCHAPv2Tests: XCTestCase {
    let userName = Array("User".utf8)
    let password = "clientPass"
    let authenticatorChallenge = [UInt8](hex: "5B5D7C7D7B3F2F3E3C2C602132262628")
    let peerChallenge = [UInt8](hex: "21402324255E262A28295F2B3A337C7E")
    let ntResponse = [UInt8](hex: "82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")

    func testRFC2759SectionNine() throws {
        let passwordHash = try MSCHAPv2Crypto.ntPasswordHash(password: password)
        XCTAssertEqual(passwordHash.copyBytes(), [UInt8](hex: "44EBBA8D5312B8D611474411F56989AE"))
        XCTAssertEqual(
            try MSCHAPv2Crypto.hashNtPasswordHash(passwordHash).copyBytes(),
            [UInt8](hex: "41C00C584BD2D91C4017A2A12FA59F3F"))
        let hash = MSCHAPv2Crypto.challengeHash(
            peerChallenge: peerChallenge, authenticatorChallenge: authenticatorChallenge, userName: userName)
        XCTAssertEqual(hash, [UInt8](hex: "D02E4386BCE91226"))
        XCTAssertEqual(
            try MSCHAPv2Crypto.ntResponse(
                authenticatorChallenge: authenticatorChallenge, peerChallenge: peerChallenge, userName: userName,
                passwordHash: passwordHash),
            ntResponse)
        XCTAssertEqual(
            try MSCHAPv2Crypto.authenticatorResponse(
                passwordHash: passwordHash, ntResponse: ntResponse, peerChallenge: peerChallenge,
                authenticatorChallenge: authenticatorChallenge, userName: userName),
            "S=407A5589115FD0D6209F510FE9C04566932CDA56")
    }

    func testDomainPrefixIsNotHashed() {
        let plain = MSCHAPv2Crypto.challengeHash(
            peerChallenge: peerChallenge, authenticatorChallenge: authenticatorChallenge, userName: userName)
        let withDomain = MSCHAPv2Crypto.challengeHash(
            peerChallenge: peerChallenge, authenticatorChallenge: authenticatorChallenge,
            userName: Array("CORP\\User".utf8))
        XCTAssertEqual(plain, withDomain)
    }

    func testRFC3079KeysAndTheMSK() throws {
        let passwordHash = try MSCHAPv2Crypto.ntPasswordHash(password: password)
        let master = MSCHAPv2Crypto.masterKey(
            passwordHashHash: try MSCHAPv2Crypto.hashNtPasswordHash(passwordHash), ntResponse: ntResponse)
        XCTAssertEqual(master.copyBytes(), [UInt8](hex: "FDECE3717A8C838CB388E527AE3CDD31"))
        // Section 3.5.3: the server's 128-bit send start key.
        let send = MSCHAPv2Crypto.asymmetricStartKey(masterKey: master, isSend: true, isServer: true)
        XCTAssertEqual(send.copyBytes(), [UInt8](hex: "8B7CDC149B993A1BA118CB153F56DCCB"))
        // The client's receive key is the server's send key, and the other way round.
        XCTAssertEqual(MSCHAPv2Crypto.asymmetricStartKey(masterKey: master, isSend: false, isServer: false), send)
        let receive = MSCHAPv2Crypto.asymmetricStartKey(masterKey: master, isSend: false, isServer: true)
        XCTAssertEqual(MSCHAPv2Crypto.asymmetricStartKey(masterKey: master, isSend: true, isServer: false), receive)
        XCTAssertNotEqual(send, receive)
        let msk = try MSCHAPv2Crypto.msk(passwordHash: passwordHash, ntResponse: ntResponse).copyBytes()
        XCTAssertEqual(msk.count, 64)
        XCTAssertEqual(Array(msk[0..<16]), receive.copyBytes())
        XCTAssertEqual(Array(msk[16..<32]), send.copyBytes())
        XCTAssertEqual(Array(msk[32...]), [UInt8](repeating: 0, count: 32))
    }

    func testWrongPasswordGivesAnotherResponse() throws {
        let wrong = try MSCHAPv2Crypto.ntPasswordHash(password: "clientPasS")
        XCTAssertNotEqual(
            try MSCHAPv2Crypto.ntResponse(
                authenticatorChallenge: authenticatorChallenge, peerChallenge: peerChallenge, userName: userName,
                passwordHash: wrong),
            ntResponse)
    }

    func testNonASCIIPasswordsAreUTF16LittleEndian() throws {
        // MD4 of "\u{e9}" as UTF-16LE (e9 00), computed independently: openssl dgst -md4 -provider legacy.
        XCTAssertEqual(
            try MSCHAPv2Crypto.ntPasswordHash(password: "\u{e9}").copyBytes(),
            [UInt8](hex: "e77286d072c7858e9110cc3a011d2ac8"))
    }

    func testBadLengthsAreErrorsNotTraps() {
        XCTAssertThrowsError(
            try MSCHAPv2Crypto.challengeResponse(challengeHash: [1, 2, 3], passwordHash: SecretBytes([1])))
    }
}
