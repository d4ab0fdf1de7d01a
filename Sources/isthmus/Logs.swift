import ArgumentParser
import IsthmusDaemon

#if canImport(Glibc)
    import Glibc
#endif

/// `isthmus logs [NAME] [--follow] [--json]`: the running gateway's event history, then (with `--follow`)
/// every new event as it happens.
struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the running gateway's event history; --follow keeps printing new events.",
        discussion: """
            Each connection keeps its own history (the last 1000 events by default), so one chatty connection \
            does not push another's out; without NAME every connection's history is merged in time order. \
            A line is `TIME [SEVERITY] CONNECTION [SA IDS] KIND: MESSAGE`, TIME in UTC (ISO 8601, \
            milliseconds), SEVERITY shown when it is not info. With --json each event is one JSON object per \
            line. --follow prints new events until Ctrl-C or until the gateway stops (exit 0); a reader \
            that falls far behind is told how many events it missed.
            """
    )

    @Argument(help: "Only this connection's events.")
    var name: String?

    @Flag(name: .long, help: "After the history, keep printing events as the gateway records them.")
    var follow = false

    @Flag(name: .long, help: "One JSON object per event and line (stable keys).")
    var json = false

    @OptionGroup var control: ControlOptions

    func run() throws {
        let path = try control.resolvePath()
        let request = ControlRequest(command: "logs", connection: name, follow: follow ? true : nil)
        let stream: ControlClient.LineStream
        let first: [UInt8]?
        do {
            stream = try ControlClient.LineStream(path: path)
            try stream.send(request)
            first = try stream.readLine()
        } catch {
            printError("isthmus logs: \(error)")
            throw ExitCode(1)
        }
        guard let first, let response = ControlCodec.decode(ControlResponse.self, from: first) else {
            printError("isthmus logs: the gateway at \(path) sent no control response")
            throw ExitCode(1)
        }
        guard response.ok else {
            printError("isthmus logs: \(response.error ?? "the gateway refused the request")")
            throw ExitCode(1)
        }
        let history = response.events ?? []
        for record in history { emit(record) }
        if history.isEmpty && !json && !follow { print("no events") }
        guard follow else { return }
        flushOutput()
        stream.waitIndefinitely()
        while true {
            let line: [UInt8]?
            do {
                line = try stream.readLine()
            } catch {
                notice("isthmus logs: \(error)")
                line = nil
            }
            guard let line else { break }
            if let record = ControlCodec.decode(EventRecord.self, from: line) {
                emit(record)
            } else if let extra = ControlCodec.decode(FollowNotice.self, from: line) {
                if let dropped = extra.dropped {
                    notice("isthmus logs: \(dropped) event\(dropped == 1 ? "" : "s") dropped (this reader fell behind)")
                }
                if extra.stopped == true { break }
            }
            flushOutput()
        }
        notice("isthmus logs: the gateway stopped")
    }

    private func emit(_ record: EventRecord) {
        print(json ? String(decoding: ControlCodec.encode(record), as: UTF8.self) : record.logLine)
    }

    /// A line that is not an event: on standard output in text form, on standard error with `--json` (so
    /// standard output stays one event per line).
    private func notice(_ text: String) {
        if json {
            printError(text)
        } else {
            print(text)
        }
        flushOutput()
    }

    private func flushOutput() {
        fflush(nil)  // every output stream: standard output is block-buffered when piped
    }
}
