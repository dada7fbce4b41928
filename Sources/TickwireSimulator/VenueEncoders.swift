import TickwireCore

// One encoder per venue family. Each writes one venue message, exactly in the venue's
// documented shape (../shared/reference/exchange-formats.md), into a reusable FrameBuffer.
// Sequencing fields and checksums are passed in by the simulator, which owns the state
// (update ids, views, per-connection counters).

/// The level text each venue uses: Binance, Bybit and Coinbase write every decimal of the
/// instrument's scale ("65114.20"); OKX trims trailing zeros (its checksum is over that
/// text); Kraken writes JSON numbers at the pair's precision.
@inline(__always)
func appendLevelArrays(_ out: FrameBuffer, _ side: Side, _ changes: ArraySlice<LevelChange>, _ instrument: SimulatedInstrument, trim: Bool, okxExtras: Bool) {
    out.append(byte: UInt8(ascii: "["))
    var first = true
    for change in changes where change.side == side {
        if !first { out.append(byte: UInt8(ascii: ",")) }
        first = false
        out.append(byte: UInt8(ascii: "["))
        out.appendQuotedDecimal(change.price, scale: instrument.priceScale, trim: trim)
        out.append(byte: UInt8(ascii: ","))
        out.appendQuotedDecimal(change.quantity, scale: instrument.quantityScale, trim: trim)
        if okxExtras { out.append(change.quantity == 0 ? #","0","0"]"# : #","0","1"]"#) } else { out.append(byte: UInt8(ascii: "]")) }
    }
    out.append(byte: UInt8(ascii: "]"))
}

@inline(__always)
func appendLevelArrays(_ out: FrameBuffer, _ levels: ArraySlice<BookLevel>, _ instrument: SimulatedInstrument, trim: Bool, okxExtras: Bool) {
    out.append(byte: UInt8(ascii: "["))
    var first = true
    for level in levels {
        if !first { out.append(byte: UInt8(ascii: ",")) }
        first = false
        out.append(byte: UInt8(ascii: "["))
        out.appendQuotedDecimal(level.price.mantissa, scale: instrument.priceScale, trim: trim)
        out.append(byte: UInt8(ascii: ","))
        out.appendQuotedDecimal(level.quantity.mantissa, scale: instrument.quantityScale, trim: trim)
        if okxExtras { out.append(#","0","1"]"#) } else { out.append(byte: UInt8(ascii: "]")) }
    }
    out.append(byte: UInt8(ascii: "]"))
}

// MARK: - Binance spot and USD-M

/// Binance spot (`futures == false`) and USD-M futures: `depthUpdate` (spot `U`/`u`; USD-M
/// adds `T` and `pu`), `trade`, `bookTicker`, the REST depth snapshot; raw or wrapped in a
/// combined-stream envelope `{"stream":…,"data":…}`.
public struct BinanceEncoder {
    public let futures: Bool

    public init(futures: Bool) { self.futures = futures }

    @inline(__always)
    func open(_ out: FrameBuffer, stream: [UInt8]?) {
        if let stream {
            out.append(#"{"stream":""#)
            out.append(stream)
            out.append(#"","data":"#)
        }
    }

    @inline(__always)
    func close(_ out: FrameBuffer, stream: [UInt8]?) {
        if stream != nil { out.append(byte: UInt8(ascii: "}")) }
    }

    public func depthUpdate(_ out: FrameBuffer, stream: [UInt8]?, symbol: [UInt8], instrument: SimulatedInstrument,
                            update: GeneratedUpdate, changes: ArraySlice<LevelChange>) {
        out.reset()
        open(out, stream: stream)
        let milliseconds = update.time / 1_000_000
        out.append(#"{"e":"depthUpdate","E":"#)
        out.append(milliseconds)
        if futures {
            out.append(#","T":"#)
            out.append(milliseconds)
        }
        out.append(#","s":""#)
        out.append(symbol)
        out.append(#"","U":"#)
        out.append(update.firstUpdateId)
        out.append(#","u":"#)
        out.append(update.lastUpdateId)
        if futures {
            out.append(#","pu":"#)
            out.append(update.previousUpdateId)
        }
        out.append(#","b":"#)
        appendLevelArrays(out, .bid, changes, instrument, trim: false, okxExtras: false)
        out.append(#","a":"#)
        appendLevelArrays(out, .ask, changes, instrument, trim: false, okxExtras: false)
        out.append(byte: UInt8(ascii: "}"))
        close(out, stream: stream)
    }

    public func trade(_ out: FrameBuffer, stream: [UInt8]?, symbol: [UInt8], instrument: SimulatedInstrument,
                      trade: GeneratedTrade, time: UInt64) {
        out.reset()
        open(out, stream: stream)
        let milliseconds = time / 1_000_000
        out.append(#"{"e":"trade","E":"#)
        out.append(milliseconds)
        if futures {
            out.append(#","T":"#)
            out.append(milliseconds)
        }
        out.append(#","s":""#)
        out.append(symbol)
        out.append(#"","t":"#)
        out.append(trade.tradeId)
        out.append(#","p":"#)
        out.appendQuotedDecimal(trade.price, scale: instrument.priceScale)
        out.append(#","q":"#)
        out.appendQuotedDecimal(trade.quantity, scale: instrument.quantityScale)
        if futures {
            out.append(#","X":"MARKET""#)
        } else {
            out.append(#","T":"#)
            out.append(milliseconds)
        }
        // m: the buyer is the maker, i.e. the taker sold.
        out.append(trade.aggressor == .ask ? #","m":true"# : #","m":false"#)
        out.append(futures ? "}" : #","M":true}"#)
        close(out, stream: stream)
    }

    public func bookTicker(_ out: FrameBuffer, stream: [UInt8]?, symbol: [UInt8], instrument: SimulatedInstrument,
                           updateId: UInt64, bid: BookLevel, ask: BookLevel, time: UInt64) {
        out.reset()
        open(out, stream: stream)
        out.append(futures ? #"{"e":"bookTicker","u":"# : #"{"u":"#)
        out.append(updateId)
        out.append(#","s":""#)
        out.append(symbol)
        out.append(#"","b":"#)
        out.appendQuotedDecimal(bid.price.mantissa, scale: instrument.priceScale)
        out.append(#","B":"#)
        out.appendQuotedDecimal(bid.quantity.mantissa, scale: instrument.quantityScale)
        out.append(#","a":"#)
        out.appendQuotedDecimal(ask.price.mantissa, scale: instrument.priceScale)
        out.append(#","A":"#)
        out.appendQuotedDecimal(ask.quantity.mantissa, scale: instrument.quantityScale)
        if futures {
            out.append(#","T":"#)
            out.append(time / 1_000_000)
            out.append(#","E":"#)
            out.append(time / 1_000_000)
        }
        out.append(byte: UInt8(ascii: "}"))
        close(out, stream: stream)
    }

    /// `GET /api/v3/depth` (spot) or `/fapi/v1/depth` (USD-M, with `E` and `T`).
    public func restSnapshot(_ out: FrameBuffer, instrument: SimulatedInstrument, lastUpdateId: UInt64,
                             bids: ArraySlice<BookLevel>, asks: ArraySlice<BookLevel>, time: UInt64) {
        out.reset()
        out.append(#"{"lastUpdateId":"#)
        out.append(lastUpdateId)
        if futures {
            out.append(#","E":"#)
            out.append(time / 1_000_000)
            out.append(#","T":"#)
            out.append(time / 1_000_000)
        }
        out.append(#","bids":"#)
        appendLevelArrays(out, bids, instrument, trim: false, okxExtras: false)
        out.append(#","asks":"#)
        appendLevelArrays(out, asks, instrument, trim: false, okxExtras: false)
        out.append(byte: UInt8(ascii: "}"))
    }
}

// MARK: - Bybit v5

/// Bybit v5 `orderbook.{depth}.{symbol}` snapshot/delta (`u` per message, `seq` cross
/// sequence) and `publicTrade.{symbol}`.
public struct BybitEncoder {
    public init() {}

    public func book(_ out: FrameBuffer, snapshot: Bool, depth: Int, symbol: [UInt8], instrument: SimulatedInstrument,
                     bids: ArraySlice<BookLevel>?, asks: ArraySlice<BookLevel>?, changes: ArraySlice<LevelChange>?,
                     u: UInt64, seq: UInt64, time: UInt64) {
        out.reset()
        let milliseconds = time / 1_000_000
        out.append(#"{"topic":"orderbook."#)
        out.append(UInt64(depth))
        out.append(byte: UInt8(ascii: "."))
        out.append(symbol)
        out.append(snapshot ? #"","type":"snapshot","ts":"# : #"","type":"delta","ts":"#)
        out.append(milliseconds)
        out.append(#","data":{"s":""#)
        out.append(symbol)
        out.append(#"","b":"#)
        if let changes {
            appendLevelArrays(out, .bid, changes, instrument, trim: false, okxExtras: false)
            out.append(#","a":"#)
            appendLevelArrays(out, .ask, changes, instrument, trim: false, okxExtras: false)
        } else {
            appendLevelArrays(out, bids ?? [], instrument, trim: false, okxExtras: false)
            out.append(#","a":"#)
            appendLevelArrays(out, asks ?? [], instrument, trim: false, okxExtras: false)
        }
        out.append(#","u":"#)
        out.append(u)
        out.append(#","seq":"#)
        out.append(seq)
        out.append(#"},"cts":"#)
        out.append(milliseconds)
        out.append(byte: UInt8(ascii: "}"))
    }

    public func trade(_ out: FrameBuffer, symbol: [UInt8], instrument: SimulatedInstrument, trade: GeneratedTrade, seq: UInt64, time: UInt64) {
        out.reset()
        let milliseconds = time / 1_000_000
        out.append(#"{"topic":"publicTrade."#)
        out.append(symbol)
        out.append(#"","type":"snapshot","ts":"#)
        out.append(milliseconds)
        out.append(#","data":[{"T":"#)
        out.append(milliseconds)
        out.append(#","s":""#)
        out.append(symbol)
        out.append(trade.aggressor == .bid ? #"","S":"Buy","v":"# : #"","S":"Sell","v":"#)
        out.appendQuotedDecimal(trade.quantity, scale: instrument.quantityScale)
        out.append(#","p":"#)
        out.appendQuotedDecimal(trade.price, scale: instrument.priceScale)
        out.append(trade.aggressor == .bid ? #","L":"PlusTick","i":""# : #","L":"MinusTick","i":""#)
        appendUUID(out, trade.tradeId)
        out.append(#"","BT":false,"RPI":false,"seq":"#)
        out.append(seq)
        out.append("}]}")
    }

    /// A UUID-shaped id derived from the trade id (Bybit trade ids are UUIDs).
    func appendUUID(_ out: FrameBuffer, _ id: UInt64) {
        var random = SplitMix64(seed: id)
        let high = random.next(), low = random.next()
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var nibble = 0
        for group in [8, 4, 4, 4, 12] {
            if nibble > 0 { out.append(byte: UInt8(ascii: "-")) }
            for _ in 0..<group {
                let word = nibble < 16 ? high : low
                out.append(byte: hex[Int((word >> UInt64((nibble % 16) * 4)) & 0xF)])
                nibble += 1
            }
        }
    }
}

// MARK: - OKX v5

/// OKX v5 `books` snapshot/update (`prevSeqId`/`seqId`, signed CRC32 checksum of the top 25)
/// and `trades`. Levels are `[px, sz, "0", orders]` with OKX's trimmed decimals.
public struct OKXEncoder {
    public let channel: String

    public init(channel: String = "books") { self.channel = channel }

    public func book(_ out: FrameBuffer, snapshot: Bool, symbol: [UInt8], instrument: SimulatedInstrument,
                     bids: ArraySlice<BookLevel>?, asks: ArraySlice<BookLevel>?, changes: ArraySlice<LevelChange>?,
                     prevSeqId: Int64, seqId: UInt64, checksum: Int32, time: UInt64) {
        out.reset()
        out.append(#"{"arg":{"channel":""#)
        out.append(channel)
        out.append(#"","instId":""#)
        out.append(symbol)
        out.append(snapshot ? #""},"action":"snapshot","data":[{"asks":"# : #""},"action":"update","data":[{"asks":"#)
        if let changes {
            appendLevelArrays(out, .ask, changes, instrument, trim: true, okxExtras: true)
            out.append(#","bids":"#)
            appendLevelArrays(out, .bid, changes, instrument, trim: true, okxExtras: true)
        } else {
            appendLevelArrays(out, asks ?? [], instrument, trim: true, okxExtras: true)
            out.append(#","bids":"#)
            appendLevelArrays(out, bids ?? [], instrument, trim: true, okxExtras: true)
        }
        out.append(#","ts":""#)
        out.append(time / 1_000_000)
        out.append(#"","checksum":"#)
        out.append(signed: Int64(checksum))
        out.append(#","prevSeqId":"#)
        out.append(signed: prevSeqId)
        out.append(#","seqId":"#)
        out.append(seqId)
        out.append("}]}")
    }

    public func trade(_ out: FrameBuffer, symbol: [UInt8], instrument: SimulatedInstrument, trade: GeneratedTrade, time: UInt64) {
        out.reset()
        out.append(#"{"arg":{"channel":"trades","instId":""#)
        out.append(symbol)
        out.append(#""},"data":[{"instId":""#)
        out.append(symbol)
        out.append(#"","tradeId":""#)
        out.append(trade.tradeId)
        out.append(#"","px":"#)
        out.appendQuotedDecimal(trade.price, scale: instrument.priceScale, trim: true)
        out.append(#","sz":"#)
        out.appendQuotedDecimal(trade.quantity, scale: instrument.quantityScale, trim: true)
        out.append(trade.aggressor == .bid ? #","side":"buy","ts":""# : #","side":"sell","ts":""#)
        out.append(time / 1_000_000)
        out.append(#"","count":"1","source":"0"}]}"#)
    }
}

// MARK: - Coinbase Advanced Trade

/// Coinbase Advanced Trade `l2_data` (snapshot/update events, sides `bid`/`offer`),
/// `market_trades`, `heartbeats` and `subscriptions`, each with the connection's `sequence_num`.
public struct CoinbaseEncoder {
    public init() {}

    func header(_ out: FrameBuffer, channel: StaticString, sequence: UInt64, time: UInt64) {
        out.reset()
        out.append(#"{"channel":""#)
        out.append(channel)
        out.append(#"","client_id":"","timestamp":""#)
        out.appendISOTime(time, fractionDigits: 9)
        out.append(#"","sequence_num":"#)
        out.append(sequence)
        out.append(#","events":["#)
    }

    @inline(__always)
    func update(_ out: FrameBuffer, side: Side, price: Int64, quantity: Int64, instrument: SimulatedInstrument, time: UInt64) {
        out.append(side == .bid ? #"{"side":"bid","event_time":""# : #"{"side":"offer","event_time":""#)
        out.appendISOTime(time, fractionDigits: 6)
        out.append(#"","price_level":"#)
        out.appendQuotedDecimal(price, scale: instrument.priceScale)
        out.append(#","new_quantity":"#)
        if quantity == 0 { out.append(#""0""#) } else { out.appendQuotedDecimal(quantity, scale: instrument.quantityScale) }
        out.append(byte: UInt8(ascii: "}"))
    }

    public func book(_ out: FrameBuffer, snapshot: Bool, product: [UInt8], instrument: SimulatedInstrument,
                     bids: ArraySlice<BookLevel>?, asks: ArraySlice<BookLevel>?, changes: ArraySlice<LevelChange>?,
                     sequence: UInt64, time: UInt64) {
        header(out, channel: "l2_data", sequence: sequence, time: time)
        out.append(snapshot ? #"{"type":"snapshot","product_id":""# : #"{"type":"update","product_id":""#)
        out.append(product)
        out.append(#"","updates":["#)
        var first = true
        if let changes {
            for change in changes {
                if !first { out.append(byte: UInt8(ascii: ",")) }
                first = false
                update(out, side: change.side, price: change.price, quantity: change.quantity, instrument: instrument, time: time)
            }
        } else {
            for (side, levels) in [(Side.bid, bids ?? []), (Side.ask, asks ?? [])] {
                for level in levels {
                    if !first { out.append(byte: UInt8(ascii: ",")) }
                    first = false
                    update(out, side: side, price: level.price.mantissa, quantity: level.quantity.mantissa, instrument: instrument, time: time)
                }
            }
        }
        out.append("]}]}")
    }

    public func trade(_ out: FrameBuffer, product: [UInt8], instrument: SimulatedInstrument, trade: GeneratedTrade, sequence: UInt64, time: UInt64) {
        header(out, channel: "market_trades", sequence: sequence, time: time)
        out.append(#"{"type":"update","trades":[{"product_id":""#)
        out.append(product)
        out.append(#"","trade_id":""#)
        out.append(trade.tradeId)
        out.append(#"","price":"#)
        out.appendQuotedDecimal(trade.price, scale: instrument.priceScale)
        out.append(#","size":"#)
        out.appendQuotedDecimal(trade.quantity, scale: instrument.quantityScale)
        out.append(#","time":""#)
        out.appendISOTime(time, fractionDigits: 6)
        // Coinbase's public side is the maker's: a buyer lifting the offer prints SELL.
        out.append(trade.aggressor == .bid ? #"","side":"SELL"}]}]}"# : #"","side":"BUY"}]}]}"#)
    }

    public func heartbeat(_ out: FrameBuffer, counter: UInt64, sequence: UInt64, time: UInt64) {
        header(out, channel: "heartbeats", sequence: sequence, time: time)
        out.append(#"{"current_time":""#)
        out.appendISOTime(time, fractionDigits: 9)
        out.append(#"","heartbeat_counter":""#)
        out.append(counter)
        out.append(#""}]}"#)
    }

    /// The `subscriptions` message: every channel with its products.
    public func subscriptions(_ out: FrameBuffer, channels: [(String, [String])], sequence: UInt64, time: UInt64) {
        header(out, channel: "subscriptions", sequence: sequence, time: time)
        out.append(#"{"subscriptions":{"#)
        for (index, (channel, products)) in channels.enumerated() {
            if index > 0 { out.append(byte: UInt8(ascii: ",")) }
            out.appendQuoted(channel)
            out.append(":[")
            for (p, product) in products.enumerated() {
                if p > 0 { out.append(byte: UInt8(ascii: ",")) }
                out.appendQuoted(product)
            }
            out.append("]")
        }
        out.append("}}]}")
    }
}

// MARK: - Kraken v2

/// Kraken WebSocket v2 `book` snapshot/update (JSON-number prices at the pair's precision,
/// CRC32 of the top 10), `trade`, `heartbeat`, `status` and method replies.
public struct KrakenEncoder {
    public init() {}

    @inline(__always)
    func level(_ out: FrameBuffer, price: Int64, quantity: Int64, instrument: SimulatedInstrument) {
        out.append(#"{"price":"#)
        out.appendDecimal(price, scale: instrument.priceScale)
        out.append(#","qty":"#)
        out.appendDecimal(quantity, scale: instrument.quantityScale)
        out.append(byte: UInt8(ascii: "}"))
    }

    public func book(_ out: FrameBuffer, snapshot: Bool, symbol: [UInt8], instrument: SimulatedInstrument,
                     bids: ArraySlice<BookLevel>?, asks: ArraySlice<BookLevel>?, changes: ArraySlice<LevelChange>?,
                     checksum: UInt32, time: UInt64) {
        out.reset()
        out.append(snapshot ? #"{"channel":"book","type":"snapshot","data":[{"symbol":""# : #"{"channel":"book","type":"update","data":[{"symbol":""#)
        out.append(symbol)
        for side in [Side.bid, Side.ask] {
            out.append(side == .bid ? #"","bids":["# : #"],"asks":["#)
            var first = true
            if let changes {
                for change in changes where change.side == side {
                    if !first { out.append(byte: UInt8(ascii: ",")) }
                    first = false
                    level(out, price: change.price, quantity: change.quantity, instrument: instrument)
                }
            } else {
                for entry in (side == .bid ? bids : asks) ?? [] {
                    if !first { out.append(byte: UInt8(ascii: ",")) }
                    first = false
                    level(out, price: entry.price.mantissa, quantity: entry.quantity.mantissa, instrument: instrument)
                }
            }
        }
        out.append(#"],"checksum":"#)
        out.append(UInt64(checksum))
        out.append(#","timestamp":""#)
        out.appendISOTime(time, fractionDigits: 6)
        out.append(#""}]}"#)
    }

    public func trade(_ out: FrameBuffer, symbol: [UInt8], instrument: SimulatedInstrument, trade: GeneratedTrade, time: UInt64) {
        out.reset()
        out.append(#"{"channel":"trade","type":"update","data":[{"symbol":""#)
        out.append(symbol)
        out.append(trade.aggressor == .bid ? #"","side":"buy","price":"# : #"","side":"sell","price":"#)
        out.appendDecimal(trade.price, scale: instrument.priceScale)
        out.append(#","qty":"#)
        out.appendDecimal(trade.quantity, scale: instrument.quantityScale)
        out.append(#","ord_type":"market","trade_id":"#)
        out.append(trade.tradeId)
        out.append(#","timestamp":""#)
        out.appendISOTime(time, fractionDigits: 6)
        out.append(#""}]}"#)
    }
}
