import ArgumentParser
import Foundation
import IsthmusCrypto

/// `isthmus-bench crypto`: ESP suite throughput, Diffie-Hellman rates, and `openssl speed` for reference.
struct CryptoBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crypto",
        abstract: "Seal/open MB/s per ESP suite and DH operations per second, one thread, vs openssl speed."
    )

    /// The project's target: the fastest AEAD path within 25% of `openssl speed -evp aes-256-gcm`.
    static let targetRatio = 0.75
    /// ESP header used as associated data: SPI || 32-bit sequence number (RFC 4303 section 2).
    static let espHeaderLength = 8
    /// Packets sealed ahead of the open loop; each iteration opens a fresh copy of one of them.
    static let openTemplates = 16
    /// Operations between clock reads in the packet loops.
    static let packetBatch = 64
    /// Groups measured: MODP 2 and 14, ECP 19/20/21, Curve25519 (IKEv2 Transform Type 4 numbers).
    static let groups: [(id: UInt16, name: String)] = [
        (DiffieHellman.GroupID.modp1024, "modp1024"), (DiffieHellman.GroupID.modp2048, "modp2048"),
        (DiffieHellman.GroupID.ecp256, "ecp256"), (DiffieHellman.GroupID.ecp384, "ecp384"),
        (DiffieHellman.GroupID.ecp521, "ecp521"), (DiffieHellman.GroupID.curve25519, "curve25519"),
    ]

    @Option(help: "Seconds per measurement (each suite direction, each DH group, each openssl run).")
    var seconds: Double = 2

    @Option(help: "Payload bytes per packet (rounded up to the cipher block size for CBC suites).")
    var size: Int = 1400

    @Flag(help: "Skip the Diffie-Hellman measurements.")
    var skipDH = false

    @Flag(name: .customLong("skip-openssl"), help: "Skip running openssl speed.")
    var skipOpenSSL = false

    func validate() throws {
        guard seconds > 0, seconds <= 600 else { throw ValidationError("--seconds must be in (0, 600]") }
        guard size >= 16, size <= 65_000 else { throw ValidationError("--size must be in 16...65000") }
    }

    func run() throws {
        let stopwatch = Stopwatch(duration: .seconds(seconds), warmUp: .seconds(min(0.25, seconds / 4)))
        var checksum: UInt64 = 0
        print("isthmus-bench crypto: \(size)-byte payloads, \(seconds) s per measurement, one thread")
        print("MB = 10^6 bytes of payload. Protections come from CryptoSuites.makeProtection, as in the ESP engine.")
        print("")

        var results: [SuiteResult] = []
        for suite in BenchSuite.all {
            let result = try measure(suite, stopwatch: stopwatch, checksum: &checksum)
            results.append(result)
            FileHandle.standardError.write(Data("  measured \(suite.name)\n".utf8))
        }
        let copyLength = size + 24  // a GCM packet: IV 8 + payload + ICV 16
        let copy = copyCost(packetLength: copyLength, stopwatch: stopwatch, checksum: &checksum)

        var dhResults: [(name: String, id: UInt16, sample: Stopwatch.Sample)] = []
        if !skipDH {
            for group in Self.groups {
                dhResults.append((group.name, group.id, try measureDH(group.id, stopwatch, &checksum)))
                FileHandle.standardError.write(Data("  measured DH group \(group.id)\n".utf8))
            }
        }

        var openssl: [String: Double] = [:]
        var opensslAEAD: [String: Double] = [:]
        var openSSLNote: String?
        if skipOpenSSL {
            openSSLNote = "openssl speed skipped (--skip-openssl)"
        } else if let executable = OpenSSLSpeed.locate() {
            let opensslSeconds = max(1, Int(seconds.rounded()))
            for cipher in Set(BenchSuite.all.compactMap(\.openSSLCipher)).sorted() {
                openssl[cipher] = try OpenSSLSpeed.megabytesPerSecond(
                    executable, cipher: cipher, size: size, seconds: opensslSeconds)
                // Informational only (the target is defined on plain -evp): per-packet IV, AAD and tag.
                opensslAEAD[cipher] = try? OpenSSLSpeed.megabytesPerSecond(
                    executable, cipher: cipher, size: size, seconds: opensslSeconds, aead: true)
                FileHandle.standardError.write(Data("  measured openssl \(cipher)\n".utf8))
            }
            openSSLNote =
                "reference: \(OpenSSLSpeed.version(executable) ?? "openssl"), "
                + "`openssl speed [-aead] -evp CIPHER -bytes \(size) -seconds \(opensslSeconds)` (encrypt only);\n"
                + "-aead sets a new IV, 13 bytes of AAD and gets the tag per block, as a packet needs."
        } else {
            openSSLNote = "openssl not found on PATH: no reference column, target not checked"
        }

        printSuiteTable(results, openssl: openssl, aead: opensslAEAD)
        print("")
        print(
            "open MB/s includes copying a sealed packet into place per iteration "
                + String(format: "(%.0f ns for %d bytes).", copy * 1e9, copyLength)
        )
        if let openSSLNote { print(openSSLNote) }
        if !dhResults.isEmpty {
            print("")
            printDHTable(dhResults)
        }
        print("")
        printVerdict(results, openssl: openssl, aead: opensslAEAD)
        print(String(format: "checksum 0x%016llx", checksum))
    }

    // MARK: Packet protection

    /// Throughput of one suite in both directions.
    struct SuiteResult {
        let suite: BenchSuite
        let payloadLength: Int
        let sealMBps: Double
        let openMBps: Double
    }

    private func measure(
        _ suite: BenchSuite, stopwatch: Stopwatch, checksum: inout UInt64
    ) throws(IsthmusCryptoError) -> SuiteResult {
        let protection = try suite.makeProtection()
        let payloadLength = (size + protection.blockSize - 1) / protection.blockSize * protection.blockSize
        let ivLength = protection.ivLength
        let packetLength = ivLength + payloadLength + protection.icvLength
        let templateCount = Self.openTemplates

        let packet = UnsafeMutableRawBufferPointer.allocate(byteCount: packetLength, alignment: 64)
        let templates = UnsafeMutableRawBufferPointer.allocate(byteCount: packetLength * templateCount, alignment: 64)
        let header = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.espHeaderLength, alignment: 8)
        defer {
            packet.deallocate()
            templates.deallocate()
            header.deallocate()
        }
        let plaintext = (0..<payloadLength).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }
        header.storeBytes(of: UInt32(0x1234_5678).bigEndian, toByteOffset: 0, as: UInt32.self)
        let aad = UnsafeRawBufferPointer(header)

        /// Writes sequence number `sequence` into the ESP header and the IV (as an ESP engine would for GCM).
        func number(_ buffer: UnsafeMutableRawBufferPointer, _ sequence: Int) {
            header.storeBytes(of: UInt32(truncatingIfNeeded: sequence).bigEndian, toByteOffset: 4, as: UInt32.self)
            buffer.storeBytes(of: UInt64(truncatingIfNeeded: sequence).bigEndian, toByteOffset: 0, as: UInt64.self)
        }

        // Seal: the same buffer resealed in place, a new sequence number and IV per packet.
        packet.initializeMemory(as: UInt8.self, repeating: 0)
        plaintext.withUnsafeBytes {
            packet.baseAddress!.advanced(by: ivLength).copyMemory(from: $0.baseAddress!, byteCount: payloadLength)
        }
        var sealSum: UInt64 = 0
        let seal = try stopwatch.measure(batch: Self.packetBatch) { (index) throws(IsthmusCryptoError) in
            number(packet, index &+ 1)
            try protection.seal(packet, associatedData: aad)
            sealSum &+= UInt64(packet[packetLength - 1])
        }

        // Open: fresh, genuinely sealed packets (distinct sequence numbers), copied in and opened in place.
        for template in 0..<templateCount {
            let slot = UnsafeMutableRawBufferPointer(
                rebasing: templates[(template * packetLength)..<((template + 1) * packetLength)])
            slot.initializeMemory(as: UInt8.self, repeating: 0)
            plaintext.withUnsafeBytes {
                slot.baseAddress!.advanced(by: ivLength).copyMemory(from: $0.baseAddress!, byteCount: payloadLength)
            }
            number(slot, template + 1)
            try protection.seal(slot, associatedData: aad)
        }
        try verifyOpen(protection, templates, packet, plaintext)

        var openSum: UInt64 = 0
        let open = try stopwatch.measure(batch: Self.packetBatch) { (index) throws(IsthmusCryptoError) in
            let template = index % templateCount
            packet.baseAddress!.copyMemory(
                from: templates.baseAddress!.advanced(by: template * packetLength), byteCount: packetLength)
            header.storeBytes(of: UInt32(template + 1).bigEndian, toByteOffset: 4, as: UInt32.self)
            try protection.open(packet, associatedData: aad)
            openSum &+= UInt64(packet[ivLength + index % payloadLength])
        }
        checksum = checksum &* 31 &+ sealSum &+ openSum
        let megabytes = Double(payloadLength) / 1e6
        return SuiteResult(
            suite: suite, payloadLength: payloadLength, sealMBps: seal.rate * megabytes,
            openMBps: open.rate * megabytes
        )
    }

    /// Before timing: the first template (sequence number 1) opens to the plaintext, and the same packet
    /// with one payload bit flipped is rejected. The caller's header buffer is left as it was.
    private func verifyOpen(
        _ protection: any PacketProtection,
        _ templates: UnsafeMutableRawBufferPointer,
        _ packet: UnsafeMutableRawBufferPointer,
        _ plaintext: [UInt8]
    ) throws(IsthmusCryptoError) {
        let ivLength = protection.ivLength
        let template = UnsafeRawBufferPointer(rebasing: templates[0..<packet.count])
        var header: (UInt32, UInt32) = (UInt32(0x1234_5678).bigEndian, UInt32(1).bigEndian)
        try withUnsafeBytes(of: &header) { (aad) throws(IsthmusCryptoError) in
            packet.copyMemory(from: template)
            try protection.open(packet, associatedData: aad)
            guard Array(packet[ivLength..<(ivLength + plaintext.count)]) == plaintext else {
                throw IsthmusCryptoError.backendFailure("benchmark self-check: opened payload differs from plaintext")
            }
            packet.copyMemory(from: template)
            packet[ivLength + 1] ^= 0x04
            do throws(IsthmusCryptoError) {
                try protection.open(packet, associatedData: aad)
            } catch {
                guard error.code == .authenticationFailure else { throw error }
                return
            }
            throw IsthmusCryptoError.backendFailure("benchmark self-check: a tampered packet was accepted")
        }
    }

    /// Seconds per copy of one packet, the overhead the open loop carries.
    private func copyCost(packetLength: Int, stopwatch: Stopwatch, checksum: inout UInt64) -> Double {
        let source = UnsafeMutableRawBufferPointer.allocate(byteCount: packetLength * Self.openTemplates, alignment: 64)
        let target = UnsafeMutableRawBufferPointer.allocate(byteCount: packetLength, alignment: 64)
        defer {
            source.deallocate()
            target.deallocate()
        }
        source.initializeMemory(as: UInt8.self, repeating: 7)
        var sum: UInt64 = 0
        let short = Stopwatch(duration: .seconds(min(0.5, stopwatch.duration.seconds)), warmUp: .milliseconds(50))
        let sample = short.measure(batch: Self.packetBatch) { index in
            let template = index % Self.openTemplates
            target.baseAddress!.copyMemory(
                from: source.baseAddress!.advanced(by: template * packetLength), byteCount: packetLength)
            target[index % packetLength] = UInt8(truncatingIfNeeded: index)
            sum &+= UInt64(target[(index &* 7) % packetLength])
        }
        checksum = checksum &* 31 &+ sum
        return sample.secondsPerIteration
    }

    // MARK: Diffie-Hellman

    /// Key generation plus shared secret against a fixed peer, per iteration.
    private func measureDH(
        _ groupID: UInt16, _ stopwatch: Stopwatch, _ checksum: inout UInt64
    ) throws(IsthmusCryptoError) -> Stopwatch.Sample {
        let peer = try DiffieHellman.makeExchange(groupID: groupID).publicValue
        var sum: UInt64 = 0
        let sample = try stopwatch.measure(batch: 1) { (_) throws(IsthmusCryptoError) in
            let ours = try DiffieHellman.makeExchange(groupID: groupID)
            let secret = try ours.sharedSecret(peerPublicValue: peer)
            sum &+= secret.withUnsafeBytes { UInt64($0[0]) } &+ UInt64(ours.publicValue[0])
        }
        checksum = checksum &* 31 &+ sum
        return sample
    }

    // MARK: Output

    private func printSuiteTable(_ results: [SuiteResult], openssl: [String: Double], aead: [String: Double]) {
        let header = [
            "suite", "payload", "seal MB/s", "open MB/s", "openssl MB/s", "seal/openssl", "openssl -aead MB/s",
        ]
        var rows: [[String]] = []
        for result in results {
            let reference = result.suite.openSSLCipher.flatMap { openssl[$0] }
            rows.append([
                result.suite.name, String(result.payloadLength), format(result.sealMBps), format(result.openMBps),
                reference.map { format($0) } ?? "-",
                reference.map { String(format: "%.2f", result.sealMBps / $0) } ?? "-",
                result.suite.openSSLCipher.flatMap { aead[$0] }.map { format($0) } ?? "-",
            ])
        }
        printTable(header, rows)
    }

    private func printDHTable(_ results: [(name: String, id: UInt16, sample: Stopwatch.Sample)]) {
        let header = ["DH group (keygen + shared secret)", "ops/s", "ms/op"]
        let rows = results.map { result in
            [
                "\(result.id) \(result.name)", String(format: "%.1f", result.sample.rate),
                String(format: "%.3f", result.sample.secondsPerIteration * 1000),
            ]
        }
        printTable(header, rows)
    }

    private func printVerdict(_ results: [SuiteResult], openssl: [String: Double], aead: [String: Double]) {
        if let ours = results.first(where: { $0.suite.name == "aes256gcm16" }), let reference = openssl["aes-256-gcm"] {
            var line = String(
                format: "aes256gcm16 vs openssl aes-256-gcm: seal %.2fx, open %.2fx",
                ours.sealMBps / reference, ours.openMBps / reference
            )
            if let perPacket = aead["aes-256-gcm"] {
                line += String(format: "; vs openssl -aead: seal %.2fx", ours.sealMBps / perPacket)
            }
            print(line)
        }
        guard let fastest = results.filter(\.suite.isAEAD).max(by: { $0.sealMBps < $1.sealMBps }),
            let reference = openssl["aes-256-gcm"]
        else {
            print("target (fastest AEAD within 25% of openssl aes-256-gcm): not checked, no openssl reference")
            return
        }
        let ratio = fastest.sealMBps / reference
        let verdict = ratio >= Self.targetRatio ? "MET" : "NOT MET"
        print(
            "target (fastest AEAD within 25% of openssl aes-256-gcm, ratio >= \(Self.targetRatio)): \(verdict): "
                + "\(fastest.suite.name) seals \(format(fastest.sealMBps)) MB/s vs openssl \(format(reference)) MB/s "
                + String(format: "(%.2fx)", ratio)
        )
    }

    private func format(_ value: Double) -> String { String(format: "%.1f", value) }

    /// Prints left-aligned first column and right-aligned numeric columns.
    private func printTable(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        for row in all {
            let cells = row.indices.map { column -> String in
                let padding = String(repeating: " ", count: widths[column] - row[column].count)
                return column == 0 ? row[column] + padding : padding + row[column]
            }
            print(cells.joined(separator: "  "))
        }
    }
}
