import Foundation
import IsthmusTestSupport
import XCTest

@testable import IsthmusPKI

final class ChainVerifierTests: XCTestCase {
    private func verify(
        _ pki: TestPKI, _ leaf: [UInt8], intermediates: [[UInt8]] = [], revoked: RevocationList = RevocationList(),
        at time: Date = TestPKI.during, maximumChainLength: Int = 4, roots: [[UInt8]]? = nil
    ) -> Result<VerifiedCertificate, CertificateFailure> {
        CertificateChainVerifier(
            trustRootsDER: roots ?? [pki.rootDER], revoked: revoked, maximumChainLength: maximumChainLength
        ).verify(leafDER: leaf, intermediatesDER: intermediates, at: time)
    }

    private func failure(_ result: Result<VerifiedCertificate, CertificateFailure>) -> CertificateFailure? {
        if case .failure(let failure) = result { return failure }
        return nil
    }

    func testLeafIssuedByTheRootVerifies() throws {
        let pki = try TestPKI()
        let leaf = try pki.leaf(serial: [0x00, 0xab, 0xcd])
        let verified = try verify(pki, leaf.der).get()
        XCTAssertEqual(verified.subjectText, "C=CH, O=Isthmus, CN=alice")
        XCTAssertEqual(verified.issuerText, "C=CH, O=Isthmus, CN=Test Root CA")
        XCTAssertEqual(verified.subjectAltNames, [.email("alice@example.com")])
        XCTAssertEqual(verified.serialHex, "abcd")
        XCTAssertEqual(verified.sha256Thumbprint.count, 64)
        XCTAssertEqual(verified.notAfter, TestPKI.end)
        XCTAssertEqual(verified.chainLength, 2)
        let credential = try pki.credential(leaf)
        let signature = try credential.sign([1, 2, 3], scheme: .ecdsaSHA256)
        XCTAssertTrue(verified.publicKey.verify(signature, over: [1, 2, 3], scheme: .ecdsaSHA256))
    }

    func testRSARootAndLeafVerify() throws {
        let pki = try TestPKI(kind: .rsa2048)
        let leaf = try pki.leaf(kind: .rsa2048)
        XCTAssertEqual(try verify(pki, leaf.der).get().publicKey.keyDescription, "RSA 2048")
    }

    func testIntermediatesInAnyOrderAndUnrelatedOnesAreIgnored() throws {
        let pki = try TestPKI()
        let intermediate = try pki.intermediate()
        let leaf = try pki.leaf(issuer: intermediate)
        let unrelated = try TestPKI(name: "CN=Somebody else").intermediate(name: "CN=Unrelated")
        let verified = try verify(pki, leaf.der, intermediates: [unrelated.der, intermediate.der]).get()
        XCTAssertEqual(verified.chainLength, 3)
        XCTAssertEqual(verified.issuerText, "C=CH, O=Isthmus, CN=Test Intermediate")
        // Without the intermediate the leaf's issuer is unknown.
        XCTAssertEqual(failure(verify(pki, leaf.der)), .unknownIssuer("C=CH, O=Isthmus, CN=alice"))
    }

    func testUnknownIssuer() throws {
        let pki = try TestPKI()
        let stranger = try TestPKI(name: "C=CH, O=Elsewhere, CN=Other CA")
        let leaf = try stranger.leaf(name: "CN=mallory")
        XCTAssertEqual(failure(verify(pki, leaf.der)), .unknownIssuer("CN=mallory"))
        XCTAssertEqual(failure(verify(pki, leaf.der, roots: [])), .unknownIssuer("CN=mallory"))
    }

    /// A root of the same name but another key: the name matches, the signature does not.
    func testSameNameOtherKeyIsABadSignature() throws {
        let pki = try TestPKI()
        let impostor = try TestPKI()
        let leaf = try impostor.leaf(name: "CN=mallory")
        XCTAssertEqual(failure(verify(pki, leaf.der)), .badSignature("CN=mallory"))
    }

    func testExpiredAndNotYetValid() throws {
        let pki = try TestPKI()
        let leaf = try pki.leaf(
            notBefore: TestPKI.start.addingTimeInterval(10 * 86_400),
            notAfter: TestPKI.start.addingTimeInterval(20 * 86_400))
        XCTAssertEqual(
            failure(verify(pki, leaf.der, at: TestPKI.start.addingTimeInterval(5 * 86_400))),
            .notYetValid("C=CH, O=Isthmus, CN=alice"))
        XCTAssertEqual(
            failure(verify(pki, leaf.der, at: TestPKI.start.addingTimeInterval(21 * 86_400))),
            .expired("C=CH, O=Isthmus, CN=alice"))
        XCTAssertNoThrow(try verify(pki, leaf.der, at: TestPKI.start.addingTimeInterval(15 * 86_400)).get())
        // The root's own validity counts too.
        let longLeaf = try pki.leaf(notAfter: TestPKI.end.addingTimeInterval(3 * 365 * 86_400))
        XCTAssertEqual(
            failure(verify(pki, longLeaf.der, at: TestPKI.end.addingTimeInterval(2 * 365 * 86_400))),
            .expired("C=CH, O=Isthmus, CN=Test Root CA"))
    }

    func testRevokedBySerialAndByThumbprint() throws {
        let pki = try TestPKI()
        let leaf = try pki.leaf(serial: [0x00, 0x12, 0x34])
        var bySerial = RevocationList()
        bySerial.serials = ["1234"]
        XCTAssertEqual(failure(verify(pki, leaf.der, revoked: bySerial)), .revoked("C=CH, O=Isthmus, CN=alice"))
        let details = try CertificateDetails(der: leaf.der)
        var byThumbprint = RevocationList()
        byThumbprint.sha256Thumbprints = [details.sha256Thumbprint]
        XCTAssertEqual(failure(verify(pki, leaf.der, revoked: byThumbprint)), .revoked("C=CH, O=Isthmus, CN=alice"))
        var bySHA1 = RevocationList()
        bySHA1.sha1Thumbprints = [details.sha1Thumbprint]
        XCTAssertEqual(failure(verify(pki, leaf.der, revoked: bySHA1)), .revoked("C=CH, O=Isthmus, CN=alice"))
        var other = RevocationList()
        other.serials = ["12345678"]
        XCTAssertNoThrow(try verify(pki, leaf.der, revoked: other).get())
    }

    func testRevokedIntermediateRevokesItsLeaves() throws {
        let pki = try TestPKI()
        let intermediate = try pki.intermediate()
        let leaf = try pki.leaf(issuer: intermediate)
        var list = RevocationList()
        list.sha256Thumbprints = [try CertificateDetails(der: intermediate.der).sha256Thumbprint]
        XCTAssertEqual(
            failure(verify(pki, leaf.der, intermediates: [intermediate.der], revoked: list)),
            .revoked("C=CH, O=Isthmus, CN=Test Intermediate"))
    }

    func testWrongKeyUsage() throws {
        let pki = try TestPKI()
        var noSignature = CertificateProfile.client
        noSignature.digitalSignature = false
        let leaf = try pki.leaf(profile: noSignature)
        let outcome = failure(verify(pki, leaf.der))
        guard case .keyUsage(let detail) = outcome else { return XCTFail("\(String(describing: outcome))") }
        XCTAssertTrue(detail.contains("CN=alice"), detail)
        // A leaf (not a CA) that signed another certificate is not an issuer.
        let notCA = try pki.leaf(name: "CN=not a CA")
        let below = try pki.leaf(name: "CN=below", issuer: notCA)
        guard case .keyUsage(let caDetail) = failure(verify(pki, below.der, intermediates: [notCA.der])) else {
            return XCTFail("accepted")
        }
        XCTAssertTrue(caDetail.contains("not a certificate authority"), caDetail)
    }

    func testPathLengthConstraint() throws {
        let pki = try TestPKI()
        let upper = try pki.intermediate(name: "CN=Upper", pathLength: 0)
        let lower = try pki.intermediate(name: "CN=Lower", issuer: upper)
        let leaf = try pki.leaf(issuer: lower)
        guard case .keyUsage = failure(verify(pki, leaf.der, intermediates: [lower.der, upper.der])) else {
            return XCTFail("a path longer than the constraint was accepted")
        }
    }

    func testChainTooLong() throws {
        let pki = try TestPKI()
        var issuer = (der: pki.rootDER, key: pki.rootKey)
        var intermediates: [[UInt8]] = []
        for level in 1...3 {
            issuer = try pki.intermediate(name: "CN=Level \(level)", issuer: issuer)
            intermediates.append(issuer.der)
        }
        let leaf = try pki.leaf(issuer: issuer)
        // Leaf, three intermediates and the root: five certificates.
        XCTAssertEqual(failure(verify(pki, leaf.der, intermediates: intermediates)), .chainTooLong(5))
        XCTAssertEqual(
            try verify(pki, leaf.der, intermediates: intermediates, maximumChainLength: 5).get().chainLength, 5)
        // More certificates offered than any path may use.
        let flood = Array(repeating: intermediates[0], count: CertificateChainVerifier.maximumOfferedIntermediates + 1)
        XCTAssertEqual(failure(verify(pki, leaf.der, intermediates: flood)), .chainTooLong(18))
    }

    func testGarbageIsMalformedNeverACrash() throws {
        let pki = try TestPKI()
        let leaf = try pki.leaf()
        let inputs: [[UInt8]] = [
            [], [0x30], [0x30, 0x80], [0xff, 0xff], Array(leaf.der.prefix(100)), Array(leaf.der.dropLast()),
        ]
        for input in inputs {
            guard case .malformed = failure(verify(pki, input)) else { return XCTFail("\(input.prefix(4)) accepted") }
            guard case .malformed = failure(verify(pki, leaf.der, intermediates: [input])) else {
                return XCTFail("intermediate \(input.prefix(4)) accepted")
            }
        }
        // Every single-byte change of a real certificate: refused one way or another, or (in an unsigned
        // field the parser ignores) accepted; never a trap.
        var generator = SystemRandomNumberGenerator()
        for index in leaf.der.indices {
            var mutated = leaf.der
            mutated[index] ^= UInt8.random(in: 1...255, using: &generator)
            _ = verify(pki, mutated)
        }
        // Garbage roots are left out, not fatal.
        XCTAssertEqual(CertificateChainVerifier(trustRootsDER: [[0x30], pki.rootDER], revoked: .init()).rootCount, 1)
    }

    /// 3000 certificates with 1 to 8 random bytes changed (half of them also cut short), as leaf and as
    /// intermediate, through the verifier and the details reader: every one refused, none traps.
    func testRandomMutationsNeverCrash() throws {
        let pki = try TestPKI()
        let intermediate = try pki.intermediate()
        let leaf = try pki.leaf(issuer: intermediate)
        var generator = SplitMix64(seed: 14)
        var accepted = 0
        for round in 0..<3000 {
            var mutated = round.isMultiple(of: 2) ? leaf.der : intermediate.der
            // Distinct positions, each XORed with a non-zero byte: the certificate really changes.
            var positions = Set<Int>()
            let changes = Int.random(in: 1...8, using: &generator)
            while positions.count < changes { positions.insert(Int.random(in: 0..<mutated.count, using: &generator)) }
            for index in positions { mutated[index] ^= UInt8.random(in: 1...255, using: &generator) }
            if Bool.random(using: &generator) {
                mutated = Array(mutated.prefix(Int.random(in: 0...mutated.count, using: &generator)))
            }
            _ = try? CertificateDetails(der: mutated)
            let result =
                round.isMultiple(of: 2)
                ? verify(pki, mutated, intermediates: [intermediate.der])
                : verify(pki, leaf.der, intermediates: [mutated])
            if case .success = result { accepted += 1 }
        }
        // Every byte is either DER structure or signed (or the signature): no mutation may pass.
        XCTAssertEqual(accepted, 0)
    }

    func testEveryFailureDescriptionIsOneSentenceNamingTheSubject() {
        let failures: [CertificateFailure] = [
            .unknownIssuer("CN=a"), .expired("CN=a"), .notYetValid("CN=a"), .revoked("CN=a"), .badSignature("CN=a"),
        ]
        for failure in failures {
            XCTAssertTrue(failure.description.contains("'CN=a'"), failure.description)
            XCTAssertTrue(failure.description.hasSuffix("."), failure.description)
        }
        XCTAssertEqual(
            CertificateFailure.chainTooLong(5).description,
            "The certificate chain has 5 certificates, more than allowed.")
    }
}
