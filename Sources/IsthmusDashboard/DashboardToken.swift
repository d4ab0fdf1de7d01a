import IsthmusCrypto
import IsthmusGateway

#if canImport(Glibc)
    import Glibc
#endif

/// The secret that unlocks the dashboard's actions (up, down, reload, key rotation): read once from a file
/// only its owner may read (`--dashboard-token-file`), sent by the page as `Authorization: Bearer TOKEN`,
/// compared in constant time. Without one the dashboard is read-only.
public struct DashboardToken: Sendable {
    /// Shortest token accepted: 16 characters (a guessable token would unlock the gateway).
    public static let minimumLength = 16
    /// Longest token accepted.
    public static let maximumLength = 4096

    private let material: [UInt8]

    /// A token from its text: surrounding whitespace and line ends removed; nil when what is left is shorter
    /// than ``minimumLength``, longer than ``maximumLength`` or not printable ASCII.
    public init?(text: String) {
        let bytes = Array(text.utf8)
        var start = 0
        var end = bytes.count
        func blank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
        while start < end, blank(bytes[start]) { start += 1 }
        while end > start, blank(bytes[end - 1]) { end -= 1 }
        let token = Array(bytes[start..<end])
        guard (Self.minimumLength...Self.maximumLength).contains(token.count),
            token.allSatisfy({ (0x21...0x7E).contains($0) })
        else { return nil }
        material = token
    }

    /// Reads the token file; throws a sentence when others may read it, it is not a regular file, it cannot be
    /// read, or it holds no usable token. The file is examined once it is open (what is checked is what is
    /// read, even if the path is replaced meanwhile).
    public static func load(path: String) throws(DashboardError) -> DashboardToken {
        // O_NONBLOCK: a FIFO at that path must not hold up the start.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw DashboardError("cannot read the dashboard token file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw DashboardError("cannot examine the dashboard token file \(path): \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw DashboardError("the dashboard token file \(path) is not a regular file")
        }
        if let problem = SecretFileAccess.problem(
            what: "the dashboard token file", path: path, mode: UInt32(status.st_mode) & 0o7777,
            owner: status.st_uid, user: geteuid())
        {
            throw DashboardError(problem.description)
        }
        guard let text = readSmallFile(fd) else {
            throw DashboardError("cannot read the dashboard token file \(path): \(String(cString: strerror(errno)))")
        }
        guard let token = DashboardToken(text: text) else {
            throw DashboardError(
                "the dashboard token file \(path) must hold one token of \(minimumLength) to \(maximumLength) "
                    + "printable characters (e.g. head -c 32 /dev/urandom | base64 > \(path))")
        }
        return token
    }

    /// Whether an `Authorization` header value is `Bearer <this token>` (compared in constant time).
    public func authorizes(_ header: String?) -> Bool {
        guard let header else { return false }
        let scheme = "bearer "
        guard header.count > scheme.count, header.prefix(scheme.count).lowercased() == scheme else { return false }
        let offered = Array(header.utf8.dropFirst(scheme.count))
        // The lengths may differ: ConstantTime compares equal lengths only, so a digest of each would hide it,
        // but the length of the token is not the secret; its bytes are.
        guard offered.count == material.count else { return false }
        return ConstantTime.equal(offered, material)
    }

    private static func readSmallFile(_ fd: Int32) -> String? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count <= maximumLength + 64 {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 { return nil }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Why the dashboard cannot start or cannot do what was asked: one sentence.
public struct DashboardError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
