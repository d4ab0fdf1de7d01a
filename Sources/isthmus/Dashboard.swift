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
                return try rotate(name, config: config, file: file)
            })
    }

    /// Writes a new key into the key file of connection `name` (as `isthmus key rotate` does); the sentence
    /// says where, never what.
    static func rotate(_ name: String, config: GatewayConfig, file: String) throws(DashboardError) -> String {
        guard let connection = config.connections.first(where: { $0.name == name }) else {
            throw DashboardError("no connection named '\(name.prefix(128))'")
        }
        guard case .file(let written) = connection.sharedKey.source else {
            throw DashboardError(
                "connection '\(name)' has its key inline in \(file), which isthmus does not rewrite: move it to a "
                    + "key file (shared_key: file:PATH) to rotate it here; see isthmus key rotate --help")
        }
        let path = connection.sharedKey.origin?.path ?? written
        do {
            try KeyFile.writeAtomically(SharedKeyGenerator.generate(), to: path)
        } catch {
            throw DashboardError("cannot write a new key to \(path): \(error)")
        }
        return "new pre-shared key written to \(path); the gateway uses it after Reload, and the peer needs it "
            + "too (on this machine: isthmus key show \(name) --config \(file))"
    }
}
