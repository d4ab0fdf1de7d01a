#if canImport(Glibc)
    import Glibc
#endif

/// One command to BIRD over its control socket (what `birdc` does): connect, read the greeting, send the
/// command, read the reply. Blocking, bounded by a timeout; run it off the event loop.
///
/// The reply is lines of `CODE-text` (more follow), ` text` (more of the same code) and one final
/// `CODE text`; codes from 8000 up are errors (8xxx: the command failed, 9xxx: it did not parse).
enum BirdControl {
    struct Reply: Sendable, Hashable {
        /// The final line's code.
        var code: Int
        /// Every line's text, codes removed, the final line's included when not empty.
        var lines: [String]

        var isError: Bool { code >= 8000 }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Sends `command` to the BIRD listening on `socketPath` and returns its reply.
    static func send(_ command: String, socketPath: String, timeout: Duration = .seconds(5)) throws(Failure) -> Reply {
        guard let address = UnixSocketAddress(socketPath) else { throw Failure(description: "bad socket path") }
        let fd = UnixSocketAddress.makeSocket()
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var limit = timeval(
            tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let connected = address.withSockaddr { connect(fd, $0, $1) }
        guard connected == 0 else {
            throw Failure(description: "cannot connect to BIRD at \(socketPath): \(String(cString: strerror(errno)))")
        }
        var reader = LineReader(fd: fd)
        _ = try readReply(&reader)  // 0001 BIRD 2.0.12 ready.
        let bytes = Array((command + "\n").utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { throw Failure(description: "write to BIRD: \(String(cString: strerror(errno)))") }
            sent += count
        }
        return try readReply(&reader)
    }

    private static func readReply(_ reader: inout LineReader) throws(Failure) -> Reply {
        var lines: [String] = []
        while true {
            let line = try reader.next()
            switch parse(line) {
            case .more(let text): lines.append(text)
            case .final(let code, let text):
                if !text.isEmpty { lines.append(text) }
                return Reply(code: code, lines: lines)
            }
        }
    }

    enum Line: Equatable {
        case more(String)
        case final(code: Int, text: String)
    }

    /// One line of a reply.
    static func parse(_ line: String) -> Line {
        let characters = Array(line)
        guard characters.count >= 5, characters[0..<4].allSatisfy(\.isNumber), let code = Int(String(characters[0..<4]))
        else {
            return .more(line.first == " " ? String(line.dropFirst()) : line)
        }
        let text = String(characters[5...])
        return characters[4] == "-" ? .more(text) : .final(code: code, text: text)
    }

    /// Lines from a stream socket, at most 1 MiB of reply.
    private struct LineReader {
        let fd: CInt
        var buffer: [UInt8] = []
        var total = 0

        init(fd: CInt) { self.fd = fd }

        mutating func next() throws(Failure) -> String {
            while true {
                if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[..<newline], as: UTF8.self)
                    buffer.removeSubrange(...newline)
                    return line
                }
                var chunk = [UInt8](repeating: 0, count: 16384)
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                guard count > 0 else {
                    throw Failure(
                        description: count == 0
                            ? "BIRD closed the control connection"
                            : "read from BIRD: \(String(cString: strerror(errno)))")
                }
                total += count
                guard total <= 1 << 20 else { throw Failure(description: "BIRD's reply is over 1 MiB") }
                buffer += chunk[..<count]
            }
        }
    }
}
