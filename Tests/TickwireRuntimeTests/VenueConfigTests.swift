import Foundation
import Testing
import TickwireCore
import TickwireTransport
import TickwireVenues
@testable import TickwireRuntime

@Suite struct VenueConfigTests {
    static let shipped = ["binance-spot", "binance-usdm", "bybit-linear", "bybit-spot", "okx", "coinbase", "kraken"]

    @Test(arguments: shipped)
    func everyShippedConfigParses(name: String) throws {
        let path = packageRoot.appendingPathComponent("config/\(name).toml").path
        let config = try VenueConfig.load(path: path)
        #expect(config.venue.name == name)
        #expect(config.symbols.count >= 2)
        #expect(config.wsURL.hasPrefix("wss://"))
        #expect(VenueConfig.allowedDepths(config.venue, okxChannel: config.okxChannel).contains(config.depth))
        if name.hasPrefix("binance") { #expect(config.restURL?.hasPrefix("https://") == true) } else { #expect(config.restURL == nil) }
        // Every shipped file sets up its adapter and books.
        struct Probe: VenueAdapterConsumer {
            func consume<Adapter: TickwireVenues.VenueAdapter>(_ adapter: Adapter, books: FeedBooks) throws -> Int { books.symbols.count }
        }
        #expect(try config.withAdapter(Probe()) == config.symbols.count)
    }

    @Test func shippedScalesAreTheDocumentedOnes() throws {
        let spot = try VenueConfig.load(path: packageRoot.appendingPathComponent("config/binance-spot.toml").path)
        #expect(spot.symbols[0] == .init(name: "BTCUSDT", priceScale: Scale(2), quantityScale: Scale(8)))
        #expect(spot.connectionURL == "wss://stream.binance.com:9443/stream")
        let kraken = try VenueConfig.load(path: packageRoot.appendingPathComponent("config/kraken.toml").path)
        #expect(kraken.symbols[0] == .init(name: "BTC/USD", priceScale: Scale(1), quantityScale: Scale(8)))
    }

    @Test func defaultsAndRelativeCAFile() throws {
        let directory = temporaryDirectory()
        _ = try TLSContext.serverWithGeneratedIdentity(writingCACertificateTo: directory + "/ca.pem")
        let config = try VenueConfig.parse("""
            adapter = "bybit-spot"
            ws_url = "ws://127.0.0.1:9000/v5/public/spot"
            symbols = ["BTCUSDT", "ETHUSDT"]
            depth = 50
            tls_ca_file = "ca.pem"
            quantity_decimals = 6
            [scales]
            ETHUSDT = { price = 2, quantity = 4 }
            """, file: directory + "/bybit.toml")
        #expect(config.tlsCAFile == directory + "/ca.pem")
        #expect(config.symbols[0] == .init(name: "BTCUSDT", priceScale: Scale(8), quantityScale: Scale(6)))
        #expect(config.symbols[1] == .init(name: "ETHUSDT", priceScale: Scale(2), quantityScale: Scale(4)))
        #expect(config.reconnectInitialMilliseconds == 100 && config.reconnectMaximumMilliseconds == 30_000)
        #expect(config.maxMessageBytes == 4 << 20)
    }

    struct BadCase: CustomTestStringConvertible, Sendable {
        let text: String
        let key: String?
        let kind: ConfigError.Kind
        let message: String
        var testDescription: String { "\(key ?? "-"): \(kind)" }
    }

    static let base = """
        adapter = "binance-spot"
        ws_url = "wss://stream.binance.com:9443"
        rest_url = "https://api.binance.com"
        symbols = ["BTCUSDT"]
        depth = 1000

        """

    static let badCases: [BadCase] = [
        BadCase(text: base.replacingOccurrences(of: "depth = 1000", with: "depth = 7"), key: "depth", kind: .invalidValue,
                message: "expected one of 5, 10, 20, 50, 100, 500, 1000, 5000 (got 7)"),
        BadCase(text: base.replacingOccurrences(of: "depth = 1000", with: "depth = \"deep\""), key: "depth", kind: .wrongType,
                message: "expected an integer (got \"deep\")"),
        BadCase(text: base.replacingOccurrences(of: "depth = 1000\n", with: ""), key: "depth", kind: .missingKey,
                message: "required key missing"),
        BadCase(text: base + "dpeth = 5\n", key: "dpeth", kind: .unknownKey, message: "unknown key"),
        BadCase(text: base.replacingOccurrences(of: "binance-spot", with: "binance-spto"), key: "adapter", kind: .invalidValue,
                message: "expected one of binance-spot, binance-usdm, bybit-linear, bybit-spot, okx, coinbase, kraken (got \"binance-spto\")"),
        BadCase(text: base.replacingOccurrences(of: "wss://stream.binance.com:9443", with: "https://stream.binance.com"), key: "ws_url",
                kind: .invalidValue, message: "expected a ws:// or wss:// URL with a host (got \"https://stream.binance.com\")"),
        BadCase(text: base.replacingOccurrences(of: "wss://stream.binance.com:9443", with: "wss://host:99999"), key: "ws_url",
                kind: .invalidValue, message: "port in 1...65535"),
        BadCase(text: base.replacingOccurrences(of: "rest_url = \"https://api.binance.com\"\n", with: ""), key: "rest_url",
                kind: .missingKey, message: "required key missing"),
        BadCase(text: base.replacingOccurrences(of: "[\"BTCUSDT\"]", with: "[]"), key: "symbols", kind: .invalidValue,
                message: "expected at least one symbol (got [])"),
        BadCase(text: base.replacingOccurrences(of: "[\"BTCUSDT\"]", with: "[\"BTCUSDT\", 5]"), key: "symbols", kind: .wrongType,
                message: "expected an array of strings (got an element 5)"),
        BadCase(text: base.replacingOccurrences(of: "[\"BTCUSDT\"]", with: "[\"BTCUSDT\", \"BTCUSDT\"]"), key: "symbols",
                kind: .invalidValue, message: "twice"),
        BadCase(text: base + "[scales]\nBTCUSDT = { price = 2, quantity = 19 }\n", key: "scales.BTCUSDT.quantity", kind: .invalidValue,
                message: "expected an integer in 0...18 (got 19)"),
        BadCase(text: base + "[scales]\nBTCUSDT = { price = 2, qty = 5 }\n", key: "scales.BTCUSDT.qty", kind: .unknownKey,
                message: "unknown key (expected price and quantity)"),
        BadCase(text: base + "[scales]\nETHUSDT = { price = 2, quantity = 5 }\n", key: "scales.ETHUSDT", kind: .unknownKey,
                message: "not one of symbols"),
        BadCase(text: base + "price_decimals = -1\n", key: "price_decimals", kind: .invalidValue, message: "expected an integer in 0...18 (got -1)"),
        BadCase(text: base + "streams = [\"depth@100ms\", \"depth\"]\n", key: "streams", kind: .invalidValue,
                message: "expected exactly one depth stream"),
        BadCase(text: base + "streams = [\"depth@0ms\"]\n", key: "streams", kind: .invalidValue,
                message: "expected stream names from depth, depth@100ms, trade, aggTrade, bookTicker (got \"depth@0ms\")"),
        BadCase(text: base + "channel = \"books\"\n", key: "channel", kind: .notApplicable, message: "only okx"),
        BadCase(text: base + "tls_ca_file = \"missing-ca.pem\"\n", key: "tls_ca_file", kind: .invalidValue,
                message: "expected a readable PEM file"),
        BadCase(text: base + "reconnect_initial_ms = 500\nreconnect_max_ms = 100\n", key: "reconnect_max_ms", kind: .invalidValue,
                message: "expected at least reconnect_initial_ms (500) (got 100)"),
        BadCase(text: base + "max_message_bytes = 10\n", key: "max_message_bytes", kind: .invalidValue,
                message: "expected an integer in 4096...1073741824 (got 10)"),
        BadCase(text: base + "depth = 5\n", key: nil, kind: .syntax, message: "line 6, column 9: TOML syntax error: Error while parsing key-value pair: cannot redefine existing integer 'depth'"),
        BadCase(text: """
            adapter = "okx"
            ws_url = "wss://ws.okx.com:8443/ws/v5/public"
            rest_url = "https://www.okx.com"
            symbols = ["BTC-USDT"]
            depth = 400
            """, key: "rest_url", kind: .notApplicable, message: "only binance-spot and binance-usdm"),
        BadCase(text: """
            adapter = "okx"
            ws_url = "wss://ws.okx.com:8443/ws/v5/public"
            symbols = ["BTC-USDT"]
            channel = "books50-l2-tbt"
            depth = 400
            """, key: "depth", kind: .invalidValue, message: "expected 50 for channel books50-l2-tbt (got 400)"),
        BadCase(text: """
            adapter = "okx"
            ws_url = "wss://ws.okx.com:8443/ws/v5/public"
            symbols = ["BTC-USDT"]
            channel = "books5"
            depth = 400
            """, key: "channel", kind: .invalidValue, message: "expected one of books, books-l2-tbt, books50-l2-tbt (got \"books5\")"),
        BadCase(text: """
            adapter = "kraken"
            ws_url = "wss://ws.kraken.com/v2"
            symbols = ["BTC/USD", "ETH/USD"]
            depth = 10
            [scales]
            "BTC/USD" = { price = 1, quantity = 8 }
            """, key: "scales", kind: .missingKey, message: "expected an entry for ETH/USD"),
        BadCase(text: """
            adapter = "kraken"
            ws_url = "wss://ws.kraken.com/v2"
            symbols = ["BTC/USD"]
            depth = 10
            price_decimals = 1
            """, key: "price_decimals", kind: .notApplicable, message: "kraken takes no default decimals"),
        BadCase(text: """
            adapter = "bybit-spot"
            ws_url = "wss://stream.bybit.com/v5/public/spot"
            symbols = ["BTCUSDT"]
            depth = 500
            """, key: "depth", kind: .invalidValue, message: "expected one of 1, 50, 200, 1000 (got 500)"),
    ]

    @Test(arguments: badCases)
    func everyBadValueNamesFileAndKey(_ bad: BadCase) throws {
        let directory = temporaryDirectory()
        let file = directory + "/venue.toml"
        try writeFile(file, bad.text)
        do {
            _ = try VenueConfig.load(path: file)
            Issue.record("expected \(bad.kind) at \(bad.key ?? "file level")")
        } catch {
            #expect(error.kind == bad.kind)
            #expect(error.key == bad.key)
            let prefix = bad.key.map { "\(file):\($0): " } ?? "\(file): "
            #expect(error.description.hasPrefix(prefix), "\(error.description)")
            #expect(error.description.contains(bad.message), "\(error.description)")
        }
    }

    @Test func aDamagedCAFileIsRefusedAtLoadNotAtConnect() throws {
        let directory = temporaryDirectory()
        try writeFile(directory + "/ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        try writeFile(directory + "/venue.toml", Self.base + "tls_ca_file = \"ca.pem\"\n")
        #expect {
            try VenueConfig.load(path: directory + "/venue.toml")
        } throws: { error in
            let error = error as! ConfigError
            return error.key == "tls_ca_file" && error.kind == .invalidValue
                && error.description.hasPrefix("\(directory)/venue.toml:tls_ca_file: expected a PEM CA certificate OpenSSL accepts (got \"ca.pem\": ")
        }
    }

    @Test func anUnreadableFileIsAnError() {
        #expect(throws: ConfigError.self) { try VenueConfig.load(path: "/nonexistent/venue.toml") }
        do {
            _ = try VenueConfig.load(path: "/nonexistent/venue.toml")
        } catch {
            #expect(error.description == "/nonexistent/venue.toml: cannot read the file (No such file or directory)")
        }
    }
}

@Suite struct ConfigCheckCommandTests {
    @Test func aValidFilePrintsOkAndASummary() throws {
        let path = packageRoot.appendingPathComponent("config/okx.toml").path
        let result = try runTickwire(["config", "check", path])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("ok: \(path): okx: 2 symbols (BTC-USDT 2/8, ETH-USDT 2/8); depth 400"), "\(result.stdout)")
    }

    @Test func theShippedMainFileIsCheckedWithEveryVenueFileItNames() throws {
        let path = packageRoot.appendingPathComponent("config/main.toml").path
        let result = try runTickwire(["config", "check", path])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("ok: \(path): main: channel 1 on 239.1.1.1:30001") == true, "\(result.stdout)")
        #expect(lines.contains { $0.contains("binance-spot.toml: binance-spot:") } && lines.contains { $0.contains("bybit-linear.toml: bybit-linear:") })
    }

    @Test func aMainFileWithABadKeyPrintsFileKeyAndExits2() throws {
        let directory = temporaryDirectory()
        try writeFile(directory + "/main.toml", "venues = [\"missing.toml\"]\n[channel]\nline_a = \"239.1.1.1:30001\"\n")
        let result = try runTickwire(["config", "check", directory + "/main.toml"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("missing.toml: cannot read the file") && result.stderr.contains("main.toml:venues"), "\(result.stderr)")
    }

    @Test func anInvalidFilePrintsFileKeyAndExits2() throws {
        let directory = temporaryDirectory()
        let file = directory + "/binance-spot.toml"
        try writeFile(file, VenueConfigTests.base.replacingOccurrences(of: "depth = 1000", with: "depth = 7"))
        let result = try runTickwire(["config", "check", file])
        #expect(result.status == 2)
        #expect(result.stderr.contains("error: \(file):depth: expected one of 5, 10, 20, 50, 100, 500, 1000, 5000 (got 7)"), "\(result.stderr)")
    }

    @Test func noFileIsAUsageErrorWithStatus2() throws {
        let result = try runTickwire(["config", "check"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("give at least one configuration file"))
    }

    @Test func watchArgumentErrorsExit2() throws {
        let config = packageRoot.appendingPathComponent("config/okx.toml").path
        for (arguments, message) in [
            (["watch"], "--config FILE is required"),
            (["watch", "--config", config, "--format", "xml"], "--format: expected jsonl or table (got 'xml')"),
            (["watch", "--config", config, "--depth", "0"], "--depth: expected an integer in 1...1000 (got '0')"),
            (["watch", "--config", config, "--bogus"], "unknown option '--bogus'"),
            (["watch", "--config", "/nonexistent.toml"], "/nonexistent.toml: cannot read the file"),
        ] {
            let result = try runTickwire(arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }
}
