import TickwireCore
import TickwireSystem
import TickwireTransport
import TickwireVenues

/// Why a feed could not be set up from a valid configuration (memory, adapter refusal, TLS).
public struct FeedSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The instruments and books of one venue connection, or of every connection of a channel
/// (one instrument id space): dense ids in file order, every book activated with its
/// venue's `depth` levels a side.
public struct FeedBooks {
    public let instruments: InstrumentTable
    public let books: BookTable
    /// Every symbol, in id order.
    public let symbols: [VenueSymbol]
    /// The symbols of each configuration, in the order given.
    public let symbolsByConfig: [[VenueSymbol]]

    public init(config: VenueConfig) throws(FeedSetupError) {
        try self.init(configs: [config])
    }

    public init(configs: [VenueConfig]) throws(FeedSetupError) {
        var instruments = InstrumentTable(capacity: max(1, configs.reduce(0) { $0 + $1.symbols.count }))
        var symbolsByConfig: [[VenueSymbol]] = []
        var levels = 0
        for config in configs {
            var symbols: [VenueSymbol] = []
            do {
                for symbol in config.symbols {
                    let id = try instruments.add(venue: config.venue, symbol: symbol.name,
                                                 priceScale: symbol.priceScale, quantityScale: symbol.quantityScale)
                    symbols.append(VenueSymbol(name: symbol.name, instrument: id, priceScale: symbol.priceScale, quantityScale: symbol.quantityScale))
                }
            } catch {
                throw FeedSetupError("\(config.file): \(error)")
            }
            symbolsByConfig.append(symbols)
            levels += BookTable.levelBudget(books: symbols.count, levelsPerSide: config.depth)
        }
        let books: BookTable
        do {
            books = try BookTable(capacity: max(1, instruments.count), levelBudget: levels)
            for (config, symbols) in zip(configs, symbolsByConfig) {
                for symbol in symbols { try books.activate(symbol.instrument, levelsPerSide: config.depth) }
            }
        } catch let error as SystemError {
            throw FeedSetupError("\(configs.map(\.file).joined(separator: ", ")): cannot allocate the books: \(error)")
        } catch {
            throw FeedSetupError("\(configs.map(\.file).joined(separator: ", ")): cannot set up the books: \(error)")
        }
        self.instruments = instruments
        self.books = books
        self.symbolsByConfig = symbolsByConfig
        symbols = symbolsByConfig.flatMap { $0 }
    }
}

/// Something to do with the adapter a configuration names, whatever its concrete type:
/// the generic method is specialized per adapter, so the feed loop has no existential calls.
public protocol VenueAdapterConsumer {
    associatedtype Result
    func consume<Adapter: VenueAdapter>(_ adapter: Adapter, books: FeedBooks) throws -> Result
}

/// The same for an adapter over symbols set up elsewhere (a channel's shared books).
public protocol VenueAdapterBuilder {
    associatedtype Result
    func build<Adapter: VenueAdapter>(_ adapter: Adapter) throws -> Result
}

extension VenueConfig {
    /// Builds the books and the adapter this file describes and hands both to `consumer`.
    public func withAdapter<Consumer: VenueAdapterConsumer>(_ consumer: Consumer) throws -> Consumer.Result {
        let books = try FeedBooks(config: self)
        return try withAdapter(symbols: books.symbols, BooksAndAdapter(consumer: consumer, books: books))
    }

    /// Builds the adapter this file describes for `symbols` and hands it to `builder`.
    public func withAdapter<Builder: VenueAdapterBuilder>(symbols: [VenueSymbol], _ builder: Builder) throws -> Builder.Result {
        do {
            switch venue {
            case .binanceSpot:
                return try builder.build(BinanceSpotAdapter(configuration: binanceConfiguration(symbols)))
            case .binanceUSDM:
                return try builder.build(BinanceUSDMAdapter(configuration: binanceConfiguration(symbols)))
            case .bybitLinear:
                return try builder.build(try BybitAdapter(category: .linear, symbols: symbols, depth: depth))
            case .bybitSpot:
                return try builder.build(try BybitAdapter(category: .spot, symbols: symbols, depth: depth))
            case .okx:
                return try builder.build(try OKXAdapter(symbols: symbols, channel: okxChannel))
            case .coinbase:
                return try builder.build(try CoinbaseAdapter(symbols: symbols))
            case .kraken:
                return try builder.build(try KrakenAdapter(symbols: symbols, depth: depth))
            }
        } catch let error as VenueSetupError {
            throw FeedSetupError("\(file): \(error)")
        }
    }

    func binanceConfiguration(_ symbols: [VenueSymbol]) -> BinanceConfiguration {
        BinanceConfiguration(wsURL: wsURL, restURL: restURL ?? "", symbols: symbols, depthStream: binanceDepthStream,
                             tradeStream: binanceTradeStream, bookTicker: binanceBookTicker,
                             maxLevelsPerSide: venue == .binanceSpot ? BinanceSpotRules.snapshotLimit : BinanceUSDMRules.snapshotLimit)
    }

    /// The URL the WebSocket connects to (Binance: its combined-stream endpoint).
    public var connectionURL: String {
        switch venue {
        case .binanceSpot, .binanceUSDM: binanceConfiguration([]).connectionURL
        default: wsURL
        }
    }

    public var backoff: Backoff {
        Backoff(initial: .milliseconds(reconnectInitialMilliseconds), maximum: .milliseconds(reconnectMaximumMilliseconds))
    }

    public var webSocketOptions: WebSocketClientOptions {
        WebSocketClientOptions(extraCAFile: tlsCAFile, maximumMessageSize: maxMessageBytes)
    }
}

private struct BooksAndAdapter<Consumer: VenueAdapterConsumer>: VenueAdapterBuilder {
    let consumer: Consumer
    let books: FeedBooks
    func build<Adapter: VenueAdapter>(_ adapter: Adapter) throws -> Consumer.Result {
        try consumer.consume(adapter, books: books)
    }
}
