import Glibc

/// A pre-shared key file (`shared_key: file:PATH`): what `isthmus key` reads, writes and reports.
///
/// The file's modification time is the key's rotation time: `key rotate` replaces the whole file
/// (a new inode renamed over the old one), so the time is when the current key was written, by
/// `key rotate` or by anything else that wrote the file. No sidecar file is kept.
public enum KeyFile {
    /// What `stat(2)` says about a key file.
    public struct Info: Sendable, Hashable {
        /// The path that was examined.
        public var path: String
        /// Permission bits (`0o600` is what `key rotate` writes).
        public var mode: UInt32
        /// Last modification, seconds since the Unix epoch: when the current key was written.
        public var modified: Int64
        public var owner: UInt32
        public var group: UInt32

        public init(path: String, mode: UInt32, modified: Int64, owner: UInt32, group: UInt32) {
            self.path = path
            self.mode = mode
            self.modified = modified
            self.owner = owner
            self.group = group
        }
    }

    /// The key file at `path`, or nil when it cannot be examined.
    public static func info(path: String) -> Info? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return Info(
            path: path, mode: UInt32(status.st_mode) & 0o7777, modified: Int64(status.st_mtim.tv_sec),
            owner: status.st_uid, group: status.st_gid)
    }

    /// Replaces the key file at `path` with `key` and a newline, atomically (see ``AtomicFile``): a reader
    /// sees the old key or the new one, never a part, and any failure before the rename leaves the old
    /// file as it was. Mode 0600. The error never contains the key.
    public static func writeAtomically(_ key: [UInt8], to path: String) throws(AtomicFileError) {
        try AtomicFile.replace(path, with: key + [0x0A])
    }
}
