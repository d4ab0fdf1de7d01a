import IsthmusCrypto
import XCTest

final class IsthmusCryptoErrorTests: XCTestCase {
    /// Logs show these texts (IKE events quote the error): they keep the words they had before the three error
    /// types of the module became one.
    func testDescriptionKeepsTheLoggedText() {
        XCTAssertEqual(
            IsthmusCryptoError.unsupportedGroup(99).description,
            "KeyExchangeError.unsupportedGroup: Diffie-Hellman group 99")
        XCTAssertEqual(
            IsthmusCryptoError.keyExchangeBackendFailure("BN_new failed").description,
            "KeyExchangeError.backendFailure: BN_new failed")
        XCTAssertEqual(
            IsthmusCryptoError.outputTooLong("too much").description, "KeyDerivationError.outputTooLong: too much")
        XCTAssertEqual(
            IsthmusCryptoError.invalidKeySize(expected: 16, got: 3).description,
            "CryptoSuiteError.invalidKeySize: expected 16 bytes of key material, got 3")
        XCTAssertEqual(
            IsthmusCryptoError.authenticationFailure().description,
            "CryptoSuiteError.authenticationFailure: integrity check value did not verify")
    }

    func testCodeIsWhatCompares() {
        XCTAssertEqual(IsthmusCryptoError.backendFailure("a"), IsthmusCryptoError.keyExchangeBackendFailure("b"))
        XCTAssertEqual(IsthmusCryptoError.backendFailure("a").code, .backendFailure)
        XCTAssertNotEqual(IsthmusCryptoError.invalidParameter("a"), IsthmusCryptoError.outputTooLong("a"))
        XCTAssertEqual(Set([IsthmusCryptoError.invalidPacketLayout("a"), .invalidPacketLayout("b")]).count, 1)
    }

    func testDebugDescriptionSaysWhereItWasThrown() {
        let error = IsthmusCryptoError.invalidParameter("negative key length")
        let line = #line - 1
        XCTAssertEqual(
            error.debugDescription,
            "KeyDerivationError.invalidParameter: negative key length (IsthmusCryptoTests/IsthmusCryptoErrorTests.swift:"
                + "\(line))")
    }
}
