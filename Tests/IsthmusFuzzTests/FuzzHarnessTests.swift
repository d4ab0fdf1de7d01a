import IsthmusEvents
import IsthmusFuzzSupport
import XCTest

/// The fuzz harness itself: its seeds reach every phase of both IKE versions with the two ends agreeing,
/// and a mutation reaches the code behind the integrity check (the receiver authenticates the re-sealed
/// message and then rejects what was changed).
final class FuzzHarnessTests: XCTestCase {
    typealias V2 = FuzzPair<IKEv2FuzzCore>
    typealias V1 = FuzzPair<IKEv1FuzzCore>

    func seed(_ seeds: [(String, [UInt8])], _ suffix: String) -> [UInt8] {
        seeds.first { $0.0.hasSuffix(suffix) }!.1
    }

    func assertPaired<Core>(_ pair: FuzzPair<Core>, _ name: String, file: StaticString = #filePath, line: UInt = #line)
    {
        XCTAssertEqual(pair.violations, [], name, file: file, line: line)
        XCTAssertFalse(pair.tampered, name, file: file, line: line)
        let initiator = pair.installed[.initiator, default: [:]]
        let responder = pair.installed[.responder, default: [:]]
        XCTAssertFalse(initiator.isEmpty, "\(name): no CHILD SA installed", file: file, line: line)
        for sa in initiator.values {
            XCTAssertEqual(responder[sa.outboundSPI]?.outboundSPI, sa.inboundSPI, name, file: file, line: line)
        }
    }

    func testIKEv2EAPSeedReachesTheEAPPhase() throws {
        let variant = try XCTUnwrap(
            (0..<UInt8(FuzzConfigurations.ikev2VariantCount)).first { FuzzConfigurations.ikev2HasEAP($0) })
        let pair = V2.run(seed(FuzzSeeds.ikev2(variant: variant), "-eap-identity"))
        XCTAssertEqual(pair.violations, [])
        XCTAssertFalse(pair.kinds(.responder).contains(.ikeSAEstablished))
        // The forged Response/Identity guesses the EAP identifier: a wrong guess is refused as EAP-MSCHAPv2.
        let eapEvents = pair.events[.responder, default: []].filter { $0.details["method"] == "eap-mschapv2" }
        XCTAssertEqual(eapEvents.map(\.kind), [.authenticationFailed], "the responder took the EAP path")
    }

    func testIKEv2SeedsReachEveryPhase() {
        for variant: UInt8 in [0, 1, 2, 3, 4, 5] {
            let seeds = FuzzSeeds.ikev2(variant: variant)
            let established = V2.run(seed(seeds, "-establish"))
            assertPaired(established, "v\(variant) establish")
            XCTAssertTrue(established.kinds(.initiator).contains(.ikeSAEstablished))
            XCTAssertTrue(established.kinds(.responder).contains(.ikeSAEstablished))
            // Variant 5 is a point-to-site client: its address comes from the CP exchange.
            XCTAssertEqual(established.kinds(.responder).contains(.clientConnected), variant == 5, "v\(variant)")

            let childRekey = V2.run(seed(seeds, "-child-rekey-r"))
            assertPaired(childRekey, "v\(variant) child rekey")
            XCTAssertTrue(childRekey.kinds(.initiator).contains(.childSARekeyed), "v\(variant)")

            let ikeRekey = V2.run(seed(seeds, "-ike-rekey-i"))
            assertPaired(ikeRekey, "v\(variant) IKE rekey")
            XCTAssertTrue(ikeRekey.kinds(.responder).contains(.ikeSARekeyed), "v\(variant)")

            let deleted = V2.run(seed(seeds, "-delete-i"))
            XCTAssertEqual(deleted.violations, [])
            XCTAssertTrue(deleted.kinds(.responder).contains(.ikeSADeleted), "v\(variant)")
            XCTAssertEqual(deleted.installed[.responder, default: [:]].count, 0, "v\(variant)")
        }
    }

    func testIKEv1SeedsReachEveryPhase() {
        for variant: UInt8 in [0, 1] {
            let seeds = FuzzSeeds.ikev1(variant: variant)
            let established = V1.run(seed(seeds, "-establish"))
            assertPaired(established, "v\(variant) establish")
            XCTAssertTrue(established.kinds(.initiator).contains(.ikeSAEstablished))
            XCTAssertTrue(established.kinds(.responder).contains(.childSAInstalled))

            let quickModeRekey = V1.run(seed(seeds, "-quick-mode-rekey-i"))
            assertPaired(quickModeRekey, "v\(variant) Quick Mode rekey")
            XCTAssertTrue(quickModeRekey.kinds(.initiator).contains(.childSARekeyed), "v\(variant)")

            let replaced = V1.run(seed(seeds, "-phase1-replace-i"))
            assertPaired(replaced, "v\(variant) phase 1 replacement")
            XCTAssertTrue(replaced.kinds(.responder).contains(.ikeSARekeyed), "v\(variant)")
            XCTAssertTrue(replaced.kinds(.initiator).contains(.ikeSADeleted), "v\(variant)")

            let deleted = V1.run(seed(seeds, "-delete-i"))
            XCTAssertEqual(deleted.violations, [])
            XCTAssertTrue(deleted.kinds(.responder).contains(.ikeSADeleted), "v\(variant)")
        }
    }

    /// IKE_AUTH request (the third delivery) with its first payload, IDi, replaced by another identity: the
    /// responder opens the re-sealed message (no integrity failure, nothing dropped) and finds that AUTH,
    /// which covers IDi, does not verify.
    func testIKEv2MutationPassesIntegrityCheck() {
        let idi: [UInt8] = [1, 0, 0, 0, 192, 0, 2, 99]
        let mutate: [UInt8] = [V2.Command.mutate.rawValue, 0, 10, 0, UInt8(idi.count)] + idi
        let pair = V2.run([0, V2.Command.initiate.rawValue, 0, 0] + mutate)
        XCTAssertEqual(pair.violations, [])
        XCTAssertTrue(pair.tampered)
        let failures = pair.events[.responder, default: []].filter { $0.kind == .authenticationFailed }
        XCTAssertTrue(failures.contains { $0.message.contains("AUTH does not verify") }, "\(failures)")
        XCTAssertFalse(pair.kinds(.responder).contains(.messageDropped))
        XCTAssertFalse(pair.kinds(.responder).contains(.ikeSAEstablished))
    }

    /// Quick Mode message 1 (the seventh delivery) without its SA payload (the second): the responder's HASH(1)
    /// check passes (computed again over the changed chain) and the missing payload is what it reports; the
    /// initiator's retransmission of the original then completes the Quick Mode.
    func testIKEv1MutationPassesHashCheck() {
        let deliveries = [UInt8](repeating: V1.Command.deliver.rawValue, count: 6)
        let mutate: [UInt8] = [V1.Command.mutate.rawValue, 0, 0, 1]
        let pair = V1.run([0, V1.Command.initiate.rawValue] + deliveries + mutate)
        XCTAssertEqual(pair.violations, [])
        XCTAssertTrue(pair.tampered)
        let messages = pair.events[.responder, default: []].map(\.message)
        XCTAssertFalse(messages.contains { $0.contains("HASH") }, "\(messages)")
        XCTAssertTrue(messages.contains { $0.contains("Quick Mode message 1 without SA") }, "\(messages)")
        XCTAssertTrue(pair.kinds(.initiator).contains(.retransmit))
        XCTAssertEqual(pair.installed[.responder, default: [:]].count, 1)
    }

    /// The key invariant is not vacuous: the IKE SA rekey response (sixth delivery) with a byte of Nr (its second
    /// payload) changed makes the initiator derive other keys than the responder for the same new SPIs. Such a
    /// run is tampered, so the pair does not count it; asked directly, the core reports the divergence.
    func testKeyInvariantSeesDivergedKeys() {
        let deliver = V2.Command.deliver.rawValue
        let rekey: [UInt8] = [V2.Command.fireTimer.rawValue, 1, 0]
        let changeNonce: [UInt8] = [V2.Command.mutate.rawValue, 0, 5, 1, 0, 0xAA]
        let pair = V2.run(
            [0, V2.Command.initiate.rawValue] + [deliver, deliver, deliver, deliver] + rekey
                + [deliver] + changeNonce)
        XCTAssertTrue(pair.tampered)
        XCTAssertEqual(pair.violations, [])
        XCTAssertTrue(pair.kinds(.initiator).contains(.ikeSARekeyed))
        let divergence = pair.core.violations(keysComparable: true)
        XCTAssertEqual(divergence.count, 1)
        XCTAssertTrue(divergence.first?.contains("different keys") ?? false, "\(divergence)")
    }
}
