import Foundation
import Testing
import TickwireCore
import TickwireTestSupport

/// The recorded Binance captures end to end, through the real processes a user runs.
/// `tickwire simulate --replay` serves the file (WebSocket frames in recorded order and the
/// recorded REST snapshot when asked). Either `tickwire watch` syncs by the venue's rules and
/// prints one jsonl line per applied update, or `tickwire run` publishes the books on a
/// multicast channel across a veth pair and `tickwire listen` rebuilds them and prints the
/// same lines. Every printed book must equal the reference book that BinanceReference builds
/// from the same file by the documented rule, in the same order.
@Suite(.serialized) struct CaptureReplayWatchTests {
    static let depth = 20

    struct Capture {
        var venue: String
        var file: String
        var depthStream: String
        var reference: BinanceReference.Venue
        /// ETHUSDT: prices in cents on both venues; spot quantities reach 5 decimals on the
        /// wire, so spot keeps Binance's own 8.
        var quantityScale: Int
        var restDepth: Int

        static let spot = Capture(venue: "binance-spot", file: "binance/spot-ethusdt-20240808.gz", depthStream: "depth@100ms",
                                  reference: .spot, quantityScale: 8, restDepth: 5000)
        static let usdm = Capture(venue: "binance-usdm", file: "binance/usdm-ethusdt-20240808.gz", depthStream: "depth@0ms",
                                  reference: .usdm, quantityScale: 3, restDepth: 1000)

        func referenceBooks() throws -> BinanceReference {
            let capture = try SampleCapture(file)
            var reference = BinanceReference(venue: self.reference, priceScale: 2, quantityScale: quantityScale, top: CaptureReplayWatchTests.depth)
            try capture.bytes.withUnsafeBufferPointer { bytes in
                for line in capture.lines where capture.contains(line, "@depth") || capture.contains(line, #"{"lastUpdateId""#) {
                    try reference.line(Data(bytes[line.frame]))
                }
            }
            #expect(reference.gaps == 0)
            #expect(reference.staleSnapshots == 0)
            return reference
        }

        /// The replay server (inside `namespace` when given) and the venue file pointing at it.
        func startSimulator(in namespace: String? = nil, directory: String) throws -> (RunningTickwire, config: String) {
            let simulator = try RunningTickwire(inNamespace: namespace, [
                "simulate", "--venue", venue, "--replay", SampleCapture.path(file), "--replay-speed", "0",
                "--price-scale", "2", "--quantity-scale", "\(quantityScale)"])
            let banner = try simulator.waitForLines(3)
            let listening = try #require(banner.first { $0.hasPrefix("listening ") })
            let rest = try #require(banner.first { $0.hasPrefix("rest ") })
            let path = directory + "/\(venue).toml"
            try writeFile(path, """
                adapter = "\(venue)"
                ws_url = "\(listening.dropFirst("listening ".count).dropLast())"
                rest_url = "\(rest.dropFirst("rest ".count).dropLast())"
                symbols = ["ETHUSDT"]
                depth = \(restDepth)
                streams = ["\(depthStream)", "trade", "bookTicker"]
                [scales]
                ETHUSDT = { price = 2, quantity = \(quantityScale) }
                """)
            return (simulator, path)
        }

        /// The printed lines against the reference: all valid, in order, equal; the last one
        /// says the book is gone with the connection (the replay's end). With `recoveries`, a
        /// consumer may give packets up and rebuild the book from the snapshot channel: the book
        /// is then invalid (sequenceGap) from the loss until the snapshot, its valid lines are
        /// still the reference's books (an in-order subset of them, none wrong), and the last
        /// one is the reference's last.
        /// Returns how many times the book came back from a snapshot.
        @discardableResult
        func expectEqual(_ output: [String], to reference: BinanceReference, _ what: String, recoveries: Bool = false) throws -> Int {
            var printed = try output.map(BookLine.init)
            let closing = printed.popLast()
            let last = try #require(closing)
            // The session may end while the book still waits for a complete snapshot (under 5 %
            // loss a deep book's snapshot loop often misses a packet): it then ends invalid, never wrong.
            let endedWaiting = recoveries && !last.valid && last.reason == "sequenceGap"
            #expect(!last.valid && (last.reason == "disconnected" || endedWaiting), "\(last)")
            if endedWaiting { printed.append(last) }
            let waitingFrom = endedWaiting ? (printed.lastIndex(where: \.valid).map { $0 + 1 } ?? 0) : printed.count
            #expect(printed.allSatisfy { $0.venue == venue && $0.symbol == "ETHUSDT" })
            if !recoveries {
                let firstInvalid = printed.first { !$0.valid }
                #expect(firstInvalid == nil, "no book went invalid before the end")
                #expect(printed.count == reference.published.count)
            }
            var mismatches = 0, invalidSpells = 0, referenceIndex = 0
            for (index, line) in printed.enumerated() {
                guard line.valid else {
                    #expect(line.reason == "sequenceGap", "only a given-up gap invalidates: \(line)")
                    #expect(index >= waitingFrom || printed[index...].contains { $0.valid }, "the book came back after \(line)")
                    if (index == 0 || printed[index - 1].valid) && index < waitingFrom { invalidSpells += 1 }
                    continue
                }
                let got = try PublishedBook(updateId: line.updateId, bids: levels(line.bids), asks: levels(line.asks))
                // Without recoveries every book is printed; after one, the stream resumes at the snapshot's update.
                if recoveries && index > 0 && !printed[index - 1].valid {
                    while referenceIndex < reference.published.count && reference.published[referenceIndex].updateId < line.updateId { referenceIndex += 1 }
                }
                let want = referenceIndex < reference.published.count ? reference.published[referenceIndex] : nil
                referenceIndex += 1
                guard got != want else { continue }
                mismatches += 1
                if mismatches <= 3 { Issue.record("line #\(index): printed \(got), reference \(want.map { "\($0)" } ?? "none")") }
            }
            #expect(mismatches == 0)
            let final = try #require(reference.published.last)
            if !endedWaiting { #expect(printed.last?.valid == true && printed.last?.updateId == final.updateId, "ends equal to the reference's last book") }
            #expect(printed.count > 1000)
            print("replay \(file) \(what): \(printed.count) books printed and equal to the reference "
                  + "(top \(CaptureReplayWatchTests.depth)), final u=\(final.updateId), \(invalidSpells) snapshot recoveries"
                  + (endedWaiting ? ", the session ended while the book waited for a snapshot" : ""))
            return invalidSpells
        }

        func levels(_ pairs: [[String]]) throws -> [BookLevel] {
            try pairs.map { pair in
                BookLevel(price: Price(mantissa: try BinanceReference.fixed(pair[0], scale: 2)),
                          quantity: Quantity(mantissa: try BinanceReference.fixed(pair[1], scale: quantityScale)))
            }
        }
    }

    @Test(arguments: [Capture.spot, Capture.usdm])
    func theCaptureReplayedIntoWatchPrintsExactlyTheReferenceBooks(_ capture: Capture) throws {
        let reference = try capture.referenceBooks()
        let (simulator, config) = try capture.startSimulator(directory: temporaryDirectory())
        let watch = try RunningTickwire(["watch", "--config", config, "--depth", "\(Self.depth)", "--once"])
        let watchStatus = try watch.waitForExit(timeout: .seconds(300))
        #expect(watchStatus == 0, "\(watch.standardError)")
        let simulatorStatus = try simulator.waitForExit(timeout: .seconds(30))
        #expect(simulatorStatus == 0, "\(simulator.standardError)")
        try capture.expectEqual(watch.lines, to: reference, "into tickwire watch")
    }

    enum Path: String, CustomStringConvertible {
        case lossless, lossRecoveredByRetransmission
        /// The publisher sends through AF_XDP (copy mode on veth): the listener and a capture
        /// on its side see the same channel as with the standard sender.
        case xdpSender
        /// The staged topology (ingest, book and send threads) instead of the fused one.
        case stagedTopology
        var description: String { rawValue }
    }

    /// simulate and run in one namespace, listen in the other, the channel crossing the veth
    /// pair as multicast. With 5 % of the datagrams lost on the way into the listener's
    /// namespace, every gap is repaired by retransmission and the printed books are still
    /// exactly the reference's. With the AF_XDP sender, nothing changes on the receiving side.
    @Test(arguments: [Path.lossless, .lossRecoveredByRetransmission, .xdpSender, .stagedTopology])
    func theSpotCaptureThroughRunAndListenPrintsExactlyTheReferenceBooks(_ path: Path) throws {
        guard requireRoot("the channel crosses a veth pair between network namespaces") else { return }
        let replayed = Capture.spot
        let reference = try replayed.referenceBooks()
        let pair = try VethNamespacePair()
        defer { pair.tearDown() }
        if path == .lossRecoveredByRetransmission { try pair.addLoss(percent: 5, arrivingAt: pair.b) }
        let (simulator, config) = try replayed.startSimulator(in: pair.a.namespace, directory: temporaryDirectory())
        let group = "239.77.0.1:30001", snapshots = "239.77.0.2:30002", retransmit = "\(pair.a.address):30100"
        // The channel as ops would capture it on the listener's host, for the Wireshark dissector.
        let directory = try TemporaryDirectory()
        let capture = try PacketCapture(namespace: pair.b.namespace, interface: pair.b.interface, filter: "udp port 30001", directory: directory)
        let listen = try RunningTickwire(inNamespace: pair.b.namespace, [
            "listen", "--channel", group, "--snapshot", snapshots, "--retransmit", retransmit, "--iface", pair.b.interface,
            "--depth", "\(Self.depth)", "--exit-on-end"])
        usleep(200_000)  // the listener has joined before the first packet
        let run = try RunningTickwire(inNamespace: pair.a.namespace, [
            "run", "--venue", config, "--channel", group, "--snapshot", snapshots, "--retransmit", retransmit,
            "--iface", pair.a.interface, "--once"]
            + (path == .xdpSender ? ["--sender", "xdp", "--no-fallback"] : [])
            + (path == .stagedTopology ? ["--topology", "staged", "--idle", "spin-yield:1000"] : ["--topology", "fused"]))
        let runStatus = try run.waitForExit(timeout: .seconds(300))
        #expect(runStatus == 0, "\(run.standardError)")
        if path == .xdpSender { #expect(run.standardError.contains("run: sender xdp: COPY mode"), "\(run.standardError)") }
        let listenStatus = try listen.waitForExit(timeout: .seconds(60))
        #expect(listenStatus == 0, "\(listen.standardError)")
        let simulatorStatus = try simulator.waitForExit(timeout: .seconds(30))
        #expect(simulatorStatus == 0, "\(simulator.standardError)")
        let snapshotRecoveries = try replayed.expectEqual(listen.lines, to: reference, "through tickwire run and listen (\(path))",
                                                          recoveries: path == .lossRecoveredByRetransmission)
        try capture.finish()
        try expectDissected(capture.file, lossless: path != .lossRecoveredByRetransmission)
        let summary = listen.standardError
        #expect(summary.contains("gaps 0") == (path != .lossRecoveredByRetransmission), "\(summary)")
        if path == .lossRecoveredByRetransmission {
            // Answers are lost too (5 %): a hole whose answer is lost twice can be passed by a
            // reorder window's worth of packets at the replay's full speed before the third comes.
            // The consumer then gives the hole up, never a wrong book: the book is invalid until
            // a complete snapshot loop rebuilds it, or to the session's end (checked above).
            let end = try #require(summary.split(separator: "\n").last { $0.contains("listen: end:") }.map(String.init))
            func count(_ name: String) -> Int { summaryCounter(name, in: end) }
            #expect(count("recovered") > 0, "gaps were filled by retransmission: \(end)")
            if count("packets lost") != 0 {
                #expect(count("overflowed") + count("timed out") + count("rejected") > 0, "every packet given up has its cause counted: \(end)")
                #expect(count("books recovered from snapshots") >= snapshotRecoveries, "each comeback was a snapshot recovery: \(end)")
            }
        }
        print(summary.split(separator: "\n").last.map(String.init) ?? "")
    }

    /// Every captured datagram decodes with scripts/wireshark/tickwire.lua, none is flagged
    /// malformed, and (without loss) the sequence numbers run from 1 without a hole.
    func expectDissected(_ file: String, lossless: Bool) throws {
        let dissector = packageRoot.appendingPathComponent("scripts/wireshark/tickwire.lua").path
        let rows = try runCommand(["tshark", "-X", "lua_script:\(dissector)", "-r", file, "-T", "fields",
                                   "-e", "tickwire.sequence", "-e", "tickwire.malformed", "-E", "separator=/t"])
            .split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        #expect(rows.count > 1000, "captured \(rows.count) datagrams")
        #expect(rows.allSatisfy { $0.count >= 1 && !$0[0].isEmpty }, "every datagram decodes as Tickwire")
        #expect(rows.allSatisfy { $0.count < 2 || $0[1].isEmpty }, "none flagged malformed")
        let sequences = Set(rows.compactMap { UInt64($0[0]) })
        if lossless, let highest = sequences.max() { #expect(sequences == Set(1...highest), "sequences 1...\(highest) without a hole") }
    }
}
