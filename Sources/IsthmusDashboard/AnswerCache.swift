/// The answers of a costly read-only question to the gateway (`diagnose`: with a thousand connections it
/// takes the gateway's event loop tens of milliseconds), shared by every page asking within ``lifetime``, and
/// asked of the gateway one at a time however many pages, or other local clients, ask at once: a burst of
/// events that has every open overview ask again costs the gateway one answer, not one per page.
actor AnswerCache {
    /// How long an answer is served again.
    let lifetime: Duration
    /// Most answers kept (one per question: all connections, or one by name).
    let capacity: Int
    private let now: @Sendable () -> ContinuousClock.Instant
    private var entries: [String: (time: ContinuousClock.Instant, answer: [UInt8])] = [:]
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

    /// The answer to `question`: a fresh enough one kept, else the one `ask` gets once the questions asked
    /// before it are answered.
    func answer(_ question: String, ask: @Sendable () async throws -> [UInt8]) async throws -> [UInt8] {
        if let kept = fresh(question) { return kept }
        await turn()
        defer { next() }
        // Asked by another page while this one waited.
        if let kept = fresh(question) { return kept }
        let answer = try await ask()
        keep(answer, for: question)
        return answer
    }

    private func fresh(_ question: String) -> [UInt8]? {
        guard let entry = entries[question], now() - entry.time < lifetime else { return nil }
        return entry.answer
    }

    private func keep(_ answer: [UInt8], for question: String) {
        let time = now()
        if entries[question] == nil, entries.count >= capacity {
            entries = entries.filter { time - $0.value.time < lifetime }
            if entries.count >= capacity, let oldest = entries.min(by: { $0.value.time < $1.value.time })?.key {
                entries[oldest] = nil
            }
        }
        entries[question] = (time, answer)
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
