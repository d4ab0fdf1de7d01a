#if canImport(Glibc)
    import Glibc
#endif

/// A blocking client for the control socket (the CLI's `status`, `up`, `down`, `events`).
public enum ControlClient {
    /// An answer: the decoded response and the exact JSON line the server sent.
    public struct Reply: Sendable {
        public var response: ControlResponse
        public var line: String
    }

    /// Sends one request and waits (at most `timeoutSeconds`) for its one-line answer.
    ///
    /// - Parameter outcomeOnly: decode only the answer's `ok` and `error` into ``Reply/response``, for a
    ///   caller that prints ``Reply/line`` as it came (`status --json`: decoding all of a 10,000-tunnel
    ///   answer took the CLI 0.3 s).
    public static func send(
        _ request: ControlRequest, to path: String, timeoutSeconds: Int = 10, outcomeOnly: Bool = false
    ) throws(DaemonError) -> Reply {
        let fd = try connect(path, timeoutSeconds: timeoutSeconds)
        defer { close(fd) }
        var bytes = ControlCodec.encode(request)
        bytes.append(UInt8(ascii: "\n"))
        try writeAll(fd, bytes, path: path)
        let line = try readLine(fd, path: path)
        let decoded: ControlResponse?
        if outcomeOnly {
            decoded = ControlCodec.decode(Outcome.self, from: line).map { ControlResponse(ok: $0.ok, error: $0.error) }
        } else {
            decoded = ControlCodec.decode(ControlResponse.self, from: line)
        }
        guard let response = decoded else {
            throw .noAnswer("the gateway at \(path) sent an answer that is not a control response")
        }
        return Reply(response: response, line: String(decoding: line, as: UTF8.self))
    }

    /// The two fields every answer has.
    private struct Outcome: Decodable {
        var ok: Bool
        var error: String?
    }

    /// A connection that keeps reading lines after the answer (`logs` with `follow`).
    public final class LineStream {
        private let fd: CInt
        private let path: String
        private var pending: [UInt8] = []
        /// Where the next line starts in `pending`.
        private var start = 0
        private var ended = false

        /// Connects; reads time out after `timeoutSeconds` until ``waitIndefinitely()``.
        public init(path: String, timeoutSeconds: Int = 10) throws(DaemonError) {
            self.path = path
            fd = try ControlClient.connect(path, timeoutSeconds: timeoutSeconds)
        }

        deinit { close(fd) }

        public func send(_ request: ControlRequest) throws(DaemonError) {
            var bytes = ControlCodec.encode(request)
            bytes.append(UInt8(ascii: "\n"))
            try ControlClient.writeAll(fd, bytes, path: path)
        }

        /// From now on a read waits as long as it takes (a follower waits for events).
        public func waitIndefinitely() {
            var timeout = timeval(tv_sec: 0, tv_usec: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        /// The next line without its newline; nil when the gateway closed the connection (an unterminated
        /// last line is dropped).
        public func readLine() throws(DaemonError) -> [UInt8]? {
            var chunk = [UInt8](repeating: 0, count: 65536)
            var searched = start
            while true {
                if let newline = pending[searched...].firstIndex(of: UInt8(ascii: "\n")) {
                    let line = Array(pending[start..<newline])
                    start = newline + 1
                    if start == pending.count {
                        pending.removeAll(keepingCapacity: true)
                        start = 0
                    }
                    return line
                }
                searched = pending.count
                if ended { return nil }
                if start > 0 {
                    pending.removeSubrange(..<start)
                    searched -= start
                    start = 0
                }
                guard pending.count <= ControlCodec.maximumResponseBytes else {
                    throw .noAnswer(
                        "a line from \(path) is longer than \(ControlCodec.maximumResponseBytes) bytes")
                }
                let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EINTR { continue }
                if count < 0 && errno == ECONNRESET {
                    ended = true
                    continue
                }
                if count < 0 {
                    let reason = errno == EAGAIN ? "timed out" : String(cString: strerror(errno))
                    throw .noAnswer("no answer from the gateway at \(path): \(reason)")
                }
                if count == 0 {
                    ended = true
                    continue
                }
                pending.append(contentsOf: chunk[..<count])
            }
        }
    }

    /// Whether something accepts connections on `path` (a live daemon rather than a stale file).
    public static func canConnect(_ path: String) -> Bool {
        guard let fd = try? connect(path, timeoutSeconds: 1) else { return false }
        close(fd)
        return true
    }

    fileprivate static func connect(_ path: String, timeoutSeconds: Int) throws(DaemonError) -> CInt {
        guard let address = UnixSocketAddress(path) else {
            throw .noAnswer("control socket path must be 1 to \(ControlSocketPath.maximumLength) bytes: \(path)")
        }
        let fd = UnixSocketAddress.makeSocket()
        guard fd >= 0 else { throw .noAnswer("cannot create a socket: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: max(1, timeoutSeconds), tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let result = address.withSockaddr { Glibc.connect(fd, $0, $1) }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .noAnswer("cannot reach the gateway at \(path): \(reason) (is `isthmus run` running?)")
        }
        return fd
    }

    fileprivate static func writeAll(_ fd: CInt, _ bytes: [UInt8], path: String) throws(DaemonError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, CInt(MSG_NOSIGNAL))
            }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                throw .noAnswer("cannot send to the gateway at \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    private static func readLine(_ fd: CInt, path: String) throws(DaemonError) -> [UInt8] {
        var line: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 {
                let reason = errno == EAGAIN ? "timed out" : String(cString: strerror(errno))
                throw .noAnswer("no answer from the gateway at \(path): \(reason)")
            }
            if count == 0 {
                guard !line.isEmpty else { throw .noAnswer("the gateway at \(path) closed the connection") }
                return line
            }
            if let newline = chunk[..<count].firstIndex(of: UInt8(ascii: "\n")) {
                line.append(contentsOf: chunk[..<newline])
                return line
            }
            line.append(contentsOf: chunk[..<count])
            guard line.count <= ControlCodec.maximumResponseBytes else {
                throw .noAnswer(
                    "the answer from \(path) is larger than \(ControlCodec.maximumResponseBytes) bytes")
            }
        }
    }
}
