import Testing
import TickwireCore
import TickwireSimulator
import TickwireTransport
import TickwireVenues

/// What the venue-independent tests need from a `LockstepFeed`.
protocol FeedDriver: AnyObject {
    var symbols: [String] { get }
    var disconnects: Int { get }
    var parseErrors: Int { get }
    var history: [[FrameState]] { get }
    var clientId: Int { get }
    var framesReceived: Int { get }
    func connect() throws
    func step(_ count: Int) throws
    func state(_ symbol: String) -> BookKeeper<QuietObserver>.State
    func matchesTruth(_ symbol: String, depth: Int) -> Bool
    func book(_ symbol: String) -> (bids: [BookLevel], asks: [BookLevel])
    func truth(_ symbol: String, depth: Int) -> (bids: [BookLevel], asks: [BookLevel])
    func faultRecords() -> [FaultRecord]
    func stateAfter(_ symbol: String, client: Int, frame: Int) -> BookKeeper<QuietObserver>.State?
}

extension LockstepFeed: FeedDriver {}

/// The venues the generator serves, each with how a feeder connects to it.
enum SimulatedVenue: String, CaseIterable, CustomStringConvertible {
    case binanceSpot = "binance-spot"
    case binanceUSDM = "binance-usdm"
    case bybitLinear = "bybit-linear"
    case bybitSpot = "bybit-spot"
    case okx
    case coinbase
    case kraken

    var description: String { rawValue }
    var venue: Venue { Venue(name: rawValue)! }

    var symbols: [String] {
        switch self {
        case .binanceSpot, .binanceUSDM, .bybitLinear, .bybitSpot: ["BTCUSDT", "ETHUSDT"]
        case .okx: ["BTC-USDT", "ETH-USDT"]
        case .coinbase: ["BTC-USD", "ETH-USD"]
        case .kraken: ["BTC/USD", "ETH/USD"]
        }
    }

    /// Levels a side of the subscription the feeder compares with the truth: Bybit
    /// `orderbook.50` and Kraken depth 10 are views of the generator's 60-level sides.
    var comparedDepth: Int {
        switch self {
        case .bybitLinear, .bybitSpot: 50
        case .kraken: 10
        default: .max
        }
    }

    var isBinance: Bool { self == .binanceSpot || self == .binanceUSDM }

    static let maximumLevels = 60

    func configuration(symbols: [String]? = nil, seed: UInt64 = 7, faults: FaultConfiguration = FaultConfiguration(),
                       tls: Bool = false) -> SimulatorConfiguration {
        var configuration = SimulatorConfiguration(venue: venue, instruments: (symbols ?? self.symbols).map { SimulatedInstrument.standard($0) })
        configuration.seed = seed
        configuration.maximumLevels = Self.maximumLevels
        configuration.minimumLevels = 15
        configuration.faults = faults
        configuration.heartbeatInterval = .max / 2  // lockstep: nothing is sent unasked
        if tls { configuration.caCertificateOutput = temporaryPath("simulator-ca.pem") }
        return configuration
    }

    /// A feeder connection (client + adapter + keeper) against a new simulator.
    func feed(symbols: [String]? = nil, seed: UInt64 = 7, faults: FaultConfiguration = FaultConfiguration(), tls: Bool = false) throws -> any FeedDriver {
        let configuration = configuration(symbols: symbols, seed: seed, faults: faults, tls: tls)
        switch self {
        case .binanceSpot:
            return try LockstepFeed(configuration: configuration, path: "/stream", levelsPerSide: 1000) { symbols, simulator in
                BinanceSpotAdapter(configuration: BinanceConfiguration(wsURL: simulator.url, restURL: simulator.restURL, symbols: symbols,
                                                                       depthStream: "depth@100ms"))
            }
        case .binanceUSDM:
            return try LockstepFeed(configuration: configuration, path: "/stream", levelsPerSide: 1000) { symbols, simulator in
                BinanceUSDMAdapter(configuration: BinanceConfiguration(wsURL: simulator.url, restURL: simulator.restURL, symbols: symbols,
                                                                       depthStream: "depth@0ms"))
            }
        case .bybitLinear, .bybitSpot:
            return try LockstepFeed(configuration: configuration, path: self == .bybitLinear ? "/v5/public/linear" : "/v5/public/spot",
                                    levelsPerSide: 1000) { symbols, _ in
                try BybitAdapter(category: self == .bybitLinear ? .linear : .spot, symbols: symbols, depth: 50)
            }
        case .okx:
            return try LockstepFeed(configuration: configuration, path: "/ws/v5/public", levelsPerSide: 1000) { symbols, _ in
                try OKXAdapter(symbols: symbols)
            }
        case .coinbase:
            return try LockstepFeed(configuration: configuration, path: "/", levelsPerSide: 1000) { symbols, _ in
                try CoinbaseAdapter(symbols: symbols)
            }
        case .kraken:
            // Kraken books truncate by capacity: levelsPerSide == the subscribed depth.
            return try LockstepFeed(configuration: configuration, path: "/v2", levelsPerSide: 10) { symbols, _ in
                try KrakenAdapter(symbols: symbols, depth: 10)
            }
        }
    }
}
