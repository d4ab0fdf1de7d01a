import IsthmusDaemon
import IsthmusDashboard
import IsthmusGateway

/// The wiring between the running gateway and its web dashboard (`isthmus run --dashboard`): the dashboard's
/// questions become control requests to the daemon, its key rotation is `isthmus key rotate`'s.
enum DashboardWiring {
    /// The backend of `daemon`'s dashboard; `file` is the configuration file `isthmus run` was given.
    static func backend(daemon: GatewayDaemon, file: String) -> DashboardBackend {
        DashboardBackend(
            topology: { DashboardTopology(config: try await daemon.currentConfig().get()) },
            control: { command, connection in
                let response = try await daemon.control(ControlRequest(command: command, connection: connection)).get()
                return ControlCodec.encode(response)
            },
            events: {
                let records = daemon.events()
                let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(
                    bufferingPolicy: .bufferingNewest(GatewayDaemon.subscriptionBacklog))
                let task = Task {
                    for await record in records { continuation.yield(ControlCodec.encode(record)) }
                    continuation.finish()
                }
                continuation.onTermination = { _ in task.cancel() }
                return stream
            },
            rotateKey: { name in
                let config = try await daemon.currentConfig().get()
                return try KeyRotation.rotate(name, config: config, file: file)
            })
    }
}
