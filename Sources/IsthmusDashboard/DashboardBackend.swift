/// What the dashboard asks of the gateway, as closures: the dashboard itself knows HTTP and the control
/// protocol's JSON, not IKE. `isthmus run` builds one around its `GatewayDaemon`; tests build fakes.
public struct DashboardBackend: Sendable {
    /// The diagram's model, from the configuration in force (it changes with `reload`).
    public var topology: @Sendable () async throws -> DashboardTopology
    /// Answers one control request (`status`, `events`, `diagnose`, `up`, `down`, `reload`; the connection
    /// when it takes one) with the control protocol's JSON answer (`{"ok":...}`).
    public var control: @Sendable (_ command: String, _ connection: String?) async throws -> [UInt8]
    /// Each event recorded from now on as one JSON object (an `EventRecord`); bounded, never blocking the
    /// gateway; the stream finishes when the gateway stops.
    public var events: @Sendable () -> AsyncStream<[UInt8]>
    /// Writes a new pre-shared key into the connection's key file (`isthmus key rotate`) and says what happened
    /// in one sentence that never holds the key; a failure is thrown as a ``DashboardError``.
    public var rotateKey: @Sendable (_ connection: String) async throws -> String

    public init(
        topology: @escaping @Sendable () async throws -> DashboardTopology,
        control: @escaping @Sendable (_ command: String, _ connection: String?) async throws -> [UInt8],
        events: @escaping @Sendable () -> AsyncStream<[UInt8]>,
        rotateKey: @escaping @Sendable (_ connection: String) async throws -> String
    ) {
        self.topology = topology
        self.control = control
        self.events = events
        self.rotateKey = rotateKey
    }
}
