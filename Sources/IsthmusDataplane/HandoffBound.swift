import Synchronization

/// A bound on work handed from one thread to another (the data-plane thread's IKE messages to the event
/// loop): the producer ``enter()``s before handing an item over and the consumer ``leave()``s once it took
/// it; past ``capacity`` items in flight the producer is refused and the refusal counted, so a consumer
/// that falls behind costs bounded memory instead of a queue that grows without end.
public final class HandoffBound: Sendable {
    /// Items handed over and not yet taken, at most.
    public let capacity: Int
    private let inFlight = Atomic<Int>(0)
    private let refused = Atomic<UInt64>(0)

    public init(capacity: Int) {
        precondition(capacity > 0, "a handoff needs room for one item")
        self.capacity = capacity
    }

    /// Claims room for one item; `false` (and one more ``dropped``) when ``capacity`` are in flight.
    public func enter() -> Bool {
        let after = inFlight.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
        guard after > capacity else { return true }
        inFlight.wrappingSubtract(1, ordering: .acquiringAndReleasing)
        refused.wrappingAdd(1, ordering: .relaxed)
        return false
    }

    /// Gives back the room of one item the consumer took.
    public func leave() {
        inFlight.wrappingSubtract(1, ordering: .acquiringAndReleasing)
    }

    /// Items in flight now.
    public var waiting: Int { inFlight.load(ordering: .acquiring) }

    /// Items refused since this bound was made.
    public var dropped: UInt64 { refused.load(ordering: .relaxed) }
}
