import Foundation
import IsthmusCrypto
import XCTest

@testable import IsthmusESP

#if canImport(Glibc)
    import Glibc
#endif

/// Proves the ESP data plane allocates nothing per packet (docs/ARCHITECTURE.md: IsthmusESP "must not
/// allocate per packet"): heap allocations are counted by a tiny `LD_PRELOAD` library that this test compiles
/// with the toolchain's `clang` and then re-runs itself under, in a child process.
///
/// Every ESP suite the factory builds (AES-GCM with each ICV and key size, ChaCha20-Poly1305, AES-CBC
/// 128/192/256 with each HMAC, 3DES and DES) must round-trip its packets with zero allocations after a
/// warm-up packet, both through the engine (encapsulate + decapsulate, with and without ESN) and in the
/// crypto layer alone (seal + open). A deliberately allocating protection is measured first: if the
/// counter does not see it, the measurement itself is broken and the test fails.
final class ESPAllocationTests: XCTestCase {
    private typealias Counter = @convention(c) () -> UInt64
    private static let childMarker = "ISTHMUS_MALLOC_COUNT_CHILD"
    private static let testName = "IsthmusESPTests.ESPAllocationTests/testEngineAddsNoAllocationsPerPacket"
    /// Packets measured per suite after one warm-up packet (lazy state, first-use caches).
    private static let rounds = 200

    /// Counts this thread's malloc, calloc, realloc, posix_memalign and aligned_alloc calls.
    private static let counterSource = """
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <stdint.h>
        #include <string.h>
        static __thread uint64_t count;
        static char bootstrap[8192];
        static size_t used;
        uint64_t isthmus_malloc_count(void) { return count; }
        static void *(*m)(size_t); static void *(*c)(size_t, size_t); static void *(*r)(void *, size_t);
        static int (*pm)(void **, size_t, size_t); static void *(*aa)(size_t, size_t); static void (*f)(void *);
        static void init(void) {
            static int busy; if (busy) return; busy = 1;
            m = dlsym(RTLD_NEXT, "malloc"); c = dlsym(RTLD_NEXT, "calloc"); r = dlsym(RTLD_NEXT, "realloc");
            pm = dlsym(RTLD_NEXT, "posix_memalign"); aa = dlsym(RTLD_NEXT, "aligned_alloc");
            f = dlsym(RTLD_NEXT, "free"); busy = 0;
        }
        void *malloc(size_t n) { if (!m) init(); count++; return m(n); }
        void *calloc(size_t a, size_t b) {
            if (!c) { init(); if (!c) { void *p = bootstrap + used; used += (a * b + 15) & ~(size_t)15;
                memset(p, 0, a * b); return p; } }
            count++; return c(a, b);
        }
        void *realloc(void *p, size_t n) { if (!r) init(); count++; return r(p, n); }
        int posix_memalign(void **p, size_t a, size_t n) { if (!pm) init(); count++; return pm(p, a, n); }
        void *aligned_alloc(size_t a, size_t n) { if (!aa) init(); count++; return aa(a, n); }
        void free(void *p) {
            if ((char *)p >= bootstrap && (char *)p < bootstrap + sizeof bootstrap) return;
            if (!f) init(); f(p);
        }
        """

    func testEngineAddsNoAllocationsPerPacket() throws {
        #if os(Linux)
            if let counter = Self.preloadedCounter() {
                return try measureEverySuite(counter)
            }
            guard ProcessInfo.processInfo.environment[Self.childMarker] == nil else {
                return XCTFail("the counting preload is not active in the child process")
            }
            try runChildWithCountingPreload()
        #else
            throw XCTSkip("uses LD_PRELOAD (Linux)")
        #endif
    }

    private static func preloadedCounter() -> Counter? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "isthmus_malloc_count") else { return nil }
        return unsafeBitCast(symbol, to: Counter.self)
    }

    private func runChildWithCountingPreload() throws {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"
        guard
            let clang = path.split(separator: ":").map({ "\($0)/clang" })
                .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else { throw XCTSkip("no clang in PATH to build the malloc-counting preload") }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("isthmus-esp-alloc-\(getpid())", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("count.c")
        let library = directory.appendingPathComponent("libcount.so")
        try Self.counterSource.write(to: source, atomically: true, encoding: .utf8)
        let compile = try run(clang, ["-shared", "-fPIC", "-O2", "-o", library.path, source.path, "-ldl"], [:])
        guard compile.status == 0 else { throw XCTSkip("could not build the preload: \(compile.output)") }

        var environment = ProcessInfo.processInfo.environment
        environment["LD_PRELOAD"] = library.path
        environment[Self.childMarker] = "1"
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).path
        let child = try run(binary, [Self.testName], environment)
        let report = child.output.split(separator: "\n").filter {
            $0.hasPrefix("ESP allocations") || $0.hasPrefix("  ")
        }
        print(report.joined(separator: "\n"))
        XCTAssertEqual(child.status, 0, "child run failed:\n\(child.output)")
        XCTAssertTrue(child.output.contains("ESP allocations"), "the child did not measure:\n\(child.output)")
    }

    private func run(_ executable: String, _ arguments: [String], _ environment: [String: String]) throws
        -> (status: Int32, output: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty { process.environment = environment }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    // MARK: In the child

    /// Every ESP suite: all GCM ICV lengths and key sizes, ChaCha20-Poly1305, AES-CBC with each key size
    /// and each HMAC, 3DES and single DES (both legacy, still in the registry).
    static let everySuite: [TestSuite] = {
        var suites: [TestSuite] = []
        for bits in [128, 192, 256] {
            for icv in [8, 12, 16] { suites.append(TestSuite("aes\(bits)gcm\(icv)")) }
        }
        suites.append(TestSuite("chacha20poly1305"))
        for bits in [128, 192, 256] {
            for integrity in ["md5", "sha1", "sha256", "sha384", "sha512"] {
                suites.append(TestSuite("aes\(bits)", integrity))
            }
        }
        suites += [TestSuite("3des", "sha1"), TestSuite("3des", "sha256"), TestSuite("des", "md5")]
        return suites
    }()

    private func measureEverySuite(_ count: Counter) throws {
        // The counter must see an allocation made per packet, or a zero below proves nothing.
        let canary = AllocatingProtection(try makeProtection(TestSuite("aes128gcm16")))
        let canaryCount = try cryptoPerPacket(canary, "canary", count: count)
        XCTAssertGreaterThanOrEqual(canaryCount, 1, "the malloc counter missed a deliberate allocation per packet")
        var report = ["  canary (allocates once per seal and per open): crypto \(canaryCount)"]
        for suite in Self.everySuite {
            let crypto = try cryptoPerPacket(try makeProtection(suite), "\(suite)", count: count)
            XCTAssertEqual(crypto, 0, "\(suite): seal + open allocated per packet")
            for esn in [false, true] {
                let total = try enginePerPacket(suite, esn: esn, count: count)
                report.append("  \(suite)\(esn ? "+esn" : ""): engine and crypto \(total), crypto alone \(crypto)")
                XCTAssertEqual(total, 0, "\(suite) esn=\(esn): encapsulate + decapsulate allocated per packet")
            }
        }
        print("ESP allocations per encapsulate + decapsulate (debug build):\n" + report.joined(separator: "\n"))
    }

    private func makeProtection(_ suite: TestSuite) throws -> any PacketProtection {
        let keys = suite.keys(seed: 1)
        return try CryptoSuites.makeProtection(
            encryptionID: suite.encryption.ikev2ID, keyBits: suite.encryption.keyLengthBits,
            encryptionKey: keys.encryption, integrityID: suite.integrity?.ikev2ID, integrityKey: keys.integrity)
    }

    /// Allocations per encapsulate + decapsulate, buffers reused as the I/O layer will.
    private func enginePerPacket(_ suite: TestSuite, esn: Bool, count: Counter) throws -> Double {
        let (a, b) = try SAPairConfig(suite: suite, esn: esn).engines()
        let inner = ipv4UDP(from: "192.168.1.10", to: "10.0.1.4", payload: [UInt8](repeating: 7, count: 1300))
        var out = [UInt8](repeating: 0, count: ESPEngine.requiredHeadroom + inner.count + ESPEngine.requiredTailroom)
        var wire = [UInt8](repeating: 0, count: out.count)
        let range = ESPEngine.requiredHeadroom..<(ESPEngine.requiredHeadroom + inner.count)
        var start: UInt64 = 0
        var delivered = 0
        out.withUnsafeMutableBytes { outBuffer in
            wire.withUnsafeMutableBytes { wireBuffer in
                inner.withUnsafeBytes { innerBytes in
                    var round = 0
                    while round <= Self.rounds {
                        if round == 1 { start = count() }
                        round += 1
                        UnsafeMutableRawBufferPointer(rebasing: outBuffer[range]).copyMemory(from: innerBytes)
                        guard case .packet(let sent) = a.encapsulate(innerPacketAt: range, in: outBuffer, now: .zero)
                        else { return }
                        let esp = UnsafeMutableRawBufferPointer(rebasing: wireBuffer[0..<sent.range.count])
                        esp.copyMemory(from: UnsafeRawBufferPointer(rebasing: outBuffer[sent.range]))
                        if case .packet = b.decapsulate(espPacket: esp, now: .zero) { delivered += 1 }
                    }
                }
            }
        }
        let allocations = count() - start
        XCTAssertEqual(delivered, Self.rounds + 1, "\(suite)")
        return Double(allocations) / Double(Self.rounds)
    }

    /// Allocations of the crypto layer alone for one seal + open of the same size.
    private func cryptoPerPacket(
        _ protection: any PacketProtection, _ name: String, count: Counter
    ) throws -> Double {
        let payloadLength = (1344 + protection.blockSize - 1) / protection.blockSize * protection.blockSize
        var packet = [UInt8](repeating: 3, count: protection.ivLength + payloadLength + protection.icvLength)
        let header: [UInt8] = [1, 2, 3, 4, 0, 0, 0, 1]
        var start: UInt64 = 0
        var failures = 0
        header.withUnsafeBytes { associatedData in
            packet.withUnsafeMutableBytes { buffer in
                var round = 0
                while round <= Self.rounds {
                    if round == 1 { start = count() }
                    round += 1
                    do {
                        try protection.seal(buffer, associatedData: associatedData)
                        try protection.open(buffer, associatedData: associatedData)
                    } catch {
                        failures += 1
                    }
                }
            }
        }
        let allocations = count() - start
        XCTAssertEqual(failures, 0, name)
        return Double(allocations) / Double(Self.rounds)
    }
}

/// A protection that allocates one object per seal and per open: the canary that proves the counter works.
private struct AllocatingProtection: PacketProtection {
    let wrapped: any PacketProtection

    init(_ wrapped: any PacketProtection) { self.wrapped = wrapped }

    var ivLength: Int { wrapped.ivLength }
    var icvLength: Int { wrapped.icvLength }
    var blockSize: Int { wrapped.blockSize }

    func seal(
        _ packet: UnsafeMutableRawBufferPointer, associatedData: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer
    ) throws(IsthmusCryptoError) {
        AllocationSink.keep(AllocationSink())
        try wrapped.seal(packet, associatedData: associatedData, trailingData: trailingData)
    }

    func open(
        _ packet: UnsafeMutableRawBufferPointer, associatedData: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer
    ) throws(IsthmusCryptoError) {
        AllocationSink.keep(AllocationSink())
        try wrapped.open(packet, associatedData: associatedData, trailingData: trailingData)
    }
}

/// A heap object kept in a global until the next one replaces it, so no optimiser can drop the allocation.
private final class AllocationSink: @unchecked Sendable {
    nonisolated(unsafe) private static var last: AllocationSink?

    static func keep(_ object: AllocationSink) { last = object }
}
