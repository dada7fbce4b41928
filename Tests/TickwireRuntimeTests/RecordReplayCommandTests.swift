import Foundation
import Testing
import TickwireCore
import TickwireTestSupport

/// `tickwire record` and `tickwire replay` as a user runs them: recordings of the built-in
/// exchange, the Binance spot capture replayed through the pipeline, bad input.
@Suite(.serialized) struct RecordReplayCommandTests {
    static let spotVenue = ["--venue", "binance-spot", "--symbols", "ETHUSDT", "--price-scale", "2", "--quantity-scale", "8",
                            "--depth", "5000", "--streams", "depth@100ms,trade,bookTicker"]

    /// Runs `tickwire ARGUMENTS` to the end: status, stdout lines, stderr.
    func tickwire(_ arguments: [String], timeout: Duration = .seconds(300)) throws -> (status: Int32, lines: [String], errors: String) {
        let process = try RunningTickwire(arguments)
        let status = try process.waitForExit(timeout: timeout)
        return (status, process.lines, process.standardError)
    }

    /// The final book `replay --books` printed, against the reference's last published book.
    func expectFinalBook(_ lines: [String], equalTo reference: BinanceReference, _ capture: CaptureReplayWatchTests.Capture) throws {
        let printed = try BookLine(try #require(lines.last))
        let want = try #require(reference.published.last)
        #expect(printed.valid)
        let got = try PublishedBook(updateId: printed.updateId, bids: capture.levels(printed.bids), asks: capture.levels(printed.asks))
        #expect(got == want)
    }

    @Test func replayingTheSpotCaptureTwiceWritesIdenticalPacketsAndEndsOnTheReferenceBook() throws {
        let capture = CaptureReplayWatchTests.Capture.spot
        let reference = try capture.referenceBooks()
        let directory = temporaryDirectory()
        var outputs: [Data] = []
        for run in 1...2 {
            let out = directory + "/packets-\(run).bin"
            let replay = try tickwire(["replay", "--input", SampleCapture.path(capture.file)] + Self.spotVenue
                                      + ["--max", "--out", out, "--books", "\(CaptureReplayWatchTests.depth)"])
            #expect(replay.status == 0, "\(replay.errors)")
            #expect(replay.errors.contains("messages 33617, snapshots 1"), "\(replay.errors)")
            #expect(replay.errors.contains("parse errors 0, garbled lines 0, unrequested snapshots 0, resyncs 0"), "\(replay.errors)")
            try expectFinalBook(replay.lines, equalTo: reference, capture)
            outputs.append(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        #expect(outputs[0].count > 1_000_000)
        #expect(outputs[0] == outputs[1], "the packets of two replays are byte-identical")
    }

    /// The simulator serves the spot capture; `record` writes exactly the frames it sent (the
    /// WebSocket frames in order, the REST snapshot body where it arrived) and `replay` of the
    /// recording ends on the book `watch` prints for the same capture (the reference).
    @Test(arguments: ["none", "gzip", "zstd"])
    func aRecordingOfTheSimulatorHoldsTheFramesSentAndReplaysToTheWatchBook(_ compression: String) throws {
        let capture = CaptureReplayWatchTests.Capture.spot
        let directory = temporaryDirectory()
        let (simulator, config) = try capture.startSimulator(directory: directory)
        let record = try tickwire(["record", "--config", config, "--out", directory + "/recording", "--compress", compression, "--once"])
        #expect(record.status == 0, "\(record.errors)")
        _ = try simulator.waitForExit(timeout: .seconds(30))
        let files = try FileManager.default.contentsOfDirectory(atPath: directory + "/recording").sorted()
        #expect(files.count == 1)
        let file = directory + "/recording/" + (try #require(files.first))
        #expect(file.hasSuffix(compression == "none" ? ".txt" : compression == "gzip" ? ".txt.gz" : ".txt.zst"), "\(file)")
        let text = compression == "none" ? try String(contentsOfFile: file, encoding: .utf8)
            : try runCommand([compression == "gzip" ? "gzip" : "zstd", "-dc", file])
        let recorded = text.split(separator: "\n").map { line -> Substring in
            let space = line.firstIndex(of: " ")!
            #expect(UInt64(line[..<space]) != nil, "a receive time first: \(line.prefix(40))")
            return line[line.index(after: space)...]
        }
        let sample = try SampleCapture(capture.file)
        let sent = sample.lines.map { Substring(sample.text($0)) }
        let isSnapshot = { (frame: Substring) in frame.hasPrefix(#"{"lastUpdateId""#) }
        // The simulator's subscription answers are frames too; the capture's frames follow in order.
        let recordedStream = recorded.filter { !isSnapshot($0) && !$0.hasPrefix(#"{"result""#) }
        #expect(recordedStream == sent.filter { !isSnapshot($0) })
        #expect(recorded.filter(isSnapshot) == sent.filter(isSnapshot))

        let replay = try tickwire(["replay", "--input", file, "--config", config, "--max", "--books", "\(CaptureReplayWatchTests.depth)"])
        #expect(replay.status == 0, "\(replay.errors)")
        #expect(replay.errors.contains("parse errors 0, garbled lines 0"), "\(replay.errors)")
        try expectFinalBook(replay.lines, equalTo: try capture.referenceBooks(), capture)
    }

    /// A recorder killed with SIGKILL mid-run leaves files every line of which is whole
    /// (compressed ones readable by gzip/zstd to the end) and that replay reads without error.
    @Test(arguments: ["none", "gzip", "zstd"])
    func aRecorderKilledMidRunLeavesReadableWholeLines(_ compression: String) throws {
        let directory = temporaryDirectory()
        let (simulator, url) = try GeneratedVenue.bybit.startSimulator(messages: nil, rate: 5000)
        let config = try GeneratedVenue.bybit.config(url: url, in: directory)
        let recorder = try RunningTickwire(["record", "--config", config, "--out", directory + "/recording", "--compress", compression])
        let folder = directory + "/recording"
        let grew = waitUntil(seconds: 30) {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            return files.contains { ((try? FileManager.default.attributesOfItem(atPath: folder + "/" + $0)[.size] as? Int) ?? 0) > 20_000 }
        }
        #expect(grew, "the recording grows (stderr: \(recorder.standardError))")
        kill(recorder.process.processIdentifier, SIGKILL)
        _ = try recorder.waitForExit()
        simulator.process.terminate()
        let file = folder + "/" + (try #require(try FileManager.default.contentsOfDirectory(atPath: folder).first))
        let text = compression == "none" ? try String(contentsOfFile: file, encoding: .utf8)
            : try runCommand([compression == "gzip" ? "gzip" : "zstd", "-dc", file])  // throws unless the stream is whole
        #expect(text.hasSuffix("\n"), "ends with a whole line")
        let lines = text.split(separator: "\n")
        #expect(lines.count > 100)
        #expect(lines.allSatisfy { line in
            guard let space = line.firstIndex(of: " ") else { return false }
            return UInt64(line[..<space]) != nil && line[line.index(after: space)...].hasPrefix("{") && line.hasSuffix("}")
        })
        let replay = try tickwire(["replay", "--input", file, "--config", config, "--max"])
        #expect(replay.status == 0, "\(replay.errors)")
        #expect(replay.errors.contains("messages \(lines.count),"), "\(replay.errors)")
        #expect(replay.errors.contains("parse errors 0, garbled lines 0"), "\(replay.errors)")
        #expect(!replay.errors.contains("cut off"), "\(replay.errors)")
    }

    /// --rotate-bytes starts numbered parts; replaying the parts in order is replaying the
    /// whole connection (every frame once, nothing refused).
    @Test func rotatedPartsReplayAsOneRecording() throws {
        let directory = temporaryDirectory()
        let simulator = try RunningTickwire(["simulate", "--venue", "bybit-linear", "--symbols", "BTCUSDT,ETHUSDT", "--rate", "0",
                                             "--messages", "3000", "--price-scale", "2", "--quantity-scale", "3", "--seed", "7"])
        let listening = try #require(try simulator.waitForLines(1).first { $0.hasPrefix("listening ") })
        let config = directory + "/bybit-linear.toml"
        try writeFile(config, """
            adapter = "bybit-linear"
            ws_url = "\(listening.dropFirst("listening ".count).dropLast())/v5/public/linear"
            symbols = ["BTCUSDT", "ETHUSDT"]
            depth = 50
            [scales]
            BTCUSDT = { price = 2, quantity = 3 }
            ETHUSDT = { price = 2, quantity = 3 }
            """)
        let record = try tickwire(["record", "--config", config, "--out", directory + "/recording", "--compress", "gzip",
                                   "--rotate-bytes", "20000", "--once"])
        #expect(record.status == 0, "\(record.errors)")
        let frames = try #require(record.errors.split(separator: "\n").first { $0.contains(" frames, ") })
        let recordedFrames = String(frames.split(separator: " ")[2])
        let parts = try FileManager.default.contentsOfDirectory(atPath: directory + "/recording").sorted()
        #expect(parts.count >= 3, "\(parts)")
        #expect(parts.first?.hasPrefix("bybit-linear-") == true && parts.first?.hasSuffix("-0001.txt.gz") == true, "\(parts)")
        let replay = try tickwire(["replay", "--input"] + parts.map { directory + "/recording/" + $0 } + ["--config", config, "--max"])
        #expect(replay.status == 0, "\(replay.errors)")
        #expect(replay.errors.contains("messages \(recordedFrames),"), "\(record.errors) / \(replay.errors)")
        #expect(replay.errors.contains("parse errors 0, garbled lines 0"), "\(replay.errors)")
    }

    @Test func aMissingInputIsAClearErrorWithExitCode1() throws {
        let replay = try tickwire(["replay", "--input", "/nonexistent/recording.txt"] + Self.spotVenue + ["--max"])
        #expect(replay.status == 1)
        #expect(replay.errors.contains("cannot open /nonexistent/recording.txt: No such file or directory"), "\(replay.errors)")
    }

    @Test func garbledLinesAreNamedCountedAndSkipped() throws {
        let capture = try SampleCapture(CaptureReplayWatchTests.Capture.spot.file)
        let directory = temporaryDirectory()
        let file = directory + "/garbled.txt"
        let good = capture.lines.prefix(50).map { "\($0.receiveTime) \(capture.text($0))\n" }
        try writeFile(file, good[0] + "not a line\n" + "123\n" + good[1...].joined() + "17231612 {\"stream\":\"ethusdt@depth@100ms\",\"data\":{\"e\":")
        let replay = try tickwire(["replay", "--input", file] + Self.spotVenue + ["--max"])
        #expect(replay.status == 0, "\(replay.errors)")
        #expect(replay.errors.contains("2 garbled line(s) skipped; first: \(file):2: expected '<recv_ns> <frame>'"), "\(replay.errors)")
        #expect(replay.errors.contains("1 last line(s) cut off (no newline) skipped"), "\(replay.errors)")
        #expect(replay.errors.contains("garbled lines 2"), "\(replay.errors)")
    }

    @Test func aFrameTheAdapterRefusesIsCountedNotFatal() throws {
        let directory = temporaryDirectory()
        let file = directory + "/refused.txt"
        try writeFile(file, "1 {\"stream\":\"ethusdt@depth@100ms\",\"data\":{\"e\":\"depthUpdate\",\"U\":[}}\n2 {}\n")
        let replay = try tickwire(["replay", "--input", file] + Self.spotVenue + ["--max"])
        #expect(replay.status == 0, "\(replay.errors)")
        #expect(replay.errors.contains("parse errors 2 (first: "), "\(replay.errors)")
    }

    @Test func anUnknownVenueIsAUsageErrorWithExitCode2() throws {
        let replay = try tickwire(["replay", "--input", "x.txt", "--venue", "nasdaq", "--symbols", "AAPL"])
        #expect(replay.status == 2)
        #expect(replay.errors.contains("--venue: expected one of binance-spot"), "\(replay.errors)")
        let record = try tickwire(["record", "--config", "x.toml", "--out", temporaryDirectory(), "--compress", "lz4"])
        #expect(record.status == 2)
        #expect(record.errors.contains("--compress: expected none, gzip or zstd (got 'lz4')"), "\(record.errors)")
    }

    /// The replay loop allocates nothing per frame: the release binary replays the first 3,000
    /// lines of the spot capture and then all 33,618 under the malloc counter, and the counts
    /// differ by noise only (loading is sized up front, so it allocates the same for both).
    @Test(.enabled(if: HotPathAllocationTests.releaseBinary != nil, "no release build of tickwire next to the test bundle: run `swift build -c release --product tickwire` first"))
    func releaseReplayDoesNotAllocatePerFrame() throws {
        let binary = try #require(HotPathAllocationTests.releaseBinary)
        let interposer = try MallocCounter.build()
        let capture = try SampleCapture(CaptureReplayWatchTests.Capture.spot.file)
        let directory = temporaryDirectory()
        var calls: [Int] = []
        for count in [3000, capture.lines.count] {
            let file = directory + "/lines-\(count).txt"
            try writeFile(file, capture.lines.prefix(count).map { "\($0.receiveTime) \(capture.text($0))\n" }.joined())
            setenv("LD_PRELOAD", interposer, 1)
            let replay = try RunningTickwire(binary: binary, ["replay", "--input", file] + Self.spotVenue + ["--max", "--out", directory + "/packets.bin"])
            unsetenv("LD_PRELOAD")
            #expect(try replay.waitForExit(timeout: .seconds(120)) == 0, "\(replay.standardError)")
            calls.append(try #require(MallocCounter.calls(inStandardError: replay.standardError), "\(replay.standardError)"))
        }
        #expect(calls[1] - calls[0] < 100, "\(calls[0]) malloc calls for 3000 lines, \(calls[1]) for \(capture.lines.count)")
    }
}
