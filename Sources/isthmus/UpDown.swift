import ArgumentParser
import IsthmusDaemon

/// `isthmus up NAME`: initiate a connection on the running gateway.
struct Up: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Initiate a connection on the running gateway.")

    @OptionGroup var request: ConnectionRequest

    func run() throws { try request.send("up") }
}

/// `isthmus down NAME`: delete a connection's SAs on the running gateway.
struct Down: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Tear down a connection's SAs on the running gateway.")

    @OptionGroup var request: ConnectionRequest

    func run() throws { try request.send("down") }
}

/// What `up` and `down` take: a connection's name and how to reach the gateway.
struct ConnectionRequest: ParsableArguments {
    @Argument(help: "The connection's name.")
    var name: String

    @OptionGroup var control: ControlOptions

    /// Sends `command` for the connection and prints the gateway's sentence.
    func send(_ command: String) throws {
        let reply = try control.send(ControlRequest(command: command, connection: name))
        print(reply.response.message ?? "ok")
    }
}

/// `isthmus events [NAME]`: the running gateway's recent events, oldest first.
struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the running gateway's recent events.")

    @Argument(help: "Only this connection's events.")
    var name: String?

    @Flag(name: .long, help: "Print the gateway's JSON answer.")
    var json = false

    @OptionGroup var control: ControlOptions

    func run() throws {
        let reply = try control.send(ControlRequest(command: "events", connection: name))
        if json {
            print(reply.line)
            return
        }
        let events = reply.response.events ?? []
        if events.isEmpty { print("no events") }
        for event in events {
            let time = Double(Int(event.uptimeSeconds * 1000)) / 1000
            print("+\(time)s \(event.severity) \(event.line)")
        }
    }
}
