import Foundation
import Testing
import TickwireCore
import TickwireTestSupport

/// The recorded Binance captures end to end, through the two real processes a user runs:
/// `tickwire simulate --replay` serves the file (WebSocket frames in recorded order and the
/// recorded REST snapshot when asked), `tickwire watch` syncs by the venue's rules and prints
/// one jsonl line per applied update. Every printed book must equal the reference book that
/// BinanceReference builds from the same file by the documented rule, in the same order.
@Suite(.serialized) struct CaptureReplayWatchTests {
    static let depth = 20

    @Test func theSpotCaptureReplayedIntoWatchPrintsExactlyTheReferenceBooks() throws {
        try replay(venue: "binance-spot", file: "binance/spot-ethusdt-20240808.gz", depthStream: "depth@100ms",
                   reference: .spot, quantityScale: 8)
    }

    @Test func theUSDMCaptureReplayedIntoWatchPrintsExactlyTheReferenceBooks() throws {
        try replay(venue: "binance-usdm", file: "binance/usdm-ethusdt-20240808.gz", depthStream: "depth@0ms",
                   reference: .usdm, quantityScale: 3)
    }

    /// ETHUSDT: prices in cents on both venues; spot quantities reach 5 decimals on the wire, so
    /// spot keeps Binance's own 8.
    func replay(venue: String, file: String, depthStream: String, reference referenceVenue: BinanceReference.Venue,
                quantityScale: Int) throws {
        let capture = try SampleCapture(file)
        var reference = BinanceReference(venue: referenceVenue, priceScale: 2, quantityScale: quantityScale, top: Self.depth)
        try capture.bytes.withUnsafeBufferPointer { bytes in
            for line in capture.lines where capture.contains(line, "@depth") || capture.contains(line, #"{"lastUpdateId""#) {
                try reference.line(Data(bytes[line.frame]))
            }
        }
        #expect(reference.gaps == 0)
        #expect(reference.staleSnapshots == 0)

        let simulator = try RunningTickwire(["simulate", "--venue", venue, "--replay", SampleCapture.path(file), "--replay-speed", "0",
                                             "--price-scale", "2", "--quantity-scale", "\(quantityScale)"])
        defer { if simulator.process.isRunning { simulator.process.terminate() } }
        let banner = try simulator.waitForLines(3)
        let listening = try #require(banner.first { $0.hasPrefix("listening ") })
        let rest = try #require(banner.first { $0.hasPrefix("rest ") })
        let wsURL = listening.dropFirst("listening ".count).dropLast()
        let restURL = rest.dropFirst("rest ".count).dropLast()

        let directory = temporaryDirectory()
        try writeFile(directory + "/\(venue).toml", """
            adapter = "\(venue)"
            ws_url = "\(wsURL)"
            rest_url = "\(restURL)"
            symbols = ["ETHUSDT"]
            depth = \(referenceVenue == .spot ? 5000 : 1000)
            streams = ["\(depthStream)", "trade", "bookTicker"]
            [scales]
            ETHUSDT = { price = 2, quantity = \(quantityScale) }
            """)
        let watch = try RunningTickwire(["watch", "--config", directory + "/\(venue).toml", "--depth", "\(Self.depth)", "--once"])
        let watchStatus = try watch.waitForExit(timeout: .seconds(300))
        #expect(watchStatus == 0, "\(watch.standardError)")
        let simulatorStatus = try simulator.waitForExit(timeout: .seconds(30))
        #expect(simulatorStatus == 0, "\(simulator.standardError)")

        var printed = try watch.lines.map(BookLine.init)
        // The replay's end closes the connection: the book is no longer kept, and says so once.
        let closing = printed.popLast()
        let last = try #require(closing)
        #expect(!last.valid && last.reason == "disconnected", "\(last)")
        let firstInvalid = printed.first { !$0.valid }
        #expect(firstInvalid == nil, "no book went invalid before the end")
        #expect(printed.allSatisfy { $0.venue == venue && $0.symbol == "ETHUSDT" })
        #expect(printed.count == reference.published.count)
        var mismatches = 0
        for (index, (line, want)) in zip(printed, reference.published).enumerated() {
            let got = try PublishedBook(updateId: line.updateId, bids: levels(line.bids, quantityScale), asks: levels(line.asks, quantityScale))
            guard got != want else { continue }
            mismatches += 1
            if mismatches <= 3 { Issue.record("line #\(index): printed \(got), reference \(want)") }
        }
        #expect(mismatches == 0)
        let final = try #require(reference.published.last)
        #expect(printed.last?.updateId == final.updateId)
        #expect(printed.count > 1000)
        print("replay \(file) into tickwire watch: \(printed.count) books printed and equal to the reference "
              + "(top \(Self.depth)), final u=\(final.updateId)")
    }

    func levels(_ pairs: [[String]], _ quantityScale: Int) throws -> [BookLevel] {
        try pairs.map { pair in
            BookLevel(price: Price(mantissa: try BinanceReference.fixed(pair[0], scale: 2)),
                      quantity: Quantity(mantissa: try BinanceReference.fixed(pair[1], scale: quantityScale)))
        }
    }
}
