#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What both fuzz executables do: run one input (libFuzzer's callback), or replay files and write seeds.
public enum FuzzEntry {
    /// Runs one script; a broken invariant is a crash for libFuzzer (the input is kept as an artifact).
    public static func fuzz<Core: FuzzCore>(_ core: Core.Type, _ data: UnsafeRawPointer, _ size: Int) -> Int32 {
        let pair = FuzzPair<Core>.run(Array(UnsafeRawBufferPointer(start: data, count: size)))
        if let violation = pair.violations.first { fatalError("invariant broken: \(violation)") }
        return 0
    }

    /// Without libFuzzer: `--write-seeds DIR` writes the seed scripts, otherwise every file argument (or every
    /// file of a directory argument) is replayed; exits 1 when an invariant broke.
    public static func replay<Core: FuzzCore>(_ core: Core.Type, seeds: [(String, [UInt8])]) {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--write-seeds", arguments.count == 2 {
            for (name, script) in seeds { write(script, to: arguments[1] + "/seed-" + name) }
            print("wrote \(seeds.count) seeds to \(arguments[1])")
            return
        }
        arguments = arguments.flatMap { path in FuzzCorpus.files(in: path) ?? [path] }
        var failures = 0
        for path in arguments {
            guard let script = FuzzCorpus.read(path) else {
                print("\(path): unreadable")
                failures += 1
                continue
            }
            let pair = FuzzPair<Core>.run(script)
            for violation in pair.violations { print("\(path): \(violation)") }
            if !pair.violations.isEmpty { failures += 1 }
        }
        print("replayed \(arguments.count) inputs, \(failures) failed")
        exit(failures == 0 ? 0 : 1)
    }

    static func write(_ bytes: [UInt8], to path: String) {
        guard let file = fopen(path, "wb") else { return }
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
}

/// Corpus files on disk, read without Foundation.
public enum FuzzCorpus {
    /// The regular files of a directory, sorted; nil when `path` is not a directory.
    public static func files(in path: String) -> [String]? {
        guard let directory = opendir(path) else { return nil }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix(".") { names.append(path + "/" + name) }
        }
        return names.sorted()
    }

    public static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if count <= 0 { break }
            bytes += buffer.prefix(count)
        }
        return bytes
    }
}
