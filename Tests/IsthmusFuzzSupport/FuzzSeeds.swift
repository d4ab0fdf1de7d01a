/// Seed scripts: each phase of each IKE version run through once as it should go, and the whole life of an SA
/// with one mutation at each message, so the fuzzer starts from inputs that reach every exchange.
public enum FuzzSeeds {
    typealias C = FuzzPair<IKEv2FuzzCore>.Command

    /// Command bytes (see ``FuzzPair/Command``).
    static let initiate = [C.initiate.rawValue]
    static let deliverAll = [C.deliverAll.rawValue]
    static let deliver = [C.deliver.rawValue]
    static func fire(_ kind: Int, _ side: FuzzSide) -> [UInt8] {
        [C.fireTimer.rawValue, UInt8(kind), UInt8(side.rawValue)]
    }
    static func terminate(_ side: FuzzSide) -> [UInt8] { [C.terminate.rawValue, UInt8(side.rawValue)] }
    static func advance(seconds: Int) -> [UInt8] { [C.advanceClock.rawValue, UInt8(seconds / 4)] }

    /// Timer kinds as ``FuzzPair/kindIndex(_:)`` numbers them.
    static let rekeyIKE = 1, rekeyChild = 2, liveness = 4, startQueued = 7

    /// `(name, script)` per phase; the first byte of a script is the configuration variant.
    public static func ikev2(variant: UInt8) -> [(String, [UInt8])] {
        let establish = [initiate, deliverAll]
        let phases: [(String, [[UInt8]])] = [
            ("establish", []),
            ("child-rekey-i", [fire(rekeyChild, .initiator), deliverAll]),
            ("child-rekey-r", [fire(rekeyChild, .responder), deliverAll]),
            ("ike-rekey-i", [fire(rekeyIKE, .initiator), deliverAll]),
            ("ike-rekey-r", [fire(rekeyIKE, .responder), deliverAll]),
            ("dpd", [advance(seconds: 60), fire(liveness, .initiator), deliverAll]),
            ("delete-i", [terminate(.initiator), deliverAll]),
            ("delete-r", [terminate(.responder), deliverAll]),
        ]
        var seeds = named("ikev2", variant, establish, phases)
        if FuzzConfigurations.ikev2HasEAP(variant) {
            // The initiator's IKE_AUTH without its AUTH (payload 2) enters the responder's EAP phase; then a
            // forged IKE_AUTH (message 2) with an EAP Response/Identity "alice" (payload type 33 + 15 = 48).
            let identity: [UInt8] = [2, 0, 0, 10, 1] + Array("alice".utf8)
            let forged = [C.forge.rawValue, 0, 2, 2, 1, 15, UInt8(identity.count)] + identity
            let script = [initiate, deliver, deliver, [C.mutate.rawValue, 0, 0, 2], deliverAll, forged, deliverAll]
            seeds.append(("ikev2-v\(variant)-eap-identity", [variant] + script.flatMap { $0 }))
        }
        return seeds
    }

    public static func ikev1(variant: UInt8) -> [(String, [UInt8])] {
        let establish = [initiate, deliverAll, fire(startQueued, .initiator), deliverAll]
        let phases: [(String, [[UInt8]])] = [
            ("establish", []),
            ("quick-mode-rekey-i", [fire(rekeyChild, .initiator), deliverAll]),
            ("quick-mode-rekey-r", [fire(rekeyChild, .responder), deliverAll]),
            ("phase1-replace-i", [fire(rekeyIKE, .initiator), deliverAll, fire(startQueued, .initiator), deliverAll]),
            ("phase1-replace-r", [fire(rekeyIKE, .responder), deliverAll, fire(startQueued, .responder), deliverAll]),
            ("dpd", [advance(seconds: 60), fire(liveness, .initiator), deliverAll]),
            ("delete-i", [terminate(.initiator), deliverAll]),
            ("delete-r", [terminate(.responder), deliverAll]),
        ]
        return named("ikev1", variant, establish, phases)
    }

    /// Each phase after `establish`, then the whole life (every phase in turn) with its deliveries one by one
    /// and one payload mutation at each message in turn.
    static func named(_ version: String, _ variant: UInt8, _ establish: [[UInt8]], _ phases: [(String, [[UInt8]])])
        -> [(String, [UInt8])]
    {
        var seeds = phases.map { name, steps in
            ("\(version)-v\(variant)-\(name)", [variant] + (establish + steps).flatMap { $0 })
        }
        let whole = (establish + phases.flatMap(\.1)).flatMap { command in
            command == deliverAll ? [[UInt8]](repeating: deliver, count: 6) : [command]
        }
        let deliveries = whole.indices.filter { whole[$0] == deliver }
        for (number, position) in deliveries.enumerated() {
            var script = whole
            // Mutate (one mutation): set a byte of payload `number` to 0xff, or remove payload `number`.
            let mutation: [UInt8] =
                number % 3 == 2
                ? [0, UInt8(truncatingIfNeeded: number)]
                : [5, UInt8(truncatingIfNeeded: number), UInt8(truncatingIfNeeded: number * 7), 0xff]
            script[position] = [C.mutate.rawValue, 0] + mutation
            seeds.append(("\(version)-v\(variant)-mutate-\(number)", [variant] + script.flatMap { $0 }))
        }
        return seeds
    }
}
