import IsthmusIP
import XCTest

@testable import IsthmusIKE

final class AddressPoolTests: XCTestCase {
    private func address(_ text: String) -> IPAddress { try! IPAddress(parsing: text) }
    private func prefix(_ text: String) -> IPPrefix { try! IPPrefix(parsing: text) }

    func testSizeLeavesOutNetworkBroadcastAndExcludedPrefixes() {
        XCTAssertEqual(AddressPool(prefix: prefix("10.0.0.0/24")).size, 254)
        XCTAssertEqual(AddressPool(prefix: prefix("10.0.0.0/30")).size, 2)
        XCTAssertEqual(AddressPool(prefix: prefix("10.0.0.0/31")).size, 2)
        XCTAssertEqual(AddressPool(prefix: prefix("10.0.0.7/32")).size, 1)
        // The excluded /25 holds the network address: 128 excluded, then the broadcast address.
        XCTAssertEqual(AddressPool(prefix: prefix("10.0.0.0/24"), excluding: [prefix("10.0.0.0/25")]).size, 127)
        XCTAssertEqual(
            AddressPool(prefix: prefix("10.0.0.0/24"), excluding: [prefix("10.0.0.0/16"), prefix("10.0.0.4/30")])
                .size, 0)
        XCTAssertEqual(AddressPool(prefix: prefix("10.0.0.0/24"), excluding: [prefix("192.168.0.0/16")]).size, 254)
    }

    func testFirstLeasesAreTheFirstUsableAddresses() {
        var pool = AddressPool(prefix: prefix("10.0.0.0/24"))
        XCTAssertEqual(pool.lease(to: "alice"), .success(address("10.0.0.1")))
        XCTAssertEqual(pool.lease(to: "bob"), .success(address("10.0.0.2")))
        XCTAssertEqual(pool.inUse, 2)
        XCTAssertEqual(pool.holder(of: address("10.0.0.2")), "bob")
    }

    func testAReturningIdentityGetsItsAddressBack() {
        var pool = AddressPool(prefix: prefix("10.0.0.0/24"))
        _ = pool.lease(to: "alice")
        let bob = pool.lease(to: "bob")
        pool.release(address("10.0.0.2"), of: "bob")
        XCTAssertEqual(pool.lease(to: "carol"), .success(address("10.0.0.3")), "a never-used address comes first")
        XCTAssertEqual(pool.lease(to: "bob"), bob)
    }

    func testAnIdentityConnectedTwiceSharesItsAddressUntilBothRelease() {
        var pool = AddressPool(prefix: prefix("10.0.0.0/30"))
        _ = pool.lease(to: "alice")
        _ = pool.lease(to: "alice")
        pool.release(address("10.0.0.1"), of: "alice")
        XCTAssertEqual(pool.holder(of: address("10.0.0.1")), "alice")
        pool.release(address("10.0.0.1"), of: "alice")
        XCTAssertNil(pool.holder(of: address("10.0.0.1")))
        pool.release(address("10.0.0.1"), of: "alice")
        XCTAssertEqual(pool.inUse, 0)
    }

    func testARequestedAddressIsHonouredOnlyWhenFreeAndInsideThePool() {
        var pool = AddressPool(prefix: prefix("10.0.0.0/24"))
        XCTAssertEqual(pool.lease(to: "alice", requested: address("10.0.0.77")), .success(address("10.0.0.77")))
        XCTAssertEqual(pool.lease(to: "bob", requested: address("10.0.0.77")), .success(address("10.0.0.1")))
        XCTAssertEqual(pool.lease(to: "carol", requested: address("192.168.1.5")), .success(address("10.0.0.2")))
        XCTAssertEqual(pool.lease(to: "dave", requested: address("10.0.0.0")), .success(address("10.0.0.3")))
        XCTAssertEqual(pool.lease(to: "erin", requested: address("10.0.0.255")), .success(address("10.0.0.4")))
        pool.release(address("10.0.0.77"), of: "alice")
        XCTAssertEqual(
            pool.lease(to: "frank", requested: address("10.0.0.77")), .success(address("10.0.0.5")),
            "an address remembered for another identity is not given away while fresh ones remain")
    }

    func testExcludedAddressesAreNeverHandedOut() {
        var pool = AddressPool(prefix: prefix("10.0.0.0/29"), excluding: [prefix("10.0.0.0/30")])
        XCTAssertEqual(pool.size, 3)
        XCTAssertEqual(pool.lease(to: "a", requested: address("10.0.0.2")), .success(address("10.0.0.4")))
        XCTAssertEqual(pool.lease(to: "b"), .success(address("10.0.0.5")))
        XCTAssertEqual(pool.lease(to: "c"), .success(address("10.0.0.6")))
        XCTAssertEqual(pool.lease(to: "d"), .failure(.exhausted(pool: prefix("10.0.0.0/29"), size: 3)))
    }

    func testExhaustedThenOfflineAddressesAreReclaimedOldestFirst() {
        var pool = AddressPool(prefix: prefix("10.0.0.0/30"))
        _ = pool.lease(to: "a")
        _ = pool.lease(to: "b")
        guard case .failure(let error) = pool.lease(to: "c") else { return XCTFail("a full pool leased") }
        XCTAssertEqual(
            error.description,
            "the address pool 10.0.0.0/30 is exhausted: all 2 usable addresses are leased to connected clients")
        pool.release(address("10.0.0.2"), of: "b")
        pool.release(address("10.0.0.1"), of: "a")
        XCTAssertEqual(pool.lease(to: "c"), .success(address("10.0.0.2")), "b went offline first")
        XCTAssertEqual(pool.lease(to: "b"), .success(address("10.0.0.1")), "b's address is c's now")
        XCTAssertEqual(pool.lease(to: "a"), .failure(.exhausted(pool: prefix("10.0.0.0/30"), size: 2)))
    }

    func testAReleaseByAnotherIdentityChangesNothing() {
        var pool = AddressPool(prefix: prefix("10.0.0.0/24"))
        _ = pool.lease(to: "alice")
        pool.release(address("10.0.0.1"), of: "mallory")
        pool.release(address("10.0.0.9"), of: "alice")
        XCTAssertEqual(pool.holder(of: address("10.0.0.1")), "alice")
    }

    /// Random lease/release sequences: at every step each online address has one holder, every address
    /// handed out is usable, an identity holds one address, a returning identity whose address nobody took
    /// gets it back, and the pool is exhausted only when every usable address is online.
    func testRandomSequencesNeverHandOutAnAddressTwice() {
        var generator = SplitMix(seed: 0x1557_4b05)
        for round in 0..<40 {
            let length = Int(generator.next() % 5) + 26
            let base = prefix("10.0.0.0/\(length)")
            let excluded = generator.next() % 2 == 0 ? [prefix("10.0.0.8/30")] : []
            var pool = AddressPool(prefix: base, excluding: excluded)
            var held: [String: (address: IPAddress, count: Int)] = [:]
            var last: [String: IPAddress] = [:]
            let identities = (0..<(pool.size + 6)).map { "client\($0)" }
            for step in 0..<600 {
                let identity = identities[Int(generator.next() % UInt64(identities.count))]
                if generator.next() % 3 != 0 {
                    let requested = IPAddress(v4: 0x0A00_0000 + UInt32(generator.next() % 80))
                    switch pool.lease(to: identity, requested: generator.next() % 2 == 0 ? requested : nil) {
                    case .success(let address):
                        XCTAssertTrue(pool.isUsable(address), "round \(round) step \(step): \(address)")
                        if let current = held[identity] {
                            XCTAssertEqual(current.address, address, "an identity holds one address")
                        } else {
                            XCTAssertFalse(held.values.contains { $0.address == address }, "\(address) leased twice")
                            if let previous = last[identity], !held.values.contains(where: { $0.address == previous }),
                                !(last.contains { $0.key != identity && $0.value == previous })
                            {
                                XCTAssertEqual(address, previous, "a returning identity gets its address back")
                            }
                        }
                        held[identity, default: (address, 0)].count += 1
                        for (other, value) in last where other != identity && value == address {
                            last[other] = nil
                        }
                        last[identity] = address
                    case .failure:
                        XCTAssertNil(held[identity])
                        XCTAssertEqual(Set(held.values.map(\.address)).count, pool.size, "exhausted early")
                    }
                } else if let current = held[identity] {
                    pool.release(current.address, of: identity)
                    held[identity] = current.count > 1 ? (current.address, current.count - 1) : nil
                }
                XCTAssertEqual(pool.inUse, held.count)
                XCTAssertEqual(Set(held.values.map(\.address)).count, held.count)
                for (identity, value) in held { XCTAssertEqual(pool.holder(of: value.address), identity) }
            }
        }
    }

    func testRefusalOfRequestedAddresses() {
        let pool = AddressPool(
            prefix: try! IPPrefix(parsing: "10.0.0.0/24"), excluding: [try! IPPrefix(parsing: "10.0.0.128/25")])
        let pool24 = try! IPPrefix(parsing: "10.0.0.0/24")
        for text in ["192.0.2.7", "10.0.0.0", "10.0.0.255", "10.0.0.200"] {
            let requested = try! IPAddress(parsing: text)
            XCTAssertEqual(pool.refusal(ofRequested: requested), .notInPool(requested: requested, pool: pool24), text)
        }
        XCTAssertNil(pool.refusal(ofRequested: try! IPAddress(parsing: "10.0.0.5")))
        XCTAssertNil(pool.refusal(ofRequested: try! IPAddress(parsing: "0.0.0.0")), "0.0.0.0 is no request")
    }

    func testAChangedPoolKeepsTheLeasesOfConnectedClients() {
        let shared = SharedAddressPool(AddressPool(prefix: try! IPPrefix(parsing: "10.0.0.0/30")))
        let a = try! shared.lease(to: "a", requested: nil).get()
        let b = try! shared.lease(to: "b", requested: nil).get()
        shared.reconfigure(prefix: try! IPPrefix(parsing: "10.0.0.0/29"), excluding: [])
        var handed: [IPAddress] = []
        for index in 0..<4 { handed.append(try! shared.lease(to: "new\(index)", requested: nil).get()) }
        XCTAssertFalse(handed.contains(a) || handed.contains(b), "a held address handed out again: \(handed)")
        XCTAssertEqual(shared.snapshot.inUse, 6)
        XCTAssertEqual(try! shared.lease(to: "a", requested: nil).get(), a, "a second SA of a keeps its address")
        // A pool moved elsewhere: b's old address is never handed out, and forgotten once b goes.
        shared.reconfigure(prefix: try! IPPrefix(parsing: "10.9.0.0/30"), excluding: [])
        shared.release(b, of: "b")
        XCTAssertNil(shared.snapshot.holder(of: b))
        XCTAssertNotEqual(try! shared.lease(to: "b", requested: nil).get(), b)
    }
}

/// A small seeded generator (SplitMix64): the same sequence on every run.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
