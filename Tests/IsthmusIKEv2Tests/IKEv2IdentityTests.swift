import IsthmusIKE
import XCTest

@testable import IsthmusIKEv2

/// IDi/IDr other than addresses (RFC 7296 section 3.5): a peer is recognised by the identity configured
/// for it, and refused when it authenticates as another.
final class IKEv2IdentityTests: XCTestCase {
    func testFQDNIdentitiesEstablishCaseInsensitively() {
        var office = configuration(office: true)
        office.localIdentity = .fqdn("office.example.test")
        var cloud = configuration(office: false)
        cloud.remoteIdentity = .fqdn("Office.Example.TEST")
        cloud.localIdentity = .userFQDN("gateway@cloud.example.test")
        office.remoteIdentity = .userFQDN("gateway@cloud.example.test")
        let pair = Pair(initiator: office, responder: cloud)
        pair.establish()
        XCTAssertEqual(pair.initiator.status(now: pair.now).state, .established)
        XCTAssertEqual(pair.responder.status(now: pair.now).state, .established)
    }

    func testAPeerAuthenticatingAsAnotherIdentityIsRefused() {
        var office = configuration(office: true)
        office.localIdentity = .fqdn("office.example.test")
        var cloud = configuration(office: false)
        cloud.remoteIdentity = .fqdn("branch.example.test")
        let pair = Pair(initiator: office, responder: cloud)
        pair.establish()
        XCTAssertNotEqual(pair.responder.status(now: pair.now).state, .established)
        let messages = pair.events[.responder, default: []].map(\.message).joined(separator: " | ")
        XCTAssertTrue(messages.contains("office.example.test"), messages)
        XCTAssertTrue(messages.contains("branch.example.test"), messages)
    }
}
