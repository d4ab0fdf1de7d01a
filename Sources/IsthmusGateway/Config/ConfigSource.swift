import Glibc

/// Reading a configuration (or key) file from disk, with the checks that come before YAML.
enum ConfigSource {
    /// Largest configuration file accepted. Real ones are a few kilobytes; this bounds memory and
    /// parse time for a wrong file (a log, an image) given by mistake.
    static let maximumConfigBytes = 1 << 20

    /// Largest key file accepted: keys are at most a few hundred characters.
    static let maximumKeyFileBytes = 4096

    enum ReadError: Error {
        case cannotOpen(String)
        case tooLarge(Int)
    }

    /// A file's bytes, with its permission bits and owner as `fstat` saw them on the descriptor read.
    struct Contents {
        var bytes: [UInt8]
        var mode: UInt32
        var owner: UInt32
    }

    /// The bytes of a regular file, or why not. Reads at most `limit + 1` bytes.
    static func read(path: String, limit: Int) -> Result<Contents, ReadError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(.cannotOpen(errnoText())) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(.cannotOpen(errnoText())) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return .failure(.cannotOpen("not a regular file")) }
        if Int(info.st_size) > limit { return .failure(.tooLarge(Int(info.st_size))) }
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { buffer in
                Glibc.read(fd, buffer.baseAddress! + filled, buffer.count - filled)
            }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(.cannotOpen(errnoText()))
            }
            if count == 0 { break }
            filled += count
        }
        if filled > limit { return .failure(.tooLarge(filled)) }
        return .success(
            Contents(bytes: Array(bytes[..<filled]), mode: UInt32(info.st_mode) & 0o7777, owner: info.st_uid))
    }

    /// Where and why bytes are not a text file.
    struct NotText: Error {
        let location: SourceLocation
        let reason: String
    }

    /// Checks that `bytes` are UTF-8 text without control characters; returns the text or where it is not.
    static func text(from bytes: [UInt8]) -> Result<String, NotText> {
        var line = 1
        var column = 1
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var scalars = String.UnicodeScalarView()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                let value = scalar.value
                if value == 0x0A {
                    line += 1
                    column = 0
                } else if value < 0x20 && value != 0x09 && value != 0x0D || value == 0x7F {
                    let hex = String(value, radix: 16, uppercase: true)
                    return .failure(
                        NotText(
                            location: SourceLocation(line: line, column: column),
                            reason: "control character 0x\(hex.count == 1 ? "0" + hex : hex): this is not a text file"))
                }
                column += 1
                scalars.append(scalar)
            case .emptyInput:
                return .success(String(scalars))
            case .error:
                return .failure(
                    NotText(
                        location: SourceLocation(line: line, column: column),
                        reason: "bytes that are not UTF-8 text: this is not a text file"))
            }
        }
    }

    static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}
