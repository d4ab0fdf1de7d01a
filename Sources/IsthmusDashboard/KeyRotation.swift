import IsthmusGateway

/// The dashboard's Rotate key: `isthmus key rotate` for the running configuration's connection.
public enum KeyRotation {
    /// Writes a new random key into the key file of connection `name` (atomically, mode 0600) and says where
    /// in one sentence, never what; throws a sentence when the connection is unknown, its key is inline (isthmus
    /// does not rewrite configuration files) or the file cannot be written. `file` is the configuration file, for
    /// the hint.
    public static func rotate(_ name: String, config: GatewayConfig, file: String) throws(DashboardError) -> String {
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
