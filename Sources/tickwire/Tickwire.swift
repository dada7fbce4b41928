import ArgumentParser

@main
struct Tickwire: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "tickwire",
        abstract: "Market-data feeder: exchange WebSocket feeds in, exact L2 books out over UDP multicast.",
        version: version,
        subcommands: [
            Run.self, Demo.self, Doctor.self, Watch.self, Listen.self, Simulate.self,
            Config.self, Record.self, Replay.self,
        ]
    )

    /// Usage errors exit 2, like configuration errors (`config check`), so scripts see one
    /// code for "you asked for something invalid"; everything else keeps the parser's codes.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                printError(fullMessage(for: error))
                exit(withError: ExitCode(2))
            }
            exit(withError: error)
        }
    }
}

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with configuration files.",
        subcommands: [Check.self]
    )

    // Check: ConfigCheck.swift
}

