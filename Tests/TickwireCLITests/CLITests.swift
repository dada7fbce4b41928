import Foundation
import Testing

/// Runs the built `tickwire` binary as a user would.
func runTickwire(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let binary = productsDirectory.appendingPathComponent("tickwire")
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The folder holding the test bundle, which is where SwiftPM puts the executables too.
var productsDirectory: URL {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
}

@Suite struct CommandLineTests {
    @Test func helpListsTheSubcommands() throws {
        let (status, output) = try runTickwire(["--help"])
        #expect(status == 0)
        #expect(output.contains("USAGE: tickwire"))
    }

    @Test func versionPrintsTheVersion() throws {
        let (status, output) = try runTickwire(["--version"])
        #expect(status == 0)
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
    }
}

@Suite struct BadArgumentTests {
    @Test func anUnknownSubcommandIsAClearUsageErrorWithExitCode2() throws {
        let (status, output) = try runTickwire(["frobnicate"])
        #expect(status == 2)
        #expect(output.contains("Unexpected argument 'frobnicate'"))
    }

    @Test(arguments: [["record"], ["replay"]])
    func recordAndReplayWithoutTheirRequiredOptionsAreUsageErrors(arguments: [String]) throws {
        let (status, output) = try runTickwire(arguments)
        #expect(status == 2)
        #expect(output.contains("error: tickwire \(arguments[0]): --"), "\(output)")
    }
}
