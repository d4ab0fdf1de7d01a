import Logging

@testable import IsthmusDaemon

/// A logger for daemons under test: only critical lines (the tests read events and status instead).
func quietLogger() -> Logger {
    var logger = Logger(label: "isthmus.test")
    logger.logLevel = .critical
    return logger
}

/// Options for a daemon under test: UDP on 127.0.0.1 with ports the system picks, the control socket in
/// `folder`, a short shutdown grace.
func loopbackOptions(
    folder: String, initiateOnStart: Bool = false, shutdownGrace: Duration = .milliseconds(200)
) -> DaemonOptions {
    DaemonOptions(
        bindAddress: "127.0.0.1", ikePort: 0, natPort: 0, controlPath: folder + "/run/ctl.sock",
        shutdownGrace: shutdownGrace, initiateOnStart: initiateOnStart)
}
