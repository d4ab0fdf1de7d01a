/// The answers of a costly read-only question to the gateway (`diagnose`: with a thousand connections it
/// takes the gateway's event loop tens of milliseconds), shared by every page asking within ``lifetime``, and
/// asked of the gateway one at a time however many pages, or other local clients, ask at once: a burst of
/// events that has every open overview ask again costs the gateway one answer, not one per page. An answer
/// asked before the newest event (a later `epoch`) is never served again: a page that asks because of an
/// event gets an answer that has seen it.
actor AnswerCache {
    /// How long an answer is served again.
    let lifetime: Duration
    /// Most answers kept (one per question: all connections, or one by name).
    let capacity: Int
    private let now: @Sendable () -> ContinuousClock.Instant
    private var entries: [String: (time: ContinuousClock.Instant, epoch: UInt64, answer: [UInt8])] = [:]
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(
        lifetime: Duration = .seconds(2), capacity: Int = 64,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.lifetime = lifetime
        self.capacity = max(1, capacity)
        self.now = now
    }

    /// The answer to `question`: a fresh enough one kept (asked within ``lifetime`` and in the same `epoch`:
    /// the count of events seen when asked), else the one `ask` gets once the questions asked before it are
    /// answered.
    func answer(
        _ question: String, epoch: UInt64 = 0, ask: @Sendable () async throws -> [UInt8]
    ) async throws -> [UInt8] {
        if let kept = fresh(question, epoch: epoch) { return kept }
        await turn()
        defer { next() }
        // Asked by another page while this one waited.
        if let kept = fresh(question, epoch: epoch) { return kept }
        let answer = try await ask()
        keep(answer, for: question, epoch: epoch)
        return answer
    }

    private func fresh(_ question: String, epoch: UInt64) -> [UInt8]? {
        guard let entry = entries[question], entry.epoch >= epoch, now() - entry.time < lifetime else { return nil }
        return entry.answer
    }

    private func keep(_ answer: [UInt8], for question: String, epoch: UInt64) {
        let time = now()
        if entries[question] == nil, entries.count >= capacity {
            entries = entries.filter { time - $0.value.time < lifetime }
            if entries.count >= capacity, let oldest = entries.min(by: { $0.value.time < $1.value.time })?.key {
                entries[oldest] = nil
            }
        }
        entries[question] = (time, epoch, answer)
    }

    /// Waits until no other question is being asked of the gateway.
    private func turn() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// The next waiting question's turn (it stays busy), or none busy.
    private func next() {
        if waiting.isEmpty {
            busy = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}
