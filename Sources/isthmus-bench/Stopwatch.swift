/// Timed loops on `ContinuousClock`: warm up, then run batches until a time budget is spent.
struct Stopwatch {
    /// How long each measurement runs.
    let duration: Duration
    /// How long the untimed warm-up before each measurement runs.
    let warmUp: Duration

    /// Iterations completed and the time they took.
    struct Sample {
        let iterations: Int
        let elapsed: Duration

        /// Seconds per iteration.
        var secondsPerIteration: Double { elapsed.seconds / Double(max(iterations, 1)) }

        /// Iterations per second.
        var rate: Double { Double(iterations) / max(elapsed.seconds, .leastNonzeroMagnitude) }
    }

    /// Calls `body(i)` for i = 0, 1, 2, ... in batches of `batch` (checking the clock once per batch)
    /// first for ``warmUp``, then for ``duration``, and returns the timed part.
    func measure<E: Error>(batch: Int, _ body: (Int) throws(E) -> Void) throws(E) -> Sample {
        let clock = ContinuousClock()
        var index = 0
        let warmUpEnd = clock.now.advanced(by: warmUp)
        while clock.now < warmUpEnd {
            for _ in 0..<batch {
                try body(index)
                index &+= 1
            }
        }
        let start = clock.now
        var iterations = 0
        var now = start
        repeat {
            for _ in 0..<batch {
                try body(index)
                index &+= 1
            }
            iterations += batch
            now = clock.now
        } while now - start < duration
        return Sample(iterations: iterations, elapsed: now - start)
    }
}

extension Duration {
    /// The duration in seconds as a floating-point number.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
