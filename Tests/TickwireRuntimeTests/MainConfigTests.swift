import Foundation
import Testing
import TickwireTransport
@testable import TickwireRuntime

/// main.toml: the shipped file is valid with the documented defaults, and every bad value
/// names the file and the key and says what was expected.
@Suite struct MainConfigTests {
    static let venueFile = """
        adapter = "bybit-linear"
        ws_url = "wss://stream.bybit.com/v5/public/linear"
        symbols = ["BTCUSDT"]
        depth = 50
        """

    /// `main` written beside a valid venue file named venue.toml; the loaded result.
    func load(_ main: String) throws(ConfigError) -> MainConfig {
        let directory = temporaryDirectory()
        try? writeFile(directory + "/venue.toml", Self.venueFile)
        try? writeFile(directory + "/main.toml", main)
        return try MainConfig.load(path: directory + "/main.toml")
    }

    func error(_ main: String) -> ConfigError? {
        do throws(ConfigError) {
            _ = try load(main)
            return nil
        } catch {
            return error
        }
    }

    static let minimal = """
        venues = ["venue.toml"]
        [channel]
        line_a = "239.1.1.1:30001"
        """

    @Test func theShippedMainFileIsValidAndNamesTheShippedVenues() throws {
        let config = try MainConfig.load(path: packageRoot.appendingPathComponent("config/main.toml").path)
        #expect(config.channel.venues.map(\.venue.name) == ["binance-spot", "bybit-linear"])
        #expect(config.channel.lineA == UdpEndpoint("239.1.1.1:30001"))
        #expect(config.pipeline.topology == .staged && config.pipeline.idle == .busySpin)
        #expect(config.memoryLocking == .bestEffort)
        #expect(config.metrics == .defaultEndpoint)
    }

    @Test func aMinimalFileTakesTheDefaults() throws {
        let config = try load(Self.minimal)
        #expect(config.channel.id == 1 && config.channel.lineB == nil && config.channel.snapshot == nil)
        #expect(config.channel.venues.count == 1)
        #expect(config.pipeline.topology == .staged)
        #expect(config.pipeline.tuning == BookStageTuning())
        #expect(config.sender.kind == .standard)
        #expect(config.log == LogSettings())
    }

    @Test func everySectionIsRead() throws {
        let config = try load(Self.minimal + """

            id = 7
            snapshot = "239.1.1.2:30002"
            retransmit = "127.0.0.1:30003"
            [pipeline]
            topology = "fused"
            idle = "spin-park:100:20"
            batch = 32
            prefetch = false
            ingest_cpus = [0]
            book_cpu = 1
            [sender]
            kind = "xdp"
            interface = "veth0"
            fallback = false
            [host]
            mlockall = "required"
            huge_pages = "off"
            [metrics]
            listen = ""
            [log]
            format = "json"
            destination = "tickwire.log"
            """)
        #expect(config.channel.id == 7 && config.channel.retransmit == UdpEndpoint("127.0.0.1:30003"))
        #expect(config.pipeline.topology == .fused && config.pipeline.idle == .spinThenPark(spins: 100, microseconds: 20))
        #expect(config.pipeline.tuning == BookStageTuning(batchSize: 32, prefetch: false))
        #expect(config.pipeline.ingestCPUs == [0] && config.pipeline.bookCPU == 1)
        #expect(config.sender.kind == .xdp && config.sender.interface == "veth0" && config.sender.noFallback)
        #expect(config.memoryLocking == .required)
        #expect(config.pipeline.memory.attempts == [.normal])
        #expect(config.metrics == nil)
        #expect(config.log.format == .json)
        if case .file(let path) = config.log.destination { #expect(path.hasSuffix("/tickwire.log")) } else { Issue.record("\(config.log.destination)") }
    }

    @Test(arguments: [
        ("[channel]\nline_a = \"239.1.1.1:30001\"", "venues", "required key missing"),
        ("venues = []\n[channel]\nline_a = \"239.1.1.1:30001\"", "venues", "at least one venue file"),
        ("venues = [\"venue.toml\"]", "channel", "required table missing"),
        ("venues = [\"venue.toml\"]\n[channel]\nline_a = \"10.0.0.1:30001\"", "channel.line_a", "multicast GROUP:PORT"),
        ("venues = [\"venue.toml\"]\n[channel]\nline_a = \"239.1.1.1:30001\"\nretransmit = \"239.1.1.9:1\"", "channel.retransmit", "unicast"),
        (minimal + "\n[pipeline]\ntopology = \"pipelined\"", "pipeline.topology", "staged or fused"),
        (minimal + "\n[pipeline]\nidle = \"sleep\"", "pipeline.idle", "busy-spin"),
        (minimal + "\n[pipeline]\nbook_cpu = -1", "pipeline.book_cpu", "0...1023"),
        (minimal + "\n[pipeline]\ningest_cpus = [0, \"1\"]", "pipeline.ingest_cpus", "array of integers"),
        (minimal + "\n[pipeline]\nprefetch = 1", "pipeline.prefetch", "true or false"),
        (minimal + "\n[pipeline]\nbach = 1", "pipeline.bach", "unknown key"),
        (minimal + "\n[sender]\nkind = \"xdp\"", "sender.interface", "required when kind = \"xdp\""),
        (minimal + "\n[host]\nmlockall = \"yes\"", "host.mlockall", "required, best-effort or off"),
        (minimal + "\n[metrics]\nlisten = \"localhost:x\"", "metrics.listen", "HOST:PORT"),
        (minimal + "\n[log]\nlevel = \"loud\"", "log.level", "expected one of"),
        ("threads = 4\n" + minimal, "threads", "unknown key"),
    ])
    func aBadValueNamesFileAndKey(_ main: String, _ key: String, _ expected: String) throws {
        let error = try #require(self.error(main))
        #expect(error.file.hasSuffix("/main.toml"))
        #expect(error.key == key, "\(error)")
        #expect(error.description.contains(expected), "\(error)")
    }

    @Test func aBadVenueFileIsReportedAsItselfAndWhereItWasNamed() throws {
        let error = try #require(self.error("venues = [\"missing.toml\"]\n[channel]\nline_a = \"239.1.1.1:30001\""))
        #expect(error.file.hasSuffix("/missing.toml"))
        #expect(error.description.contains("named in") && error.description.contains("main.toml:venues"), "\(error)")
    }

    @Test func configCheckTellsMainFilesFromVenueFiles() throws {
        let directory = temporaryDirectory()
        try writeFile(directory + "/venue.toml", Self.venueFile)
        try writeFile(directory + "/main.toml", Self.minimal)
        #expect(try ConfigFileKind.of(directory + "/main.toml") == .main)
        #expect(try ConfigFileKind.of(directory + "/venue.toml") == .venue)
    }
}
