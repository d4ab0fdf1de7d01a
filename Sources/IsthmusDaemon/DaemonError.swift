/// Why the daemon cannot start, a connection cannot run as configured, or a control request cannot be served
/// or got no answer: one sentence for the user (``message``, also the ``description``).
///
/// Modelled on swift-nio-ssh's `NIOSSHError`: ``code`` tells the kinds apart and is what callers compare (an
/// extensible set of static codes, not a frozen enum); where the error was thrown is a private diagnostic,
/// printed only by ``debugDescription``. Equality and hashing compare ``code`` only.
///
/// A rejected reload is not one of these: ``GatewayDaemon/ReloadRejected`` carries the loader's messages as
/// well as a summary.
public struct DaemonError: Error, Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The kind of this error; compare this.
    public let code: Code
    /// The sentence shown to the user.
    public let message: String

    private let file: StaticString
    private let line: UInt

    private init(_ code: Code, _ message: String, file: StaticString, line: UInt) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    public static func == (lhs: DaemonError, rhs: DaemonError) -> Bool {
        lhs.code == rhs.code
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
    }

    public var description: String { message }

    /// ``message`` and where the error was thrown.
    public var debugDescription: String { "DaemonError.\(code): \(message) (\(file):\(line))" }
}

extension DaemonError {
    /// What went wrong, as an extensible set of named codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case cannotStart
            case unusableConnection
            case badRequest
            case requestTooLarge
            case noAnswer
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A socket, the TUN device or the data plane cannot be set up: the daemon does not start.
        public static let cannotStart = Code(.cannotStart)
        /// A connection cannot run as configured (wrong IKE version, unknown local network, no public address).
        public static let unusableConnection = Code(.unusableConnection)
        /// A control request cannot be served (no such connection, no connection name).
        public static let badRequest = Code(.badRequest)
        /// A control request line is longer than ``ControlCodec/maximumRequestBytes``.
        public static let requestTooLarge = Code(.requestTooLarge)
        /// The control client got no answer: no gateway on the socket, a timeout, a closed or garbled answer.
        public static let noAnswer = Code(.noAnswer)

        public var description: String { String(describing: base) }
    }
}

// MARK: - Constructors (cold paths: never inlined)

extension DaemonError {
    @inline(never)
    static func cannotStart(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Self {
        Self(.cannotStart, message, file: file, line: line)
    }

    @inline(never)
    static func unusableConnection(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Self {
        Self(.unusableConnection, message, file: file, line: line)
    }

    @inline(never)
    static func badRequest(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Self {
        Self(.badRequest, message, file: file, line: line)
    }

    @inline(never)
    static func requestTooLarge(limit: Int, file: StaticString = #fileID, line: UInt = #line) -> Self {
        Self(.requestTooLarge, "request too large: at most \(limit) bytes per line", file: file, line: line)
    }

    @inline(never)
    static func noAnswer(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Self {
        Self(.noAnswer, message, file: file, line: line)
    }
}
