import ArgumentParser
import TickwireRuntime

extension Config {
    /// `tickwire config check FILE…`: validates main and venue files without connecting.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate daemon (main.toml) and venue configuration files without starting.",
            discussion: """
                Prints "ok: FILE: <summary>" for each valid file. A file with a `venues` key is a \
                daemon file: the venue files it names are checked too. The first problem in a \
                file is printed as FILE:KEY: what was expected (got …).
                Exit status: 0 all files valid; 2 a file is invalid or the arguments are wrong.
                """
        )

        @Argument(help: "Configuration files (TOML), e.g. config/main.toml config/binance-spot.toml.")
        var files: [String] = []

        func run() throws {
            guard !files.isEmpty else {
                printError("error: tickwire config check: give at least one configuration file (e.g. config/binance-spot.toml)")
                throw ExitCode(2)
            }
            var failed = false
            for file in files {
                do throws(ConfigError) {
                    switch try ConfigFileKind.of(file) {
                    case .main:
                        let config = try MainConfig.load(path: file)
                        printToStdout("ok: \(file): \(config.summary)")
                        for venue in config.channel.venues { printToStdout("ok: \(venue.file): \(venue.summary)") }
                    case .venue:
                        let config = try VenueConfig.load(path: file)
                        printToStdout("ok: \(file): \(config.summary)")
                    }
                } catch {
                    printError("error: \(error)")
                    failed = true
                }
            }
            if failed { throw ExitCode(2) }
        }
    }
}
