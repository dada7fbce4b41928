import Foundation
import Testing

/// A venue the built-in exchange generates (seeded, so every run is the same market): the
/// `tickwire simulate` process and the venue file pointing `watch` or `run` at it.
struct GeneratedVenue: Sendable, CustomStringConvertible {
    var name: String
    var symbol: String
    var path: String
    var priceScale: Int
    var quantityScale: Int
    var depth: Int
    /// Venue-file lines the adapter needs besides the common ones.
    var configLines = ""
    /// The venue's update id is the message's own timestamp (not a sequence).
    var hasTimestampIds: Bool { name == "kraken" }
    var description: String { name }

    static let bybit = GeneratedVenue(name: "bybit-linear", symbol: "BTCUSDT", path: "/v5/public/linear", priceScale: 2, quantityScale: 3, depth: 50)
    static let kraken = GeneratedVenue(name: "kraken", symbol: "BTC/USD", path: "/v2", priceScale: 1, quantityScale: 8, depth: 10)
    static let okx = GeneratedVenue(name: "okx", symbol: "BTC-USDT", path: "/ws/v5/public", priceScale: 2, quantityScale: 8, depth: 400,
                                    configLines: #"channel = "books""#)
    static let coinbase = GeneratedVenue(name: "coinbase", symbol: "BTC-USD", path: "/", priceScale: 2, quantityScale: 8, depth: 1000)

    /// A generator run of `messages` book events (all of them when nil: until stopped) at
    /// `rate` events/s (0: as fast as possible); `arguments` adds faults, TLS or --truth-out.
    func startSimulator(messages: Int?, rate: Int = 4000, arguments: [String] = [],
                        binary: URL = productsDirectory.appendingPathComponent("tickwire")) throws -> (RunningTickwire, url: String) {
        let simulator = try RunningTickwire(binary: binary, [
            "simulate", "--venue", name, "--symbols", symbol, "--price-scale", "\(priceScale)",
            "--quantity-scale", "\(quantityScale)", "--rate", "\(rate)", "--seed", "7"]
            + (messages.map { ["--messages", "\($0)"] } ?? []) + arguments)
        let banner = try #require(try simulator.waitForLines(1).first)
        return (simulator, String(banner.dropFirst("listening ".count).dropLast()) + path)
    }

    func config(url: String, in directory: String, extra: String = "") throws -> String {
        let file = directory + "/\(name).toml"
        try writeFile(file, """
            adapter = "\(name)"
            ws_url = "\(url)"
            symbols = ["\(symbol)"]
            depth = \(depth)
            \(configLines)
            \(extra)
            [scales]
            "\(symbol)" = { price = \(priceScale), quantity = \(quantityScale) }
            """)
        return file
    }
}
