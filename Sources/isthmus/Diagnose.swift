import ArgumentParser
import IsthmusDaemon

/// `isthmus diagnose [NAME] [--json]`: per connection, a verdict from the running gateway: the cause, the
/// evidence with times, and the fixes on both sides.
struct Diagnose: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain why a connection is not up or works badly, and what to change on each side.",
        discussion: """
            Reads the running gateway's status, event history, counters and configuration. A healthy \
            connection gets one line; otherwise each finding names its cause (proposal-mismatch, \
            authentication-failed, traffic-selector-mismatch, peer-unreachable, nat-udp4500-blocked, flapping, \
            lifetime-mismatch, mtu, acl-denied, data-path-down, key-file-changed, dpd-timeout), the events and \
            counters it rests on, and the fix: the YAML line or command here, and the setting on the peer in \
            strongSwan, libreswan or generic router terms.
            """)

    @Argument(help: "The connection (default: every connection).")
    var name: String?

    @Flag(name: .long, help: "Print {\"gateway\": ..., \"connections\": [...]} as JSON.")
    var json = false

    @OptionGroup var control: ControlOptions

    func run() throws {
        let reply = try control.send(ControlRequest(command: "diagnose", connection: name))
        let report = DiagnosisReport(
            gateway: reply.response.gateway ?? "", connections: reply.response.diagnoses ?? [])
        if json {
            print(String(decoding: ControlCodec.encode(report), as: UTF8.self))
        } else {
            print(report.text, terminator: "")
        }
    }
}
