import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A pipe that is readable while its owner has something waiting: how work that does not arrive on a
/// descriptor wakes `poll` (``DataplaneQueue``, and the in-memory devices and sockets of the tests). The
/// owner signals it when it stops being empty and clears it when it empties.
final class ReadinessPipe: Sendable {
    /// The read end (non-blocking, close-on-exec), for `poll`.
    let readFD: CInt
    /// The write end; -1 once ``hangUp()`` closed it.
    private let writeFD: Atomic<CInt>

    /// - Throws: when the pipe cannot be created.
    init() throws(DataplaneError) {
        var fds: [CInt] = [-1, -1]
        guard pipe(&fds) == 0 else { throw DataplaneError("cannot create a pipe", errno: errno) }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readFD = fds[0]
        writeFD = Atomic(fds[1])
    }

    deinit {
        close(readFD)
        let write = writeFD.exchange(-1, ordering: .acquiringAndReleasing)
        if write >= 0 { close(write) }
    }

    /// Closes the write end: `poll` reports `POLLHUP` on the read end once it is empty, as it reports an
    /// error on a TUN device whose interface was deleted (the in-memory device's ``MemoryPacketDevice/fail()``).
    func hangUp() {
        let write = writeFD.exchange(-1, ordering: .acquiringAndReleasing)
        if write >= 0 { close(write) }
    }

    /// Makes the pipe readable.
    func signal() {
        var byte: UInt8 = 1
        _ = write(writeFD.load(ordering: .acquiring), &byte, 1)  // EAGAIN: the pipe is full, so readable anyway
    }

    /// Empties the pipe: not readable until the next ``signal()``.
    func clear() {
        var sink = [UInt8](repeating: 0, count: 64)
        while read(readFD, &sink, sink.count) > 0 {}
    }
}
