import Foundation
import Testing
import TickwireTestSupport
import TickwireCore
import TickwireSimulator
import TickwireVenues

@Suite struct MarketGeneratorTests {
    let instruments = [SimulatedInstrument.standard("BTCUSDT"), SimulatedInstrument.standard("ETHUSDT")]

    func trace(seed: UInt64, steps: Int) -> [[LevelChange]] {
        var generator = MarketGenerator(instruments: instruments, seed: seed, maximumLevels: 60, minimumLevels: 15)
        return (0..<steps).map { _ in
            let update = generator.step(time: 0)
            return Array(generator.changes[0..<update.changeCount])
        }
    }

    @Test func theSameSeedGivesTheSameMarketAndAnotherSeedAnother() {
        #expect(trace(seed: 42, steps: 2000) == trace(seed: 42, steps: 2000))
        #expect(trace(seed: 42, steps: 2000) != trace(seed: 43, steps: 2000))
    }

    @Test func booksStayUncrossedWithinTheLevelBoundsAndUpdateIdsChain() {
        var generator = MarketGenerator(instruments: instruments, seed: 5, maximumLevels: 60, minimumLevels: 15)
        var lastIds = generator.books.map(\.updateId)
        var trades = 0, multi = 0, insideSpread = 0
        var mids: Set<Int64> = []
        for _ in 0..<50_000 {
            let bestBefore = generator.books.map { ($0.bids.best!, $0.asks.best!) }
            let update = generator.step(time: 0)
            let book = generator.books[update.symbol]
            #expect(update.previousUpdateId == lastIds[update.symbol])
            #expect(update.firstUpdateId == update.previousUpdateId + 1)
            #expect(update.lastUpdateId == update.previousUpdateId + UInt64(update.changeCount))
            lastIds[update.symbol] = update.lastUpdateId
            guard let bid = book.bids.best, let ask = book.asks.best, bid < ask else {
                Issue.record("crossed or empty book after step \(generator.steps)")
                return
            }
            #expect((15...60).contains(book.bids.count) && (15...60).contains(book.asks.count))
            if update.trade != nil { trades += 1 }
            if update.changeCount > 1 { multi += 1 }
            if bid > bestBefore[update.symbol].0 || ask < bestBefore[update.symbol].1 { insideSpread += 1 }
            mids.insert((bid + ask) / 2)
            // Distinct (side, price) per event.
            let keys = generator.changes[0..<update.changeCount].map { "\($0.side)\($0.price)" }
            #expect(Set(keys).count == keys.count)
        }
        #expect(trades > 2000 && multi > 1000 && insideSpread > 1000)
        #expect(mids.count > 20, "the mid moves by ticks")
    }

    /// A view's changes applied to a client book (Bybit: deletes included; Kraken: the client
    /// truncates to the depth) always give the truth's top levels.
    @Test(arguments: [false, true])
    func depthViewChangesKeepAClientBookEqualToTheTruthsTop(omitTruncationDeletes: Bool) {
        var generator = MarketGenerator(instruments: [instruments[0]], seed: 9, maximumLevels: 60, minimumLevels: 15)
        let depth = 10
        var view = DepthView(book: generator.books[0], depth: depth, maximumLevels: 60, omitTruncationDeletes: omitTruncationDeletes)
        var client: [Side: [Int64: Int64]] = [.bid: [:], .ask: [:]]
        let (bids, asks) = view.levels(of: generator.books[0])
        for level in bids { client[.bid]![level.price.mantissa] = level.quantity.mantissa }
        for level in asks { client[.ask]![level.price.mantissa] = level.quantity.mantissa }
        var messages = 0
        for _ in 0..<20_000 {
            let update = generator.step(time: 0)
            view.advance(book: generator.books[0], truthChanges: generator.changes[0..<update.changeCount])
            if !view.changes.isEmpty { messages += 1 }
            for change in view.changes {
                if change.quantity == 0 { client[change.side]![change.price] = nil } else { client[change.side]![change.price] = change.quantity }
            }
            for side in Side.allCases {
                var levels = client[side]!.sorted { side == .bid ? $0.key > $1.key : $0.key < $1.key }
                if levels.count > depth {
                    #expect(omitTruncationDeletes, "only Kraken's clients truncate")
                    levels = Array(levels.prefix(depth))
                    client[side] = Dictionary(uniqueKeysWithValues: levels.map { ($0.key, $0.value) })
                }
                let truth = generator.books[0][side].top(depth).map { ($0.price.mantissa, $0.quantity.mantissa) }
                guard levels.map({ $0.key }) == truth.map(\.0) && levels.map({ $0.value }) == truth.map(\.1) else {
                    Issue.record("view diverged at step \(generator.steps)")
                    return
                }
            }
        }
        #expect(messages > 5_000 && messages < 20_000, "deep changes do not reach a depth-10 view")
    }
}

@Suite struct EncoderTests {
    @Test func okxChecksumMatchesTheDocumentedVectors() {
        let scratch = FrameBuffer()
        func level(_ price: Int64, _ quantity: Int64) -> BookLevel { BookLevel(price: Price(mantissa: price), quantity: Quantity(mantissa: quantity)) }
        // "3366.1:7:3366.8:9:3366:6:3368:8" → -1881014294
        #expect(VenueChecksums.okx(bids: [level(33661, 7), level(33660, 6)][...], asks: [level(33668, 9), level(33680, 8)][...],
                                   priceScale: Scale(1), quantityScale: Scale(0), scratch: scratch) == -1_881_014_294)
        // "3366.1:7:3366.8:9:3368:8:3372:8" → 831078360 (one bid, three asks)
        #expect(VenueChecksums.okx(bids: [level(33661, 7)][...], asks: [level(33668, 9), level(33680, 8), level(33720, 8)][...],
                                   priceScale: Scale(1), quantityScale: Scale(0), scratch: scratch) == 831_078_360)
    }

    /// The docs example book read with the project's exact decimal scanner (pair precision 1, 8).
    @Test func krakenChecksumMatchesTheDocsExample() throws {
        var text = try Array(Data(contentsOf: URL(fileURLWithPath: SampleCapture.path("checksum-vectors/kraken-v2-docs-example.json"))))
        var bids: [BookLevel] = [], asks: [BookLevel] = []
        try text.withUnsafeMutableBytes { bytes in
            var s = JSONScanner(UnsafeRawBufferPointer(bytes))
            try s.beginObject()
            while let key = try s.nextKey() {
                guard key == "data" else { try s.skipValue(); continue }
                try s.beginArray()
                while try s.nextElement() {
                    try s.beginObject()
                    while let field = try s.nextKey() {
                        guard field == "bids" || field == "asks" else { try s.skipValue(); continue }
                        let isBid = field == "bids"
                        try s.beginArray()
                        while try s.nextElement() {
                            var price: Int64 = 0, quantity: Int64 = 0
                            try s.beginObject()
                            while let name = try s.nextKey() {
                                if name == "price" { price = try s.decimal(scale: Scale(1)) } else if name == "qty" { quantity = try s.decimal(scale: Scale(8)) } else { try s.skipValue() }
                            }
                            let level = BookLevel(price: Price(mantissa: price), quantity: Quantity(mantissa: quantity))
                            if isBid { bids.append(level) } else { asks.append(level) }
                        }
                    }
                }
            }
        }
        #expect(bids.count == 10 && asks.count == 10)
        #expect(VenueChecksums.kraken(bids: bids[...], asks: asks[...], scratch: FrameBuffer()) == 3_310_070_434)
    }

    @Test func framesHaveTheVenuesShapes() {
        let out = FrameBuffer()
        let btc = SimulatedInstrument.standard("BTCUSDT")
        let update = GeneratedUpdate(symbol: 0, firstUpdateId: 157, lastUpdateId: 160, previousUpdateId: 149, time: 1_672_515_782_136_000_000,
                                     trade: nil, changeCount: 2)
        let changes = [LevelChange(side: .bid, price: 6_000_012, quantity: 10_000), LevelChange(side: .ask, price: 6_000_050, quantity: 0)][...]
        BinanceEncoder(futures: false).depthUpdate(out, stream: Array("btcusdt@depth@100ms".utf8), symbol: Array("BTCUSDT".utf8),
                                                   instrument: btc, update: update, changes: changes)
        #expect(out.string == #"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1672515782136,"s":"BTCUSDT","U":157,"u":160,"b":[["60000.12","1.0000"]],"a":[["60000.50","0.0000"]]}}"#)
        BinanceEncoder(futures: true).depthUpdate(out, stream: nil, symbol: Array("BTCUSDT".utf8), instrument: btc, update: update, changes: changes)
        #expect(out.string == #"{"e":"depthUpdate","E":1672515782136,"T":1672515782136,"s":"BTCUSDT","U":157,"u":160,"pu":149,"b":[["60000.12","1.0000"]],"a":[["60000.50","0.0000"]]}"#)
        BybitEncoder().book(out, snapshot: false, depth: 50, symbol: Array("BTCUSDT".utf8), instrument: btc, bids: nil, asks: nil, changes: changes,
                            u: 7, seq: 160, time: update.time)
        #expect(out.string == #"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1672515782136,"data":{"s":"BTCUSDT","b":[["60000.12","1.0000"]],"a":[["60000.50","0.0000"]],"u":7,"seq":160},"cts":1672515782136}"#)
        OKXEncoder().book(out, snapshot: false, symbol: Array("BTC-USDT".utf8), instrument: btc, bids: nil, asks: nil, changes: changes,
                          prevSeqId: 149, seqId: 160, checksum: -5, time: update.time)
        #expect(out.string == #"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["60000.5","0","0","0"]],"bids":[["60000.12","1","0","1"]],"ts":"1672515782136","checksum":-5,"prevSeqId":149,"seqId":160}]}"#)
        CoinbaseEncoder().book(out, snapshot: false, product: Array("BTC-USD".utf8), instrument: btc, bids: nil, asks: nil, changes: changes,
                               sequence: 3, time: update.time)
        #expect(out.string == #"{"channel":"l2_data","client_id":"","timestamp":"2022-12-31T19:43:02.136000000Z","sequence_num":3,"events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2022-12-31T19:43:02.136000Z","price_level":"60000.12","new_quantity":"1.0000"},{"side":"offer","event_time":"2022-12-31T19:43:02.136000Z","price_level":"60000.50","new_quantity":"0"}]}]}"#)
        KrakenEncoder().book(out, snapshot: false, symbol: Array("BTC/USD".utf8), instrument: btc, bids: nil, asks: nil, changes: changes,
                             checksum: 42, time: update.time)
        #expect(out.string == #"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":60000.12,"qty":1.0000}],"asks":[{"price":60000.50,"qty":0.0000}],"checksum":42,"timestamp":"2022-12-31T19:43:02.136000Z"}]}"#)
    }
}
