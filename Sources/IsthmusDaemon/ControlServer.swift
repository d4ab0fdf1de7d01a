import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Splits a byte stream into lines at `\n`, refusing lines longer than `maximumLength`.
/// An unterminated line at end of stream (a client that went away mid-request) is discarded.
struct LineFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let maximumLength: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > maximumLength { throw DaemonError.requestTooLarge(limit: maximumLength) }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        guard length <= maximumLength else { throw DaemonError.requestTooLarge(limit: maximumLength) }
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

/// Serves control requests on one accepted connection: one JSON line in, one JSON line out. A `logs`
/// request with `follow` turns the connection into an ``EventFollower``: it then only sends.
final class ControlConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Most control connections at once.
    static let maximumConnections = 32
    /// Most `logs --follow` connections at once: fewer than ``maximumConnections``, so followers cannot
    /// take every slot and `status` always gets in.
    static let maximumFollowers = 16

    private let state: NIOLoopBoundBox<DaemonState>
    private var counted = false
    private var follower: EventFollower?

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
        if let follower {
            state.value.followers[ObjectIdentifier(follower)] = nil
            self.follower = nil
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A follower only reads events; anything it sends is ignored (lines are still bounded by the decoder).
        guard counted, follower == nil else { return }
        var line = unwrapInboundIn(data)
        let bytes = line.readBytes(length: line.readableBytes) ?? []
        guard let request = ControlCodec.decode(ControlRequest.self, from: bytes) else {
            let hint = #"not a control request: expected one JSON object such as {"command":"status"}"#
            reply(.failure(hint), context: context, close: false)
            return
        }
        let daemon = state.value
        if request.command == "reload" {
            // The file is read off the event loop; the answer comes when it has been applied.
            let channel = context.channel
            let allocator = channel.allocator
            daemon.reloadFromFile().whenSuccess { response in
                guard channel.isActive else { return }
                channel.writeAndFlush(Self.line(response, allocator: allocator), promise: nil)
            }
            return
        }
        guard request.command == "logs", request.follow == true else {
            reply(daemon.handleControl(request), context: context, close: false)
            return
        }
        guard !daemon.isShuttingDown else {
            reply(.failure("the gateway is shutting down"), context: context, close: true)
            return
        }
        guard daemon.followers.count < Self.maximumFollowers else {
            let limit = Self.maximumFollowers
            reply(.failure("too many logs --follow readers (at most \(limit))"), context: context, close: true)
            return
        }
        // The history and the registration happen in one turn of the event loop: no event is missed or
        // sent twice between them.
        let response = daemon.handleControl(request)
        reply(response, context: context, close: !response.ok)
        guard response.ok else { return }
        let follower = EventFollower(channel: context.channel, connection: request.connection)
        daemon.followers[ObjectIdentifier(follower)] = follower
        self.follower = follower
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        follower?.writabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? DaemonError, error.code == .requestTooLarge, follower == nil {
            reply(.failure(error.message), context: context, close: true)
        } else {
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            // A follower is reading, not writing: its silence is expected.
            if follower == nil { context.close(promise: nil) }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private static func line(_ response: ControlResponse, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 256)
        buffer.writeBytes(ControlCodec.encode(response))
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }

    private func reply(_ response: ControlResponse, context: ChannelHandlerContext, close: Bool) {
        // A client that sends requests without reading the answers (the write buffer is past its high
        // water mark) gets no more: its answers would pile up in the daemon's memory.
        guard context.channel.isWritable else {
            context.close(promise: nil)
            return
        }
        let buffer = Self.line(response, allocator: context.channel.allocator)
        if close {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
    }
}

/// One `logs --follow` connection: each new event (of its connection, or of all) goes out as one line.
///
/// It never blocks the event loop and never holds more than about ``ControlCodec/followerBacklogBytes``:
/// the control server sets the channel's high write-buffer water mark to that, and while the channel is
/// not writable (the reader is slow or not reading) events are counted instead of written. When it is
/// writable again, one ``FollowNotice`` line says how many were dropped, and events flow again. A reader
/// that disconnects is removed (``ControlConnectionHandler/channelInactive(context:)``). Used on the
/// daemon's event loop only.
final class EventFollower {
    let channel: any Channel
    /// Only this connection's events; nil: every event.
    let connection: String?
    /// Events not sent since the last notice.
    private(set) var dropped = 0

    init(channel: any Channel, connection: String?) {
        self.channel = channel
        self.connection = connection
    }

    /// Sends `record` when it is for this follower and the channel can take it; otherwise counts it.
    func offer(_ record: EventRecord) {
        guard connection == nil || connection == record.connection else { return }
        guard channel.isWritable else {
            dropped += 1
            return
        }
        sendDroppedNotice()
        send(ControlCodec.encode(record))
    }

    func writabilityChanged() {
        if channel.isWritable { sendDroppedNotice() }
    }

    /// Shutdown: a last `{"stopped":true}` line when the channel can take it, then close.
    func stop() {
        let channel = self.channel
        guard channel.isWritable else {
            channel.close(promise: nil)
            return
        }
        sendDroppedNotice()
        send(ControlCodec.encode(FollowNotice(stopped: true))).whenComplete { _ in channel.close(promise: nil) }
    }

    private func sendDroppedNotice() {
        guard dropped > 0 else { return }
        send(ControlCodec.encode(FollowNotice(dropped: dropped)))
        dropped = 0
    }

    @discardableResult
    private func send(_ line: [UInt8]) -> EventLoopFuture<Void> {
        var buffer = channel.allocator.buffer(capacity: line.count + 1)
        buffer.writeBytes(line)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return channel.writeAndFlush(buffer)
    }
}

/// Preparing the control socket's path: the folder (0700 when created), and no live daemon on it.
enum ControlSocketPath {
    /// Longest path a Unix socket address holds (`sun_path` minus the terminator).
    static let maximumLength = 107

    /// Creates the folder and removes a stale socket; throws a sentence when the path cannot be used.
    static func prepare(_ path: String) throws(DaemonError) {
        guard !path.isEmpty, path.utf8.count <= maximumLength else {
            throw .cannotStart("control socket path must be 1 to \(maximumLength) bytes: \(path)")
        }
        let folder = directory(of: path)
        try makeDirectories(folder)
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw .cannotStart("\(path) exists and is not a socket; remove it or give another --control path")
        }
        if ControlClient.canConnect(path) {
            throw .cannotStart("another isthmus is already serving \(path); stop it first or give another --control")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw .cannotStart("cannot remove the stale socket \(path): \(errnoText())")
        }
    }

    /// A Unix stream socket bound at `path` whose file is mode 0600 from the moment it exists.
    ///
    /// Linux creates the socket file with the mode of the socket's own inode, less the umask
    /// (`unix_bind`): setting that mode with `fchmod` before `bind` leaves no moment, however short,
    /// in which another user could connect, whatever the umask and the folder's mode. (A `chmod` after
    /// `bind` leaves one; a connection accepted in it would stay open.) The caller hands the descriptor
    /// to NIO, which listens on it.
    static func bindOwnerOnly(_ path: String) throws(DaemonError) -> CInt {
        guard let address = UnixSocketAddress(path) else {
            throw .cannotStart("control socket path must be 1 to \(maximumLength) bytes: \(path)")
        }
        let fd = UnixSocketAddress.makeSocket()
        guard fd >= 0 else { throw .cannotStart("cannot create the control socket: \(errnoText())") }
        guard fchmod(fd, 0o600) == 0 else {
            let reason = errnoText()
            close(fd)
            throw .cannotStart("cannot restrict the control socket to mode 0600: \(reason)")
        }
        let bound = address.withSockaddr { bind(fd, $0, $1) }
        guard bound == 0 else {
            let reason = errnoText()
            close(fd)
            throw .cannotStart("cannot serve the control socket \(path): \(reason)")
        }
        return fd
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
            guard info.st_mode & S_IFMT == S_IFDIR else { throw .cannotStart("\(folder) is not a folder") }
            return
        }
        let parent = directory(of: folder)
        if parent != folder && parent != "." { try makeDirectories(parent) }
        guard mkdir(folder, 0o700) == 0 || errno == EEXIST else {
            throw .cannotStart("cannot create the control socket folder \(folder): \(errnoText())")
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

extension ControlCodec {
    /// The control connections' write-buffer water marks: not writable above ``followerBacklogBytes``,
    /// writable again below half of it.
    static var followerWaterMark: ChannelOptions.Types.WriteBufferWaterMark {
        .init(low: followerBacklogBytes / 2, high: followerBacklogBytes)
    }
}
