import IsthmusGateway
import NIOCore

/// A reader of the event log inside the process (the web dashboard), the in-process twin of a
/// `logs --follow` connection (``EventFollower``): each event recorded after it subscribed, in order.
///
/// Bounded like a follower: at most `limit` records wait for a reader that does not keep up, the oldest
/// give way, and yielding never blocks the event loop. Used on the daemon's event loop only.
final class EventSubscription {
    let continuation: AsyncStream<EventRecord>.Continuation

    init(continuation: AsyncStream<EventRecord>.Continuation) {
        self.continuation = continuation
    }

    func offer(_ record: EventRecord) {
        continuation.yield(record)
    }
}

extension GatewayDaemon {
    /// Records the daemon keeps waiting for one ``events(bufferingNewest:)`` reader at most, by default.
    public static let subscriptionBacklog = 1024

    /// Every event recorded from now on, in recording order, until the gateway stops (the stream then
    /// finishes) or the reader stops iterating. A reader that falls more than `limit` records behind loses
    /// the oldest of them: the daemon never waits for it.
    public func events(bufferingNewest limit: Int = GatewayDaemon.subscriptionBacklog) -> AsyncStream<EventRecord> {
        let (stream, continuation) = AsyncStream<EventRecord>.makeStream(bufferingPolicy: .bufferingNewest(limit))
        let subscription = EventSubscription(continuation: continuation)
        let key = ObjectIdentifier(subscription)
        let state = self.state
        let loop = eventLoop
        loop.execute {
            let daemon = state.value
            guard daemon.shutdownFuture == nil else {
                continuation.finish()
                return
            }
            daemon.subscriptions[key] = subscription
        }
        continuation.onTermination = { _ in
            loop.execute { state.value.subscriptions[key] = nil }
        }
        return stream
    }

    /// The configuration in force: the one the daemon started with, or the last one `reload` applied.
    public func currentConfig() -> EventLoopFuture<GatewayConfig> {
        let state = self.state
        return eventLoop.submit { state.value.config }
    }
}
