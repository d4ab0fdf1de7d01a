import IsthmusEvents
import IsthmusWire

/// A request of ours in flight, with what its exchange needs to handle the answer (strongSwan's
/// task model: each exchange owns its state). Each kind has its file under `Exchanges/`.
enum IKEv2Exchange: Sendable {
    case ikeSAInit(IKESAInitRequest)
    case ikeAuth(IKEAuthRequest)
    case rekeyChildSA(ChildSARekeyRequest)
    case rekeyIKESA(IKESARekeyRequest)
    /// INFORMATIONAL with DELETE for one of our CHILD SAs (by inbound SPI).
    case deleteChildSA(inboundSPI: UInt32)
    /// INFORMATIONAL with DELETE for the IKE SA.
    case deleteIKESA
    /// An empty INFORMATIONAL (section 2.4).
    case liveness

    /// The exchange type its answer must have.
    var exchangeType: IKEv2ExchangeType {
        switch self {
        case .ikeSAInit: .ikeSAInit
        case .ikeAuth: .ikeAuth
        case .rekeyChildSA, .rekeyIKESA: .createChildSA
        case .deleteChildSA, .deleteIKESA, .liveness: .informational
        }
    }

    /// Whether it runs on an established SA, so that under DPD its answer is the proof of the peer's life
    /// and none within the DPD timeout ends the SA (a rekey in flight when the path goes dark must not
    /// stretch the detection to the whole retransmission schedule).
    var provesLiveness: Bool {
        switch self {
        case .rekeyChildSA, .rekeyIKESA, .deleteChildSA, .liveness: true
        case .ikeSAInit, .ikeAuth, .deleteIKESA: false
        }
    }

    /// Its name in log lines.
    var name: String {
        switch self {
        case .ikeSAInit: "ikeSAInit"
        case .ikeAuth: "ikeAuth"
        case .rekeyChildSA: "createChildSA"
        case .rekeyIKESA: "rekeyIKESA"
        case .deleteChildSA: "deleteChildSA"
        case .deleteIKESA: "deleteIKESA"
        case .liveness: "liveness"
        }
    }
}

/// An exchange we want to start while another is in flight (window size 1, RFC 7296 section 2.3):
/// it starts when the window is free, in the order queued.
enum IKEv2QueuedExchange: Sendable, Hashable {
    case rekeyChildSA(inboundSPI: UInt32)
    case rekeyIKESA
    case deleteChildSA(inboundSPI: UInt32)
}

extension IKEv2StateMachine {
    /// Queues an exchange for when the window is free (once: a second request for the same is dropped).
    mutating func enqueue(_ exchange: IKEv2QueuedExchange) {
        guard !queue.contains(exchange) else { return }
        queue.append(exchange)
    }

    /// Starts queued exchanges while the window is free and the SA is established. An exchange that no
    /// longer applies (its CHILD SA is gone, say) starts nothing and the next one is tried.
    mutating func startQueuedExchanges(now: MonotonicTime, into actions: inout [IKEAction]) {
        while !window.isBusy, let next = queue.first {
            guard case .established(var sa) = state else { return }
            queue.removeFirst()
            switch next {
            case .rekeyChildSA(let spi): rekeyChildSA(inboundSPI: spi, sa: &sa, now: now, into: &actions)
            case .rekeyIKESA: rekeyIKESA(sa: &sa, now: now, into: &actions)
            case .deleteChildSA(let spi): deleteChild(inboundSPI: spi, sa: &sa, now: now, into: &actions)
            }
            state = .established(sa)
        }
    }
}
