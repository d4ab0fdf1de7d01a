// Durations as configurations write them; shared by the config summary, events and log lines.

extension Duration {
    /// Whole seconds of the duration.
    public var wholeSeconds: Int64 { components.seconds }

    /// The shortest exact text for configuration files and summaries: `8h`, `90m`, `45s`.
    public var configText: String {
        let seconds = wholeSeconds
        if seconds != 0 && seconds % 86400 == 0 { return "\(seconds / 86400)d" }
        if seconds != 0 && seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds != 0 && seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}
