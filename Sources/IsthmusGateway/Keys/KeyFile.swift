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
        /// Which file and which write: device, inode and the modification time to the nanosecond. `key
        /// rotate` renames a new file over the old one, so a rotation changes it even within the second
        /// `modified` cannot tell apart.
        public var version: Version

        public struct Version: Sendable, Hashable {
            public var device: UInt64
            public var inode: UInt64
            public var seconds: Int64
            public var nanoseconds: Int64

            public init(device: UInt64, inode: UInt64, seconds: Int64, nanoseconds: Int64) {
                self.device = device
                self.inode = inode
                self.seconds = seconds
                self.nanoseconds = nanoseconds
            }
        }

        public init(path: String, mode: UInt32, modified: Int64, owner: UInt32, group: UInt32, version: Version) {
            self.path = path
            self.mode = mode
            self.modified = modified
            self.owner = owner
            self.group = group
            self.version = version
        }
    }

    /// The key file at `path`, or nil when it cannot be examined.
    public static func info(path: String) -> Info? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return Info(
            path: path, mode: UInt32(status.st_mode) & 0o7777, modified: Int64(status.st_mtim.tv_sec),
            owner: status.st_uid, group: status.st_gid,
            version: Info.Version(
                device: UInt64(status.st_dev), inode: UInt64(status.st_ino), seconds: Int64(status.st_mtim.tv_sec),
                nanoseconds: Int64(status.st_mtim.tv_nsec)))
    }

    /// Replaces the key file at `path` with `key` and a newline, atomically (see ``AtomicFile``): a reader
    /// sees the old key or the new one, never a part, and any failure before the rename leaves the old
    /// file as it was. Mode 0600. The error never contains the key.
    public static func writeAtomically(_ key: [UInt8], to path: String) throws(AtomicFileError) {
        try AtomicFile.replace(path, with: key + [0x0A])
    }
}
