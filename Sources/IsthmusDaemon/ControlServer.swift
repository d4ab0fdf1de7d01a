import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// A control request line was longer than ``ControlCodec/maximumRequestBytes``.
struct ControlRequestTooLarge: Error {}

/// Splits a byte stream into lines at `\n`, refusing lines longer than `maximumLength`.
/// An unterminated line at end of stream (a client that went away mid-request) is discarded.
struct LineFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let maximumLength: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > maximumLength { throw ControlRequestTooLarge() }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        guard length <= maximumLength else { throw ControlRequestTooLarge() }
        guard let line = buffer.readSlice(length: length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 1)
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}

/// Serves control requests on one accepted connection: one JSON line in, one JSON line out.
final class ControlConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Most control connections at once.
    static let maximumConnections = 32

    private let state: NIOLoopBoundBox<DaemonState>
    private var counted = false

    init(state: NIOLoopBoundBox<DaemonState>) {
        self.state = state
    }

    func channelActive(context: ChannelHandlerContext) {
        if state.value.controlConnections >= Self.maximumConnections {
            reply(.failure("too many control connections"), context: context, close: true)
            return
        }
        state.value.controlConnections += 1
        counted = true
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted {
            state.value.controlConnections -= 1
            counted = false
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard counted else { return }
        var line = unwrapInboundIn(data)
        let bytes = line.readBytes(length: line.readableBytes) ?? []
        let response: ControlResponse
        if let request = ControlCodec.decode(ControlRequest.self, from: bytes) {
            response = state.value.handleControl(request)
        } else {
            response = .failure(#"not a control request: expected one JSON object such as {"command":"status"}"#)
        }
        reply(response, context: context, close: false)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is ControlRequestTooLarge {
            let limit = ControlCodec.maximumRequestBytes
            reply(.failure("request too large: at most \(limit) bytes per line"), context: context, close: true)
        } else {
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func reply(_ response: ControlResponse, context: ChannelHandlerContext, close: Bool) {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        buffer.writeBytes(ControlCodec.encode(response))
        buffer.writeInteger(UInt8(ascii: "\n"))
        if close {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
    }
}

/// Preparing the control socket's path: the folder (0700 when created), and no live daemon on it.
enum ControlSocketPath {
    /// Longest path a Unix socket address holds (`sun_path` minus the terminator).
    static let maximumLength = 107

    /// Creates the folder and removes a stale socket; throws a sentence when the path cannot be used.
    static func prepare(_ path: String) throws(DaemonError) {
        guard !path.isEmpty, path.utf8.count <= maximumLength else {
            throw DaemonError("control socket path must be 1 to \(maximumLength) bytes: \(path)")
        }
        let folder = directory(of: path)
        try makeDirectories(folder)
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw DaemonError("\(path) exists and is not a socket; remove it or give another --control path")
        }
        if ControlClient.canConnect(path) {
            throw DaemonError("another isthmus is already serving \(path); stop it first or give another --control")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw DaemonError("cannot remove the stale socket \(path): \(errnoText())")
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let folder = String(path[..<slash])
        return folder.isEmpty ? "/" : folder
    }

    /// `mkdir -p` with mode 0700 for the folders it creates.
    private static func makeDirectories(_ folder: String) throws(DaemonError) {
        var info = stat()
        if stat(folder, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw DaemonError("\(folder) is not a folder") }
            return
        }
        let parent = directory(of: folder)
        if parent != folder && parent != "." { try makeDirectories(parent) }
        guard mkdir(folder, 0o700) == 0 || errno == EEXIST else {
            throw DaemonError("cannot create the control socket folder \(folder): \(errnoText())")
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
