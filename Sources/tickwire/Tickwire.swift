import ArgumentParser

@main
struct Tickwire: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tickwire",
        abstract: "Market-data feeder: exchange WebSocket feeds in, exact L2 books out over UDP multicast.",
        version: "0.1.0",
        subcommands: []
    )
}
