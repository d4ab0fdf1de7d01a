#if canImport(Glibc)
    import Glibc
#endif

/// Why a control request got no answer.
public struct ControlClientError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A blocking client for the control socket (the CLI's `status`, `up`, `down`, `events`).
public enum ControlClient {
    /// An answer: the decoded response and the exact JSON line the server sent.
    public struct Reply: Sendable {
        public var response: ControlResponse
        public var line: String
    }

    /// Sends one request and waits (at most `timeoutSeconds`) for its one-line answer.
    public static func send(_ request: ControlRequest, to path: String, timeoutSeconds: Int = 10)
        throws(ControlClientError) -> Reply
    {
        let fd = try connect(path, timeoutSeconds: timeoutSeconds)
        defer { close(fd) }
        var bytes = ControlCodec.encode(request)
        bytes.append(UInt8(ascii: "\n"))
        try writeAll(fd, bytes, path: path)
        let line = try readLine(fd, path: path)
        guard let response = ControlCodec.decode(ControlResponse.self, from: line) else {
            throw ControlClientError("the gateway at \(path) sent an answer that is not a control response")
        }
        return Reply(response: response, line: String(decoding: line, as: UTF8.self))
    }

    /// Whether something accepts connections on `path` (a live daemon rather than a stale file).
    public static func canConnect(_ path: String) -> Bool {
        guard let fd = try? connect(path, timeoutSeconds: 1) else { return false }
        close(fd)
        return true
    }

    private static func connect(_ path: String, timeoutSeconds: Int) throws(ControlClientError) -> CInt {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !pathBytes.isEmpty, pathBytes.count < capacity else {
            throw ControlClientError("control socket path must be 1 to \(capacity - 1) bytes: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlClientError("cannot create a socket: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: max(1, timeoutSeconds), tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ControlClientError("cannot reach the gateway at \(path): \(reason) (is `isthmus run` running?)")
        }
        return fd
    }

    private static func writeAll(_ fd: CInt, _ bytes: [UInt8], path: String) throws(ControlClientError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, CInt(MSG_NOSIGNAL))
            }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                throw ControlClientError("cannot send to the gateway at \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    private static func readLine(_ fd: CInt, path: String) throws(ControlClientError) -> [UInt8] {
        var line: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 {
                let reason = errno == EAGAIN ? "timed out" : String(cString: strerror(errno))
                throw ControlClientError("no answer from the gateway at \(path): \(reason)")
            }
            if count == 0 {
                guard !line.isEmpty else { throw ControlClientError("the gateway at \(path) closed the connection") }
                return line
            }
            if let newline = chunk[..<count].firstIndex(of: UInt8(ascii: "\n")) {
                line.append(contentsOf: chunk[..<newline])
                return line
            }
            line.append(contentsOf: chunk[..<count])
            guard line.count <= ControlCodec.maximumResponseBytes else {
                throw ControlClientError(
                    "the answer from \(path) is larger than \(ControlCodec.maximumResponseBytes) bytes")
            }
        }
    }
}
