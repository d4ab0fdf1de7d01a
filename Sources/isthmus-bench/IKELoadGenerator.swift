import Foundation
import Glibc
import IsthmusEvents
import IsthmusIKE
import IsthmusIKEv2
import IsthmusIP
import Synchronization

/// Set by SIGINT and SIGTERM: the generator ends its hold (or its run), deleting what it set up.
let loadStopRequested = Atomic<Bool>(false)

/// What `isthmus-bench ike` runs: `count` initiators of our own IKEv2 core, `concurrency` at a time, each with the
/// configuration `configuration(index)` makes.
struct LoadPlan {
    var target: UDPEndpoint
    /// Where the two sockets are bound: this address, the IKE port and the NAT-T port.
    var source: UDPEndpoint
    var natPort: UInt16
    var count: Int
    var concurrency: Int
    /// Setups not up this long after the first one started fail with `run-timeout`.
    var timeout: Duration
    /// Keep the SAs after the run until SIGINT or SIGTERM.
    var hold: Bool
    /// Print every event of the initiators on standard error.
    var verbose: Bool
    /// ICMP echo traffic through some of the tunnels once they are up (nil: none).
    var traffic: TrafficPlan?
    var configuration: (Int) -> IKEv2Configuration
}

/// One UDP socket bound to an IPv4 endpoint, non-blocking, with large buffers.
final class UDPSocket {
    let descriptor: Int32
    let local: UDPEndpoint

    init(bindingTo endpoint: UDPEndpoint, bufferBytes: Int32 = 8 << 20) throws(LoadOptionError) {
        descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { throw LoadOptionError("socket(): \(String(cString: strerror(errno)))") }
        local = endpoint
        var size = bufferBytes
        for option in [SO_RCVBUF, SO_SNDBUF, SO_RCVBUFFORCE, SO_SNDBUFFORCE] {
            _ = setsockopt(descriptor, SOL_SOCKET, option, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var one: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.socketAddress(endpoint)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw LoadOptionError("cannot bind UDP \(endpoint): \(reason)")
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    deinit { close(descriptor) }

    static func socketAddress(_ endpoint: UDPEndpoint) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = endpoint.port.bigEndian
        let bytes = endpoint.address.bytes
        let value = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        address.sin_addr.s_addr = value.bigEndian
        return address
    }

    /// Sends one datagram; false when the kernel refused it (counted by the caller).
    func send(_ bytes: [UInt8], to endpoint: UDPEndpoint) -> Bool {
        var address = Self.socketAddress(endpoint)
        let sent = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(
                        descriptor, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        return sent == bytes.count
    }

    /// One waiting datagram and its sender, nil when none is waiting.
    func receive(into buffer: inout [UInt8]) -> (length: Int, from: UDPEndpoint)? {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let count = buffer.withUnsafeMutableBytes { raw in
            withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(descriptor, raw.baseAddress, raw.count, 0, $0, &length)
                }
            }
        }
        guard count >= 0 else { return nil }
        let value = UInt32(bigEndian: address.sin_addr.s_addr)
        return (count, UDPEndpoint(address: IPAddress(v4: value), port: UInt16(bigEndian: address.sin_port)))
    }

    /// The local address the kernel would send from to reach `target` (a connected UDP socket's name).
    static func sourceAddress(toward target: UDPEndpoint) throws(LoadOptionError) -> IPAddress {
        let probe = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard probe >= 0 else { throw LoadOptionError("socket(): \(String(cString: strerror(errno)))") }
        defer { close(probe) }
        var address = socketAddress(target)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(probe, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            throw LoadOptionError("no route to \(target.address): \(String(cString: strerror(errno))); give --source")
        }
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(probe, $0, &length) }
        }
        return IPAddress(v4: UInt32(bigEndian: local.sin_addr.s_addr))
    }
}

/// The load generator: our sans-I/O IKEv2 initiator, many sessions over one IKE socket and one NAT-T socket,
/// responses routed by our SPI, timers in one heap, a `poll` loop on a monotonic clock.
final class IKELoadGenerator {
    private struct TimerKey: Hashable, Sendable {
        var index: Int
        var timer: IKETimer
    }

    private let plan: LoadPlan
    private let ikeSocket: UDPSocket
    private let natSocket: UDPSocket
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant
    private(set) var book: SetupBook
    private var sessions: [Int: IKEv2Session] = [:]
    /// Our SPI (the initiator's, the first 8 bytes of every message of the SA) to the setup number.
    private var bySPI: [UInt64: Int] = [:]
    private var spiOf: [Int: UInt64] = [:]
    private var lastWarning: [Int: String] = [:]
    private var timers = TimerQueue<TimerKey>()
    private var buffer = [UInt8](repeating: 0, count: 65_536)
    /// Datagrams the kernel refused to send, datagrams no session claimed, SAs the responder closed after setup.
    private(set) var sendFailures = 0
    private(set) var unmatched = 0
    private(set) var closedAfterSetup = 0
    private let traffic: LoadTraffic?
    private var lastTrafficTick: MonotonicTime = .zero

    init(plan: LoadPlan) throws(LoadOptionError) {
        self.plan = plan
        traffic = plan.traffic.map(LoadTraffic.init(plan:))
        ikeSocket = try UDPSocket(bindingTo: plan.source)
        natSocket = try UDPSocket(bindingTo: UDPEndpoint(address: plan.source.address, port: plan.natPort))
        origin = clock.now
        book = SetupBook(count: plan.count, concurrency: plan.concurrency)
    }

    private var now: MonotonicTime { clock.now - origin }

    /// Runs every setup to its end (and holds them when asked), then deletes the SAs; returns the figures.
    /// `report` gets them as soon as the last setup ended, before any hold.
    func run(report: (LoadSummary) -> Void) -> LoadSummary {
        let cpuBefore = Self.cpuTime()
        var deadline: MonotonicTime?
        while !book.finished, !loadStopRequested.load(ordering: .relaxed) {
            while let index = book.start(at: now) {
                deadline = deadline ?? now + plan.timeout
                begin(index)
            }
            turn()
            if let deadline, now >= deadline {
                for index in sessions.keys.sorted() where book.isPending(index) {
                    book.fail(index, reason: "run-timeout", at: now)
                }
            }
        }
        var summary = book.summary()
        let cpu = Self.cpuTime() - cpuBefore
        summary.generatorCPUMillisecondsPerSetup = summary.started > 0 ? cpu * 1000 / Double(summary.started) : 0
        summary.sendFailures = sendFailures
        summary.unmatchedDatagrams = unmatched
        if let traffic, !loadStopRequested.load(ordering: .relaxed) {
            runTraffic(traffic)
            summary.traffic = traffic.summary
            summary.closedAfterSetup = closedAfterSetup
        }
        report(summary)
        if plan.hold {
            var lastNote = now
            standardError("holding \(sessions.count) IKE SAs; SIGINT or SIGTERM deletes them and ends")
            while !loadStopRequested.load(ordering: .relaxed) {
                turn()
                if now - lastNote >= .seconds(30) {
                    lastNote = now
                    standardError(
                        "holding \(sessions.count) IKE SAs (\(closedAfterSetup) closed by the responder so far)")
                }
            }
        }
        tearDown()
        summary.closedAfterSetup = closedAfterSetup
        return summary
    }

    /// Sends the traffic plan's echo requests and counts the replies, with the CHILD SAs' lifetimes handed to
    /// their IKE SAs once a second (a soft limit rekeys, as the daemon does).
    private func runTraffic(_ traffic: LoadTraffic) {
        traffic.start(now: now)
        standardError("sending echo requests through \(traffic.summary.tunnels) tunnels")
        while !traffic.finished(now: now), !loadStopRequested.load(ordering: .relaxed) {
            traffic.sendDue(now: now) { bytes, destination in
                if !natSocket.send(bytes, to: destination) { sendFailures += 1 }
            }
            if now - lastTrafficTick >= .seconds(1) {
                lastTrafficTick = now
                for (index, event) in traffic.tick(now: now) {
                    let timer: IKETimer =
                        event.kind == .soft
                        ? .rekeyChildSA(inboundSPI: event.inboundSPI) : .expireChildSA(inboundSPI: event.inboundSPI)
                    handle(index, .timer(timer))
                }
            }
            turn(maximumWait: 1)
        }
    }

    /// One turn: due timers, then datagrams (waiting at most until the next timer, `maximumWait` ms at most).
    private func turn(maximumWait: Int32 = 50) {
        while let key = timers.popDue(at: now) {
            handle(key.index, .timer(key.timer))
        }
        var wait = maximumWait
        if let next = timers.nextDeadline() {
            let milliseconds = max(0, (next - now).seconds * 1000)
            wait = Int32(min(Double(maximumWait), milliseconds.rounded(.up)))
        }
        var descriptors = [
            pollfd(fd: ikeSocket.descriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: natSocket.descriptor, events: Int16(POLLIN), revents: 0),
        ]
        guard poll(&descriptors, 2, wait) > 0 else { return }
        drain(ikeSocket, marker: false)
        drain(natSocket, marker: true)
    }

    private func drain(_ socket: UDPSocket, marker: Bool) {
        // A bounded batch per socket and turn, so timers stay on time under a flood.
        for _ in 0..<256 {
            guard let (length, from) = socket.receive(into: &buffer) else { return }
            var start = 0
            if marker {
                // RFC 3948: a NAT keepalive (one 0xFF byte) or ESP (a non-zero SPI) is not for IKE.
                guard length >= 4, buffer[0] == 0, buffer[1] == 0, buffer[2] == 0, buffer[3] == 0 else {
                    if length >= 8, let traffic {
                        var packet = Array(buffer[0..<length])
                        traffic.receive(&packet, now: now)
                    }
                    continue
                }
                start = 4
            }
            guard length - start >= 28 else {
                unmatched += 1
                continue
            }
            let initiatorSPI = spi(at: start)
            guard let index = bySPI[initiatorSPI] ?? bySPI[spi(at: start + 8)] else {
                unmatched += 1
                continue
            }
            let datagram = IKEDatagram(bytes: Array(buffer[start..<length]), source: from, destination: socket.local)
            handle(index, .datagram(datagram))
        }
    }

    private func spi(at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in offset..<(offset + 8) { value = value << 8 | UInt64(buffer[index]) }
        return value
    }

    private func begin(_ index: Int) {
        let session = IKEv2Session(initiating: plan.configuration(index), random: SystemRandomNumberGenerator())
        sessions[index] = session
        handle(index, .initiate)
    }

    private func handle(_ index: Int, _ input: IKEInput) {
        guard let session = sessions[index] else { return }
        let actions = session.handle(input, now: now)
        if sessions[index] != nil {
            let spi = session.localSPI
            if spiOf[index] != spi {
                if let old = spiOf[index] { bySPI[old] = nil }
                spiOf[index] = spi
                bySPI[spi] = index
            }
        }
        perform(index, actions)
    }

    private func perform(_ index: Int, _ actions: [IKEAction]) {
        for action in actions {
            switch action {
            case .send(let datagram):
                let viaNAT = datagram.source.port == plan.natPort
                let bytes = viaNAT ? [0, 0, 0, 0] + datagram.bytes : datagram.bytes
                if !(viaNAT ? natSocket : ikeSocket).send(bytes, to: datagram.destination) { sendFailures += 1 }
            case .natKeepalive(_, let destination):
                if !natSocket.send([0xFF], to: destination) { sendFailures += 1 }
            case .childSA(let change):
                if case .install = change { book.establish(index, at: now) }
                traffic?.apply(change, tunnel: index, now: now)
            case .armTimer(let timer, let at):
                timers.arm(TimerKey(index: index, timer: timer), at: at)
            case .cancelTimer(let timer):
                timers.cancel(TimerKey(index: index, timer: timer))
            case .event(let event):
                if event.kind == .retransmit { book.retransmitted() }
                if event.severity == .warning || event.severity == .error { lastWarning[index] = event.kind.rawValue }
                if plan.verbose { standardError("\(index) \(event.severity) \(event)") }
            case .ikeSAClosed:
                if book.isPending(index) {
                    book.fail(index, reason: lastWarning[index] ?? "closed", at: now)
                } else {
                    closedAfterSetup += 1
                }
                close(index)
            }
        }
    }

    private func close(_ index: Int) {
        traffic?.close(tunnel: index)
        sessions[index] = nil
        if let spi = spiOf.removeValue(forKey: index) { bySPI[spi] = nil }
        lastWarning[index] = nil
        timers.cancelAll { $0.index == index }
    }

    /// Deletes every SA still up (DELETE, answered or not within a few seconds); not part of the figures.
    private func tearDown() {
        for index in sessions.keys.sorted() {
            handle(index, .terminate)
        }
        let end = now + .seconds(plan.hold ? 15 : 5)
        while !sessions.isEmpty, now < end {
            turn()
        }
    }

    /// This process's user and system CPU seconds so far.
    static func cpuTime() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

/// Writes one line on standard error.
func standardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
