// swift-tools-version: 6.1
//
// Isthmus: a site-to-site IPsec VPN gateway for Linux.
// Targets follow docs/ARCHITECTURE.md: pure protocol and model modules below,
// the I/O shell and the CLI on top. Only IsthmusCrypto may import CLibcrypto.
import PackageDescription

let package = Package(
    name: "isthmus",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "isthmus", targets: ["isthmus"]),
        .executable(name: "isthmus-bench", targets: ["isthmus-bench"]),
    ],
    dependencies: [
        // 4.5.2 exactly: 3.x `_CryptoExtras` AES-CBC is pure Swift and 40x slower (measured).
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        // Metrics (`isthmus run --metrics`): the swift-metrics API in the daemon, the Prometheus backend and
        // Hummingbird's HTTP server only in IsthmusMetrics and the CLI.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Header names the dashboard checks (Origin, Sec-Fetch-Site); Hummingbird already depends on it.
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.4.0"),
        // X.509 for certificate authentication (IsthmusPKI): parsing, DER, issuing the CLI's certificates.
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    ],
    targets: [
        // Debian's libcrypto (libssl-dev): 3DES/DES and constant-time MODP exponentiation.
        .systemLibrary(
            name: "CLibcrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev", "pkg-config"])]
        ),
        // IP addresses, prefixes and ranges: shared vocabulary, no dependencies.
        .target(name: "IsthmusIP"),
        // Wire codecs: IKEv2 (RFC 7296, 7383), ISAKMP/IKEv1 (RFC 2408/2407/2409, 3947, 3706), ESP framing
        // and UDP encapsulation (RFC 4303, 3948). No I/O, no crypto, never traps on input.
        .target(name: "IsthmusWire"),
        // Structured events: every state change of every core, one type for logs, status and metrics.
        .target(name: "IsthmusEvents"),
        // What every IKE core shares with the I/O shell: IKESession, IKEInput, IKEAction (CHILD SA changes in
        // the ESP engine's own vocabulary, ESPSAChange).
        .target(name: "IsthmusIKE", dependencies: ["IsthmusCrypto", "IsthmusIP", "IsthmusEvents", "IsthmusESP"]),
        // IKEv2 (RFC 7296) as a deterministic state machine: (datagram, time) in, actions out.
        .target(
            name: "IsthmusIKEv2",
            dependencies: ["IsthmusIKE", "IsthmusWire", "IsthmusCrypto", "IsthmusIP", "IsthmusEvents", "IsthmusPKI"]
        ),
        // IKEv1 (RFC 2409, 2408, 2407; 3706 DPD; 3947 NAT-T) as a deterministic state machine, same interface.
        .target(
            name: "IsthmusIKEv1",
            dependencies: ["IsthmusIKE", "IsthmusWire", "IsthmusCrypto", "IsthmusIP", "IsthmusEvents"]
        ),
        // ESP data plane core (RFC 4303 tunnel mode): SAD/SPD, encap/decap, anti-replay, lifetimes. No I/O.
        .target(
            name: "IsthmusESP",
            dependencies: ["CIsthmusChecksum", "IsthmusCrypto", "IsthmusWire", "IsthmusIP", "IsthmusEvents"]),
        // The Internet checksum's loop in C, vectorised (AVX2 when the CPU has it): pure computation, no I/O.
        .target(name: "CIsthmusChecksum"),
        // Algorithm registry (IANA identifiers for IKEv1/IKEv2/ESP), proposal strings, crypto suites.
        .target(
            name: "IsthmusCrypto",
            dependencies: [
                "CLibcrypto",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // X.509 certificates (swift-certificates): chains to configured roots, revocation lists, RFC 7427
        // signature schemes and their AlgorithmIdentifiers, our own credential's signatures. Pure: time is a
        // parameter.
        .target(
            name: "IsthmusPKI",
            dependencies: [
                "IsthmusIP",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // Network model, YAML configuration, validation, topology summary; the pair check asks the two
        // cores what two ends will negotiate.
        .target(
            name: "IsthmusGateway",
            dependencies: [
                "IsthmusIP",
                "IsthmusIKE",
                "IsthmusIKEv1",
                "IsthmusIKEv2",
                "IsthmusCrypto",
                "IsthmusEvents",
                "IsthmusPKI",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The daemon's I/O shell: UDP 500/4500, timers, the control socket; routes datagrams to the cores.
        .target(
            name: "IsthmusDaemon",
            dependencies: [
                "IsthmusIKEv2", "IsthmusIKEv1", "IsthmusGateway", "IsthmusEvents", "IsthmusWire", "IsthmusIP",
                "IsthmusCrypto", "IsthmusPKI",
                "IsthmusDataplane", "IsthmusNetlink", "IsthmusESP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "HeapModule", package: "swift-collections"),
            ]
        ),
        // The Prometheus text endpoint (`isthmus run --metrics ADDRESS:PORT`): Hummingbird serving what the
        // daemon emits through swift-metrics into a PrometheusCollectorRegistry.
        .target(
            name: "IsthmusMetrics",
            dependencies: [
                "IsthmusIP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The web dashboard (`isthmus run --dashboard ADDRESS:PORT`): the network diagram from the model, a page
        // per connection, live updates by server-sent events, actions behind a token. It asks the daemon through
        // closures (DashboardBackend) and knows no IKE; its pages, script and styles are Swift strings.
        .target(
            name: "IsthmusDashboard",
            dependencies: [
                "IsthmusIP", "IsthmusGateway", "IsthmusEvents", "IsthmusCrypto", "IsthmusESP", "IsthmusMetrics",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // rtnetlink (RFC 3549) from Swift: interfaces and routes; a pure codec and one socket.
        .target(name: "IsthmusNetlink", dependencies: ["IsthmusIP"]),
        // recvmmsg/sendmmsg, CMSG_* and UDP GSO/GRO numbers that the Glibc module does not import.
        .target(name: "CIsthmusNet"),
        // Userspace ESP data plane: a TUN device, the NAT-T UDP socket and one thread that owns the ESP engine.
        .target(
            name: "IsthmusDataplane",
            dependencies: [
                "CIsthmusNet", "IsthmusESP", "IsthmusEvents", "IsthmusIP",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The CLI and (later) the daemon: no business logic here.
        .executableTarget(
            name: "isthmus",
            dependencies: [
                "IsthmusDaemon",
                "IsthmusIKEv2",
                "IsthmusGateway",
                "IsthmusCrypto",
                "IsthmusMetrics",
                "IsthmusDashboard",
                "IsthmusPKI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Benchmarks, release only, not part of CI: crypto vs openssl speed and the data plane's user-space stages
        // (scripts/bench), and the IKEv2 load generator on our own initiator core (`isthmus-bench ike`,
        // scripts/bench-ike).
        .executableTarget(
            name: "isthmus-bench",
            dependencies: [
                "IsthmusCrypto", "IsthmusESP", "IsthmusIKE", "IsthmusIKEv2", "IsthmusIP", "IsthmusEvents",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "HeapModule", package: "swift-collections"),
            ]
        ),
        // Stateful fuzzing (scripts/fuzz, docs/FUZZING.md): an IKEv2 and an IKEv1 pair of our cores driven by
        // a script of deliveries, timers and payload mutations re-sealed with the real SA keys. They use
        // `@testable import` of the cores: debug builds, or release with `-enable-testing` as scripts/fuzz
        // builds them (release builds of the product binaries name their product and never reach these).
        // `-DFUZZING` turns the executables into libFuzzer targets; without it they replay corpus files
        // and write the seed scripts.
        .target(
            name: "IsthmusFuzzSupport",
            dependencies: [
                "IsthmusIKEv2", "IsthmusIKEv1", "IsthmusIKE", "IsthmusWire", "IsthmusCrypto", "IsthmusIP",
                "IsthmusEvents", "IsthmusESP", "IsthmusPKI", "IsthmusTestSupport",
            ],
            path: "Tests/IsthmusFuzzSupport"
        ),
        .executableTarget(
            name: "isthmus-fuzz-ikev2", dependencies: ["IsthmusFuzzSupport"], path: "Tests/FuzzTargets/IKEv2"),
        .executableTarget(
            name: "isthmus-fuzz-ikev1", dependencies: ["IsthmusFuzzSupport"], path: "Tests/FuzzTargets/IKEv1"),
        // What several test targets share: a seeded generator, hex. No dependencies, so any test target may use it.
        .target(name: "IsthmusTestSupport", path: "Tests/IsthmusTestSupport"),
        .testTarget(name: "IsthmusIPTests", dependencies: ["IsthmusIP"]),
        .testTarget(name: "IsthmusNetlinkTests", dependencies: ["IsthmusNetlink", "IsthmusIP"]),
        .testTarget(name: "IsthmusWireTests", dependencies: ["IsthmusWire", "IsthmusTestSupport"]),
        .testTarget(name: "IsthmusIKETests", dependencies: ["IsthmusIKE", "IsthmusIP"]),
        .testTarget(name: "IsthmusIKEv2Tests", dependencies: ["IsthmusIKEv2", "IsthmusPKI", "IsthmusTestSupport"]),
        .testTarget(
            name: "IsthmusIKEv1Tests",
            dependencies: ["IsthmusIKEv1", "IsthmusWire", "IsthmusCrypto", "IsthmusTestSupport"]
        ),
        .testTarget(name: "IsthmusESPTests", dependencies: ["IsthmusESP", "IsthmusTestSupport"]),
        // Replays the kept fuzz corpora (Tests/Fuzz/corpus) through the same harness as the fuzzers.
        .testTarget(name: "IsthmusFuzzTests", dependencies: ["IsthmusFuzzSupport"]),
        .testTarget(
            name: "IsthmusDaemonTests",
            dependencies: [
                "IsthmusDaemon", "IsthmusMetrics", "IsthmusTestSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(
            name: "IsthmusDashboardTests",
            dependencies: ["IsthmusDashboard", "IsthmusESP", "IsthmusGateway", "IsthmusMetrics"]
        ),
        .testTarget(
            name: "IsthmusDataplaneTests",
            dependencies: [
                "IsthmusDataplane", "IsthmusESP", "IsthmusCrypto", "IsthmusIP",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // RFC/NIST known-answer vectors live in Vectors/ and are read via #filePath.
        // Oracles/: swift-crypto implementations of the ESP/IKE transforms, checked against the libcrypto ones.
        .testTarget(
            name: "IsthmusCryptoTests",
            dependencies: [
                "IsthmusCrypto", "IsthmusTestSupport", .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["Vectors"]
        ),
        .testTarget(name: "IsthmusPKITests", dependencies: ["IsthmusPKI", "IsthmusIP", "IsthmusTestSupport"]),
        .testTarget(
            name: "IsthmusGatewayTests",
            dependencies: ["IsthmusGateway", "IsthmusPKI", "IsthmusCrypto", "Yams", "IsthmusTestSupport"]),
        // strongSwan's own exchanges (Tests/Fixtures/captures) parsed, re-serialized and decrypted.
        .testTarget(name: "CaptureTests", dependencies: ["IsthmusWire", "IsthmusCrypto", "IsthmusTestSupport"]),
        // The load generator's pure parts (identity templates, the setup book, percentiles, the timer heap).
        .testTarget(name: "IsthmusBenchTests", dependencies: ["isthmus-bench", "IsthmusEvents", "IsthmusIP"]),
        // Runs the built `isthmus` binary as a user would (exit codes, output, no crashes).
        .testTarget(name: "IsthmusCLITests", dependencies: ["isthmus"]),
    ],
    swiftLanguageModes: [.v6]
)
