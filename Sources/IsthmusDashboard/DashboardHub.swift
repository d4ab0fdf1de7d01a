import Foundation
import NIOCore
import Synchronization
import IsthmusESP

/// Fans the gateway's live state out to the dashboard's open pages (server-sent events on `GET /events`):
/// every event as it is recorded (`event: record`), and a status snapshot (`event: status`) every second and
/// soon after an event. It asks the gateway for `status` once a second while a page follows, every
/// ``idleInterval`` while none does (the traffic history is sampled then; a status answer of a gateway with
/// a thousand connections is large), never once per page, and at most once per ``minimumGap`` however many
/// events arrive.
///
/// Each page has a bounded queue (``clientBacklog`` messages), as a `logs --follow` reader has: while it is
/// full, further messages are dropped for that page; once it has room again the page is told first
/// (`event: resync`: it fetches the history again). Status snapshots are not queued: a page's queue holds at
/// most one mark saying "the latest snapshot", which becomes that snapshot when the page reads it (a status
/// answer of a gateway with many connections is large; 256 queued copies of it were not bounded in bytes). A
/// page that does not read never holds up the gateway or the other pages.
final class DashboardHub: Sendable {
    /// Most pages following at once; more get 503.
    static let maximumClients = 32
    /// Messages waiting for one page at most.
    static let clientBacklog = 256
    /// How often the status is sampled while a page follows.
    static let interval: Duration = .seconds(1)
    /// How often the status is sampled while no page follows.
    static let idleInterval: Duration = .seconds(5)
    /// The shortest time between two samples, also when events ask for one sooner.
    static let minimumGap: Duration = .milliseconds(500)

    /// What waits in a page's queue: a message, or the mark of the latest status snapshot.
    enum Item: Sendable {
        case message(ByteBuffer)
        case status
    }

    private struct Client {
        var continuation: AsyncStream<Item>.Continuation
        /// Messages were dropped for it since the last one it got.
        var lost = false
        /// A ``Item/status`` mark waits in its queue (another one would add nothing).
        var statusQueued = false
    }

    private struct State {
        var clients: [UInt64: Client] = [:]
        var nextID: UInt64 = 0
        var history = TrafficHistory()
        /// The last status snapshot message's data (JSON).
        var snapshot: [UInt8]?
        /// The same as a server-sent event, shared by every page that reads it.
        var snapshotMessage: ByteBuffer?
        /// An event arrived: sample again now.
        var dirty = false
        var stopped = false
        /// Events relayed so far: an answer asked before the newest one may be out of date.
        var eventsSeen: UInt64 = 0
    }

    private let state = Mutex(State())
    let backend: DashboardBackend

    init(backend: DashboardBackend) {
        self.backend = backend
    }

    /// A new page's stream, starting with the latest snapshot; nil when ``maximumClients`` pages follow.
    func subscribe() -> AsyncMapSequence<AsyncStream<Item>, ByteBuffer>? {
        let (stream, continuation) = AsyncStream<Item>.makeStream(bufferingPolicy: .bufferingOldest(Self.clientBacklog))
        let id: UInt64? = state.withLock { state in
            guard !state.stopped, state.clients.count < Self.maximumClients else { return nil }
            state.nextID += 1
            var client = Client(continuation: continuation)
            if state.snapshotMessage != nil {
                continuation.yield(.status)
                client.statusQueued = true
            }
            state.clients[state.nextID] = client
            // The first page in a while: a fresh sample now, then one a second.
            state.dirty = true
            return state.nextID
        }
        guard let id else {
            continuation.finish()
            return nil
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.clients.removeValue(forKey: id) }
        }
        // A comment first, so the browser sees the stream open at once.
        continuation.yield(.message(ByteBuffer(string: ": isthmus dashboard\n\n")))
        return stream.map { [weak self] item in
            switch item {
            case .message(let buffer): return buffer
            case .status: return self?.takeSnapshot(for: id) ?? ByteBuffer()
            }
        }
    }

    /// The latest snapshot message, for page `id` reading its status mark (it may be queued again).
    private func takeSnapshot(for id: UInt64) -> ByteBuffer {
        state.withLock { state in
            state.clients[id]?.statusQueued = false
            return state.snapshotMessage ?? ByteBuffer()
        }
    }

    /// Pages following now.
    var clientCount: Int { state.withLock { $0.clients.count } }

    /// The latest status snapshot (JSON), nil before the first sample.
    var snapshot: [UInt8]? { state.withLock { $0.snapshot } }

    /// How many of the gateway's events have arrived (counted before each is relayed to the pages).
    var eventsSeen: UInt64 { state.withLock { $0.eventsSeen } }

    /// A connection's traffic samples, oldest first.
    func traffic(of connection: String) -> [TrafficSample] { state.withLock { $0.history.samples(of: connection) } }

    /// Ends every page's stream and refuses new ones (shutdown).
    func stop() {
        let clients = state.withLock { state in
            state.stopped = true
            let clients = state.clients.values.map(\.continuation)
            state.clients.removeAll()
            return clients
        }
        for client in clients { client.finish() }
    }

    /// Sends one message to every page.
    func broadcast(_ event: String, _ data: [UInt8]) {
        let message = Self.message(event, data)
        state.withLock { state in
            for id in state.clients.keys { Self.offer(.message(message), to: id, in: &state) }
        }
    }

    /// Tells every page a new status snapshot is there, unless one's mark still waits in its queue.
    private func broadcastStatus() {
        state.withLock { state in
            for (id, client) in state.clients where !client.statusQueued {
                Self.offer(.status, to: id, in: &state)
            }
        }
    }

    /// Queues `item` for page `id`; a page whose queue is full loses it, and is told so once it has room.
    private static func offer(_ item: Item, to id: UInt64, in state: inout State) {
        guard let client = state.clients[id] else { return }
        if client.lost {
            if case .dropped = client.continuation.yield(.message(message("resync", Array("{}".utf8)))) {
                return
            }
            state.clients[id]?.lost = false
        }
        if case .dropped = client.continuation.yield(item) {
            state.clients[id]?.lost = true
        } else if case .status = item {
            state.clients[id]?.statusQueued = true
        }
    }

    /// Follows the gateway's events until it stops or the task is cancelled.
    func followEvents() async {
        for await record in backend.events() {
            state.withLock { $0.eventsSeen &+= 1 }
            broadcast("record", record)
            state.withLock { $0.dirty = true }
        }
    }

    /// Samples the status every ``interval`` (``idleInterval`` while no page follows), and soon after each
    /// event or a first page, until the task is cancelled.
    func sampleStatus() async {
        var next = ContinuousClock.now
        var last: ContinuousClock.Instant?
        while !Task.isCancelled {
            let now = ContinuousClock.now
            let (due, watched) = state.withLock { state in
                let due = Self.due(now: now, next: next, last: last, dirty: state.dirty)
                if due { state.dirty = false }
                return (due, !state.clients.isEmpty)
            }
            if due {
                next = now + (watched ? Self.interval : Self.idleInterval)
                last = now
                await sampleOnce()
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Whether to sample at `now`: the ``interval`` is over (`next`), or an event asked for a sample (`dirty`)
    /// and the last one (`last`) is at least ``minimumGap`` ago.
    static func due(
        now: ContinuousClock.Instant, next: ContinuousClock.Instant, last: ContinuousClock.Instant?, dirty: Bool
    ) -> Bool {
        if now >= next { return true }
        guard dirty else { return false }
        guard let last else { return true }
        return now - last >= minimumGap
    }

    /// Asks for `status` once, records the traffic and sends the snapshot to every page.
    func sampleOnce() async {
        guard let status = try? await backend.control("status", nil) else { return }
        let time = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        guard let message = Self.snapshot(status: status, time: time) else { return }
        state.withLock { state in
            state.history.record(message.traffic, time: time)
            state.snapshot = message.data
            state.snapshotMessage = Self.message("status", message.data)
        }
        broadcastStatus()
    }

    /// The snapshot a `status` answer makes: `{"states":{NAME:STATE},"status":ANSWER,"time":MS,
    /// "traffic":{NAME:COUNTERS}}`; nil when `status` is not a status answer.
    static func snapshot(status: [UInt8], time: Int64) -> (data: [UInt8], traffic: [String: ESPConnectionTraffic])? {
        guard let digest = try? JSONDecoder().decode(StatusDigest.self, from: Data(status)), digest.ok == true
        else { return nil }
        struct Head: Encodable {
            var states: [String: ConnectionState]
            var time: Int64
            var traffic: [String: ESPConnectionTraffic]
        }
        let traffic = digest.dataplane?.connections ?? [:]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard var head = try? Array(encoder.encode(Head(states: digest.states, time: time, traffic: traffic))),
            head.last == UInt8(ascii: "}")
        else { return nil }
        head.removeLast()
        return (head + Array(#","status":"#.utf8) + status + [UInt8(ascii: "}")], traffic)
    }

    /// One server-sent event: `event: NAME`, `data: JSON` (one line: JSON escapes line breaks in strings).
    static func message(_ event: String, _ data: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(data.count + event.utf8.count + 16)
        buffer.writeString("event: \(event)\ndata: ")
        buffer.writeBytes(data.filter { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") })
        buffer.writeString("\n\n")
        return buffer
    }
}
