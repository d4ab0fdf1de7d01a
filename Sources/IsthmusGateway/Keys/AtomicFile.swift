import Glibc

/// Replacing a file that holds a secret (a key file, an export with the key) all at once.
public enum AtomicFile {
    /// The steps of ``replace(_:with:)``, named in its errors.
    public enum Step: String, Sendable, Hashable, CaseIterable {
        case createTemporary = "create a temporary file next to"
        case write = "write the temporary file next to"
        case sync = "flush to disk the temporary file next to"
        case rename = "rename the temporary file over"
        case syncDirectory = "flush to disk the folder of"
    }

    /// Replaces (or creates) the file at `path` with `contents`, atomically and with mode 0600.
    ///
    /// The contents go to a temporary file in the same folder (so the rename stays on one file system),
    /// created with `O_EXCL` and mode 0600 whatever the umask, written, `fsync`ed, renamed over `path`,
    /// and the folder is `fsync`ed so the rename itself survives a power loss. A reader sees the old file
    /// or the new one, never a part; a failure (or a crash) at any step before the rename leaves the old
    /// file as it was and removes the temporary one. A symbolic link at `path` is followed: its target is
    /// replaced and the link kept. When the old file belonged to another user (a service account) and we
    /// run as root, the new file keeps its owner and group.
    ///
    /// Errors name the step, the file and the system's reason; never the contents.
    public static func replace(_ path: String, with contents: [UInt8]) throws(AtomicFileError) {
        try replace(path, with: contents, failing: nil)
    }

    /// ``replace(_:with:)`` with a simulated failure at `failing` (tests of the failure paths).
    static func replace(_ path: String, with contents: [UInt8], failing: Step?) throws(AtomicFileError) {
        let target = resolvingLinks(path)
        let folder = ConfigLoader.directory(of: target)
        let name = target.split(separator: "/").last.map(String.init) ?? target
        let old = KeyFile.info(path: target)

        func fail(_ step: Step, _ code: Int32) -> AtomicFileError {
            AtomicFileError(step: step, path: target, reason: String(cString: strerror(code)))
        }
        func injected(_ step: Step) -> Bool { failing == step }

        var random = SystemRandomNumberGenerator()
        let temporary = "\(folder)/.\(name).\(getpid()).\(String(random.next() & 0xFFFF_FFFF, radix: 16)).tmp"
        let fd =
            injected(.createTemporary)
            ? -1 : open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw fail(.createTemporary, injected(.createTemporary) ? EIO : errno) }
        var closed = false
        var renamed = false
        defer {
            if !closed { close(fd) }
            if !renamed { unlink(temporary) }
        }
        // The umask may clear bits but never adds any; fchmod makes it exactly 0600 either way.
        fchmod(fd, 0o600)
        if let old, geteuid() == 0, old.owner != 0 || old.group != 0 {
            fchown(fd, old.owner, old.group)
        }
        var written = 0
        while written < contents.count {
            if injected(.write) { throw fail(.write, ENOSPC) }
            let count = contents.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                throw fail(.write, errno)
            }
            written += count
        }
        guard !injected(.sync), fsync(fd) == 0 else { throw fail(.sync, injected(.sync) ? EIO : errno) }
        closed = true
        guard close(fd) == 0 else { throw fail(.write, errno) }
        guard !injected(.rename), rename(temporary, target) == 0 else {
            throw fail(.rename, injected(.rename) ? EXDEV : errno)
        }
        renamed = true
        // The new file is in place; a failed folder flush is reported (the rename may not survive a
        // power loss) but does not undo it.
        let directory = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw fail(.syncDirectory, errno) }
        defer { close(directory) }
        guard !injected(.syncDirectory), fsync(directory) == 0 else {
            throw fail(.syncDirectory, injected(.syncDirectory) ? EIO : errno)
        }
    }

    /// `path` with symbolic links resolved when it exists; `path` itself otherwise.
    static func resolvingLinks(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// Why a file could not be replaced: the step, the file and the system's reason. Never the contents.
public struct AtomicFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var step: AtomicFile.Step
    public var path: String
    public var reason: String

    /// Whether the old file is known to be unchanged: every failure before the rename.
    public var oldFileIntact: Bool { step != .syncDirectory }

    public var description: String {
        let outcome =
            oldFileIntact
            ? "\(path) was not changed"
            : "the new file is in place, but the rename may not survive a power loss"
        return "cannot \(step.rawValue) \(path): \(reason); \(outcome)"
    }
}
