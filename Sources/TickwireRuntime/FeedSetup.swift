import TickwireCore
import TickwireSystem
import TickwireTransport
import TickwireVenues

/// Why a feed could not be set up from a valid configuration (memory, adapter refusal, TLS).
public struct FeedSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The instruments and books of one venue connection, built from its configuration:
/// dense ids in file order, every book activated with `depth` levels a side.
public struct FeedBooks {
    public let instruments: InstrumentTable
    public let books: BookTable
    public let symbols: [VenueSymbol]

    public init(config: VenueConfig) throws(FeedSetupError) {
        var instruments = InstrumentTable(capacity: max(1, config.symbols.count))
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
        let books: BookTable
        do {
            books = try BookTable(capacity: instruments.count,
                                  levelBudget: BookTable.levelBudget(books: instruments.count, levelsPerSide: config.depth))
            for symbol in symbols { try books.activate(symbol.instrument, levelsPerSide: config.depth) }
        } catch let error as SystemError {
            throw FeedSetupError("\(config.file): cannot allocate the books: \(error)")
        } catch {
            throw FeedSetupError("\(config.file): cannot set up the books: \(error)")
        }
        self.instruments = instruments
        self.books = books
        self.symbols = symbols
    }
}

/// Something to do with the adapter a configuration names, whatever its concrete type:
/// the generic method is specialized per adapter, so the feed loop has no existential calls.
public protocol VenueAdapterConsumer {
    associatedtype Result
    func consume<Adapter: VenueAdapter>(_ adapter: Adapter, books: FeedBooks) throws -> Result
}

extension VenueConfig {
    /// Builds the books and the adapter this file describes and hands both to `consumer`.
    public func withAdapter<Consumer: VenueAdapterConsumer>(_ consumer: Consumer) throws -> Consumer.Result {
        let books = try FeedBooks(config: self)
        let symbols = books.symbols
        do {
            switch venue {
            case .binanceSpot:
                return try consumer.consume(BinanceSpotAdapter(configuration: binanceConfiguration(symbols)), books: books)
            case .binanceUSDM:
                return try consumer.consume(BinanceUSDMAdapter(configuration: binanceConfiguration(symbols)), books: books)
            case .bybitLinear:
                return try consumer.consume(try BybitAdapter(category: .linear, symbols: symbols, depth: depth), books: books)
            case .bybitSpot:
                return try consumer.consume(try BybitAdapter(category: .spot, symbols: symbols, depth: depth), books: books)
            case .okx:
                return try consumer.consume(try OKXAdapter(symbols: symbols, channel: okxChannel), books: books)
            case .coinbase:
                return try consumer.consume(try CoinbaseAdapter(symbols: symbols), books: books)
            case .kraken:
                return try consumer.consume(try KrakenAdapter(symbols: symbols, depth: depth), books: books)
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
