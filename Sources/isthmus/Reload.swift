import ArgumentParser
import IsthmusDaemon

/// `isthmus reload`: the running gateway reads its configuration file again and applies only the difference.
struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-read the running gateway's configuration and apply only what changed.",
        discussion: """
            Unchanged connections keep their SAs and traffic; a connection whose shared key alone changed keeps \
            its SAs and uses the new key from its next authentication; changed connections are deleted and \
            negotiated again; removed ones are deleted; added ones start. A file that does not pass \
            `isthmus check` (or is half-written) is refused whole, with the reasons, and the running \
            configuration stays. Same as sending SIGHUP to `isthmus run`.
            """)

    @Flag(name: .long, help: "Print the gateway's JSON answer.")
    var json = false

    @OptionGroup var control: ControlOptions

    func run() throws {
        let path = try control.resolvePath()
        let reply: ControlClient.Reply
        do {
            reply = try ControlClient.send(ControlRequest(command: "reload"), to: path)
        } catch {
            printError("isthmus reload: \(error)")
            throw ExitCode(1)
        }
        if json {
            print(reply.line)
        } else if reply.response.ok {
            for line in ReloadSummary.lines(reply.response) { print(line) }
        } else {
            for line in ReloadSummary.lines(reply.response) { printError(line) }
        }
        if !reply.response.ok { throw ExitCode(1) }
    }
}
