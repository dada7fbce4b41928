import TickwireCore
import TickwireTransport
import TickwireVenues
import TOMLKit

#if canImport(Glibc)
import Glibc
#endif

/// One venue connection, read from one TOML file in `config/` (see `config/README.md`).
///
/// ```toml
/// adapter = "binance-spot"                      # binance-spot | binance-usdm | bybit-linear | bybit-spot | okx | coinbase | kraken
/// ws_url = "wss://stream.binance.com:9443"
/// rest_url = "https://api.binance.com"          # Binance only (REST depth snapshots), required there
/// symbols = ["BTCUSDT", "ETHUSDT"]              # the venue's own names
/// depth = 5000                                  # book levels kept per side (allowed values per venue)
/// tls_ca_file = "sim-ca.pem"                    # optional extra PEM CA, relative to this file's folder
/// price_decimals = 8                            # optional defaults for symbols without a [scales] entry
/// quantity_decimals = 8
/// streams = ["depth@100ms", "trade", "bookTicker"]   # Binance only, optional
/// channel = "books"                             # OKX only, optional
/// reconnect_initial_ms = 100                    # optional backoff caps
/// reconnect_max_ms = 30000
/// max_message_bytes = 4194304                   # optional; larger messages: close 1009, reconnect
/// idle_timeout_ms = 60000                       # optional; no frame, ping or pong for this long: reconnect
///
/// [scales]                                      # per symbol: decimals of prices and quantities
/// BTCUSDT = { price = 2, quantity = 5 }
/// ```
///
/// Scales are the number of decimals the fixed-point values keep. A venue value with more
/// non-zero decimals than its scale is refused (never rounded), so a scale must be at least
/// the venue's tick/lot decimals. Default 8/8 (safe for every venue's current BTC/ETH
/// pairs); Kraken has no default: its checksum is computed from the digits at exactly the
/// pair's `price_precision`/`qty_precision`, so every Kraken symbol needs a `[scales]` entry.
public struct VenueConfig: Sendable, Equatable {
    public struct Symbol: Sendable, Equatable {
        public var name: String
        public var priceScale: Scale
        public var quantityScale: Scale
    }

    /// The file this came from, as given (errors and logs name it).
    public var file: String
    public var venue: Venue
    public var wsURL: String
    public var restURL: String?
    public var symbols: [Symbol]
    /// Levels per side each book keeps.
    public var depth: Int
    /// Absolute or relative to the working directory (resolved against the file's folder).
    public var tlsCAFile: String?
    public var okxChannel: OKXAdapter.BookChannel
    public var binanceDepthStream: String
    public var binanceTradeStream: BinanceConfiguration.TradeStream
    public var binanceBookTicker: Bool
    public var reconnectInitialMilliseconds: Int
    public var reconnectMaximumMilliseconds: Int
    public var maxMessageBytes: Int
    /// A connection silent this long (no message, ping or pong) is presumed dead and renewed.
    public var idleTimeoutMilliseconds: Int

    public static let defaultDecimals = 8

    /// Depths each adapter accepts for `depth`.
    public static func allowedDepths(_ venue: Venue, okxChannel: OKXAdapter.BookChannel = .books) -> [Int] {
        switch venue {
        // The REST `limit` values of /api/v3/depth; the book keeps this many a side. The
        // snapshot is always fetched at the venue's maximum (5000 spot, 1000 USD-M).
        case .binanceSpot: [5, 10, 20, 50, 100, 500, 1000, 5000]
        case .binanceUSDM: [5, 10, 20, 50, 100, 500, 1000]
        case .bybitLinear: BybitAdapter.supportedDepths
        case .bybitSpot: BybitAdapter.supportedDepths.filter { $0 != 500 }
        // OKX sends the channel's whole book (400 levels, 50 for books50-l2-tbt).
        case .okx: [okxChannel.depth]
        // level2 is the full book; the best `depth` levels a side are kept.
        case .coinbase: [50, 100, 500, 1000, 5000, 10000]
        // Kraken's book depths; the book's capacity is the truncation its checksum assumes.
        case .kraken: KrakenAdapter.supportedDepths
        }
    }

    static let adapterNames = Venue.allCases.map(\.name)
    static let commonKeys: Set<String> = [
        "adapter", "ws_url", "rest_url", "symbols", "depth", "tls_ca_file", "price_decimals", "quantity_decimals",
        "scales", "streams", "channel", "reconnect_initial_ms", "reconnect_max_ms", "max_message_bytes",
        "idle_timeout_ms",
    ]

    /// Reads and validates `path`. Every problem is a `ConfigError` naming `path:key`.
    public static func load(path: String) throws(ConfigError) -> VenueConfig {
        try parse(try readConfigText(path), file: path)
    }

    /// Validates TOML `text` as if read from `file` (relative paths resolve against its folder).
    public static func parse(_ text: String, file: String) throws(ConfigError) -> VenueConfig {
        let table = try parseTOML(text, file: file)
        let reader = KeyReader(file: file, table: table)

        try reader.rejectUnknownKeys(commonKeys)

        let adapterName = try reader.string("adapter")
        guard let venue = Venue(name: adapterName) else {
            throw reader.error("adapter", .invalidValue,
                               "expected one of \(adapterNames.joined(separator: ", ")) (got \"\(adapterName)\")")
        }
        let isBinance = venue == .binanceSpot || venue == .binanceUSDM

        let wsURL = try reader.url("ws_url", schemes: ["ws", "wss"])
        var restURL: String?
        if isBinance {
            restURL = try reader.url("rest_url", schemes: ["http", "https"])
        } else if table["rest_url"] != nil {
            throw reader.error("rest_url", .notApplicable, "only binance-spot and binance-usdm fetch REST snapshots (remove it for \(venue.name))")
        }

        // symbols
        let names = try reader.stringArray("symbols")
        guard !names.isEmpty else { throw reader.error("symbols", .invalidValue, "expected at least one symbol (got [])") }
        for (index, name) in names.enumerated() {
            let bad = name.isEmpty || name.utf8.count > InstrumentDefinition.maxSymbolLength
                || name.utf8.contains { $0 < 0x21 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 >= 0x7F }
            if bad {
                throw reader.error("symbols", .invalidValue,
                                   "expected printable ASCII symbol names of 1 to \(InstrumentDefinition.maxSymbolLength) bytes without quotes or backslashes (got \"\(name)\")")
            }
            if names[..<index].contains(name) {
                throw reader.error("symbols", .invalidValue, "expected each symbol once (got \"\(name)\" twice)")
            }
        }

        // scales
        let defaultPrice = try reader.optionalInt("price_decimals", range: 0...18)
        let defaultQuantity = try reader.optionalInt("quantity_decimals", range: 0...18)
        if venue == .kraken, defaultPrice != nil || defaultQuantity != nil {
            let key = defaultPrice != nil ? "price_decimals" : "quantity_decimals"
            throw reader.error(key, .notApplicable,
                               "kraken takes no default decimals: give each pair its price_precision and qty_precision in [scales]")
        }
        var scaleEntries: [String: (price: Int, quantity: Int)] = [:]
        if let value = table["scales"] {
            guard let scales = value.table else {
                throw reader.error("scales", .wrongType, "expected a table of SYMBOL = { price = N, quantity = N } (got \(describe(value)))")
            }
            for symbol in scales.keys.sorted() {
                let key = "scales.\(quoteKey(symbol))"
                guard names.contains(symbol) else {
                    throw reader.error(key, .unknownKey, "not one of symbols (\(names.joined(separator: ", ")))")
                }
                guard let entry = scales[symbol]!.table else {
                    throw reader.error(key, .wrongType, "expected { price = N, quantity = N } (got \(describe(scales[symbol]!)))")
                }
                let entryReader = KeyReader(file: file, table: entry, prefix: key + ".")
                for entryKey in entry.keys.sorted() where entryKey != "price" && entryKey != "quantity" {
                    throw entryReader.error(entryKey, .unknownKey, "unknown key (expected price and quantity)")
                }
                let price = try entryReader.int("price", range: 0...18)
                let quantity = try entryReader.int("quantity", range: 0...18)
                scaleEntries[symbol] = (price, quantity)
            }
        }
        var symbols: [Symbol] = []
        for name in names {
            let decimals: (price: Int, quantity: Int)
            if let entry = scaleEntries[name] {
                decimals = entry
            } else if venue == .kraken {
                throw reader.error("scales", .missingKey,
                                   "expected an entry for \(name) with the pair's price_precision and qty_precision (Kraken's checksum needs them exactly)")
            } else {
                decimals = (defaultPrice ?? defaultDecimals, defaultQuantity ?? defaultDecimals)
            }
            symbols.append(Symbol(name: name, priceScale: Scale(UInt8(decimals.price)), quantityScale: Scale(UInt8(decimals.quantity))))
        }

        // OKX channel (before depth: it decides the allowed depth)
        var channel = OKXAdapter.BookChannel.books
        if let name = try reader.optionalString("channel") {
            guard venue == .okx else { throw reader.error("channel", .notApplicable, "only okx has a book channel choice (remove it for \(venue.name))") }
            guard let parsed = OKXAdapter.BookChannel(rawValue: name) else {
                throw reader.error("channel", .invalidValue, "expected one of books, books-l2-tbt, books50-l2-tbt (got \"\(name)\")")
            }
            channel = parsed
        }

        let allowed = allowedDepths(venue, okxChannel: channel)
        let depth = try reader.int("depth", range: nil)
        guard allowed.contains(depth) else {
            throw reader.error("depth", .invalidValue,
                               "expected \(allowed.count == 1 ? "" : "one of ")\(allowed.map(String.init).joined(separator: ", "))\(venue == .okx ? " for channel \(channel.rawValue)" : "") (got \(depth))")
        }

        // Binance streams
        var depthStream = "depth@100ms"
        var tradeStream = BinanceConfiguration.TradeStream.trade
        var bookTicker = true
        if let streams = try reader.optionalStringArray("streams") {
            guard isBinance else { throw reader.error("streams", .notApplicable, "only binance-spot and binance-usdm take streams (remove it for \(venue.name))") }
            let depthStreams = venue == .binanceSpot ? BinanceSpotRules.depthStreams : BinanceUSDMRules.depthStreams
            let allowedStreams = depthStreams + ["trade", "aggTrade", "bookTicker"]
            var depths: [String] = [], trades: [String] = []
            bookTicker = false
            for stream in streams {
                guard allowedStreams.contains(stream) else {
                    throw reader.error("streams", .invalidValue, "expected stream names from \(allowedStreams.joined(separator: ", ")) (got \"\(stream)\")")
                }
                if depthStreams.contains(stream) { depths.append(stream) }
                else if stream == "bookTicker" { bookTicker = true }
                else { trades.append(stream) }
            }
            guard depths.count == 1 else {
                throw reader.error("streams", .invalidValue, "expected exactly one depth stream of \(depthStreams.joined(separator: ", ")) (got \(depths.count))")
            }
            guard trades.count <= 1 else {
                throw reader.error("streams", .invalidValue, "expected at most one of trade, aggTrade (got \(trades.joined(separator: ", ")))")
            }
            depthStream = depths[0]
            tradeStream = trades.first.flatMap(BinanceConfiguration.TradeStream.init(rawValue:)) ?? .none
        }

        // transport
        var caFile: String?
        if let given = try reader.optionalString("tls_ca_file") {
            let resolved = resolve(given, relativeTo: file)
            guard let contents = readTextFile(resolved) else {
                throw reader.error("tls_ca_file", .invalidValue,
                                   "expected a readable PEM file (got \"\(given)\" → \(resolved): \(String(cString: strerror(errno))))")
            }
            guard contents.contains("-----BEGIN CERTIFICATE-----") else {
                throw reader.error("tls_ca_file", .invalidValue, "expected a PEM certificate file (got \"\(given)\", which has no BEGIN CERTIFICATE block)")
            }
            // OpenSSL must accept it too (a damaged PEM would otherwise fail only at connect time).
            do throws(TransportError) {
                _ = try TLSContext.client(extraCAFile: resolved)
            } catch {
                throw reader.error("tls_ca_file", .invalidValue, "expected a PEM CA certificate OpenSSL accepts (got \"\(given)\": \(error))")
            }
            caFile = resolved
        }
        let initial = try reader.optionalInt("reconnect_initial_ms", range: 1...600_000) ?? 100
        let maximum = try reader.optionalInt("reconnect_max_ms", range: 1...3_600_000) ?? 30_000
        guard maximum >= initial else {
            throw reader.error("reconnect_max_ms", .invalidValue, "expected at least reconnect_initial_ms (\(initial)) (got \(maximum))")
        }
        let maxMessage = try reader.optionalInt("max_message_bytes", range: 4096...(1 << 30)) ?? (4 << 20)
        // Every venue here sends something at least every 30 s on a live connection (Binance
        // pings every 20 s, Kraken and Coinbase heartbeats, Bybit/OKX answer our pings).
        let idleTimeout = try reader.optionalInt("idle_timeout_ms", range: 100...3_600_000) ?? 60_000

        return VenueConfig(
            file: file, venue: venue, wsURL: wsURL, restURL: restURL, symbols: symbols, depth: depth, tlsCAFile: caFile,
            okxChannel: channel, binanceDepthStream: depthStream, binanceTradeStream: tradeStream, binanceBookTicker: bookTicker,
            reconnectInitialMilliseconds: initial, reconnectMaximumMilliseconds: maximum, maxMessageBytes: maxMessage,
            idleTimeoutMilliseconds: idleTimeout)
    }

    /// One line for `config check`: what this file sets up.
    public var summary: String {
        var parts = ["\(venue.name): \(symbols.count) symbol\(symbols.count == 1 ? "" : "s") (\(symbols.map { "\($0.name) \($0.priceScale.digits)/\($0.quantityScale.digits)" }.joined(separator: ", ")))"]
        parts.append("depth \(depth)")
        parts.append("ws \(wsURL)")
        if let restURL { parts.append("rest \(restURL)") }
        if venue == .okx { parts.append("channel \(okxChannel.rawValue)") }
        if venue == .binanceSpot || venue == .binanceUSDM {
            var streams = [binanceDepthStream]
            if binanceTradeStream != .none { streams.append(binanceTradeStream.rawValue) }
            if binanceBookTicker { streams.append("bookTicker") }
            parts.append("streams \(streams.joined(separator: ","))")
        }
        if let tlsCAFile { parts.append("extra CA \(tlsCAFile)") }
        parts.append("reconnect \(reconnectInitialMilliseconds)..\(reconnectMaximumMilliseconds) ms")
        parts.append("max message \(maxMessageBytes) bytes")
        parts.append("idle timeout \(idleTimeoutMilliseconds) ms")
        return parts.joined(separator: "; ")
    }
}

/// A bad configuration value: `FILE:KEY: what was expected (got …)`.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        case unreadable, syntax, missingKey, wrongType, invalidValue, unknownKey, notApplicable
    }

    public var file: String
    /// Dotted key (`scales.BTCUSDT.price`); nil for whole-file problems (unreadable, syntax).
    public var key: String?
    public var kind: Kind
    public var message: String

    public init(file: String, key: String?, kind: Kind, message: String) {
        self.file = file
        self.key = key
        self.kind = kind
        self.message = message
    }

    public var description: String { key.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)" }
}

// MARK: - reading keys

struct KeyReader {
    let file: String
    let table: TOMLTable
    var prefix = ""

    func error(_ key: String, _ kind: ConfigError.Kind, _ message: String) -> ConfigError {
        ConfigError(file: file, key: prefix + key, kind: kind, message: message)
    }

    func required(_ key: String, _ expected: String) throws(ConfigError) -> TOMLValueConvertible {
        guard let value = table[key] else { throw error(key, .missingKey, "required key missing (expected \(expected))") }
        return value
    }

    func string(_ key: String) throws(ConfigError) -> String {
        let value = try required(key, "a string")
        guard let string = value.string else { throw error(key, .wrongType, "expected a string (got \(describe(value)))") }
        return string
    }

    func optionalString(_ key: String) throws(ConfigError) -> String? {
        guard table[key] != nil else { return nil }
        return try string(key)
    }

    func int(_ key: String, range: ClosedRange<Int>?) throws(ConfigError) -> Int {
        let value = try required(key, range.map { "an integer in \($0.lowerBound)...\($0.upperBound)" } ?? "an integer")
        guard value.type == .int, let int = value.int else { throw error(key, .wrongType, "expected an integer (got \(describe(value)))") }
        if let range, !range.contains(int) {
            throw error(key, .invalidValue, "expected an integer in \(range.lowerBound)...\(range.upperBound) (got \(int))")
        }
        return int
    }

    func optionalInt(_ key: String, range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard table[key] != nil else { return nil }
        return try int(key, range: range)
    }

    func stringArray(_ key: String) throws(ConfigError) -> [String] {
        let value = try required(key, "an array of strings")
        guard let array = value.array else { throw error(key, .wrongType, "expected an array of strings (got \(describe(value)))") }
        var strings: [String] = []
        for element in array {
            guard let string = element.string else {
                throw error(key, .wrongType, "expected an array of strings (got an element \(describe(element)))")
            }
            strings.append(string)
        }
        return strings
    }

    func optionalStringArray(_ key: String) throws(ConfigError) -> [String]? {
        guard table[key] != nil else { return nil }
        return try stringArray(key)
    }

    func url(_ key: String, schemes: [String]) throws(ConfigError) -> String {
        let text = try string(key)
        let expected = "a \(schemes.map { "\($0)://" }.joined(separator: " or ")) URL with a host"
        guard let range = text.firstRange(of: "://"), schemes.contains(text[..<range.lowerBound].lowercased()) else {
            throw error(key, .invalidValue, "expected \(expected) (got \"\(text)\")")
        }
        let rest = text[range.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        let host = authority.hasPrefix("[") ? authority : authority.split(separator: ":", omittingEmptySubsequences: false).first ?? ""
        if host.isEmpty || authority.contains("@") || authority.contains(" ") {
            throw error(key, .invalidValue, "expected \(expected) (got \"\(text)\")")
        }
        if !authority.hasPrefix("["), let colon = authority.lastIndex(of: ":") {
            let port = authority[authority.index(after: colon)...]
            guard let number = UInt16(port), number != 0 else {
                throw error(key, .invalidValue, "expected \(expected) and a port in 1...65535 (got \"\(text)\")")
            }
        }
        return text
    }
}

/// How a TOML value reads in an error message.
func describe(_ value: TOMLValueConvertible) -> String {
    switch value.type {
    case .string: "\"\(value.string ?? "")\""
    case .int: "\(value.int ?? 0)"
    case .double: "\(value.double.map { "\($0)" } ?? "a float")"
    case .bool: "\(value.bool ?? false)"
    case .array: "an array"
    case .table: "a table"
    default: "a \(value.type.rawValue)"
    }
}

private func quoteKey(_ key: String) -> String {
    key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" } ? key : "\"\(key)\""
}

/// `path` as given when absolute, else relative to the folder of `file`.
func resolve(_ path: String, relativeTo file: String) -> String {
    if path.hasPrefix("/") { return path }
    guard let slash = file.lastIndex(of: "/") else { return path }
    return String(file[...slash]) + path
}

/// The whole configuration file, or the `FILE: cannot read the file (why)` error.
func readConfigText(_ path: String) throws(ConfigError) -> String {
    guard let text = readTextFile(path) else {
        throw ConfigError(file: path, key: nil, kind: .unreadable, message: "cannot read the file (\(String(cString: strerror(errno))))")
    }
    return text
}

/// The whole file as UTF-8 text; nil (errno set) when it cannot be read.
func readTextFile(_ path: String) -> String? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 << 10)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if count == 0 { break }
        bytes += chunk[..<count]
        if bytes.count > 16 << 20 {
            errno = EFBIG
            return nil
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}
