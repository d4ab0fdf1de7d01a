import Glibc

/// Who may read a file that holds a secret (a key file, or a configuration with an inline shared key), the way
/// ssh judges a private key: the file must belong to the user who runs isthmus (or to root) and give group and
/// others no access at all. `isthmus run` and `reload` refuse a file that does not
/// (``SecretFileAccess/Policy/refuse``); `check` warns (the other commands load with the same warning and
/// show errors only).
public enum SecretFileAccess {
    /// What to do about a secret file others may read.
    public enum Policy: Sendable, Hashable {
        /// A warning (`check`; `key` and `export` load this way): the file is still read.
        case warn
        /// An error (`run`, `reload`): the configuration is not accepted.
        case refuse
    }

    /// What is wrong with a secret file, and the commands that fix it.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public var fix: String
        public var description: String { "\(message) (fix: \(fix))" }
    }

    /// The problem of a file holding a secret, or nil when only `user` (or root, when the owner is root) can
    /// read it.
    /// - Parameters:
    ///   - what: how the file is named in the message ("the key file", "the configuration ... ").
    ///   - mode: its permission bits; `owner`: its owner; `user`: the effective user of this process.
    ///   - name: a user ID as a name (default: the password database, else the number).
    public static func problem(
        what: String, path: String, mode: UInt32, owner: UInt32, user: UInt32,
        name: (UInt32) -> String = userName
    ) -> Problem? {
        let foreign = owner != user && owner != 0
        let open = mode & 0o077 != 0
        guard foreign || open else { return nil }
        var reasons: [String] = []
        var fixes: [String] = []
        if foreign {
            reasons.append("is owned by \(name(owner)), not by \(name(user)) who runs isthmus")
            fixes.append("chown \(name(user)) \(path)")
        }
        if open {
            reasons.append("can be read or written by group or others (mode \(octal(mode)))")
            fixes.append("chmod 600 \(path)")
        }
        return Problem(
            message: "\(what) \(path) \(reasons.joined(separator: " and ")): a secret must be the owner's alone",
            fix: fixes.joined(separator: " && "))
    }

    /// The problem of the file at `path` for the user running this process, nil when there is none or the
    /// file cannot be examined (reading it reports that).
    public static func problem(what: String, path: String) -> Problem? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return problem(
            what: what, path: path, mode: UInt32(status.st_mode) & 0o7777, owner: status.st_uid, user: geteuid())
    }

    /// `0644`, `0600`.
    static func octal(_ mode: UInt32) -> String {
        let digits = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// The name of user `id` in the password database, or `uid N`.
    public static func userName(_ id: UInt32) -> String {
        guard let entry = getpwuid(id), let name = entry.pointee.pw_name else { return "uid \(id)" }
        return String(cString: name)
    }
}
