import Foundation
import Testing
import TickwireTransport
@testable import TickwireRuntime

/// A running `tickwire` process whose stdout is read line by line as it arrives.
final class RunningTickwire: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var buffer = Data()
    private var errors = Data()
    private let done = DispatchSemaphore(value: 0)

    /// `namespace`: run it inside that network namespace (`ip netns exec`). `standardOutputFile`:
    /// stdout goes to that file instead of memory (`lines` stays empty), for long runs.
    init(binary: URL = productsDirectory.appendingPathComponent("tickwire"), inNamespace namespace: String? = nil,
         environment: [String: String] = [:], standardOutputFile: String? = nil, _ arguments: [String]) throws {
        if let namespace {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["ip", "netns", "exec", namespace, binary.path] + arguments
        } else {
            process.executableURL = binary
            process.arguments = arguments
        }
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        if let standardOutputFile {
            guard FileManager.default.createFile(atPath: standardOutputFile, contents: nil),
                  let file = FileHandle(forWritingAtPath: standardOutputFile) else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: standardOutputFile]) }
            process.standardOutput = file
        } else {
            process.standardOutput = out
        }
        process.standardError = err
        try process.run()
        if standardOutputFile == nil {
            Thread { [self] in
                while case let data = out.fileHandleForReading.availableData, !data.isEmpty { lock.withLock { buffer.append(data) } }
                done.signal()
            }.start()
        } else {
            done.signal()
        }
        Thread { [self] in
            while case let data = err.fileHandleForReading.availableData, !data.isEmpty { lock.withLock { errors.append(data) } }
        }.start()
    }

    /// Complete lines so far (each with its newline).
    var lines: [String] {
        let text = lock.withLock { String(decoding: buffer, as: UTF8.self) }
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { String($0) + "\n" }
    }

    var output: String { lock.withLock { String(decoding: buffer, as: UTF8.self) } }
    var standardError: String { lock.withLock { String(decoding: errors, as: UTF8.self) } }

    func waitForLines(_ count: Int, timeout: Duration = .seconds(10)) throws -> [String] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let lines = self.lines
            if lines.count >= count { return lines }
            usleep(2000)
        }
        throw TestTimeout(what: "\(count) lines, got \(lines) (stderr: \(standardError))")
    }

    func waitForExit(timeout: Duration = .seconds(10)) throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                process.terminate()
                throw TestTimeout(what: "tickwire to exit (stderr: \(standardError))")
            }
            usleep(2000)
        }
        _ = done.wait(timeout: .now() + 5)
        return process.terminationStatus
    }

    deinit { if process.isRunning { process.terminate() } }
}

@Suite(.serialized) struct WatchCommandTests {
    @Test func jsonlLinesAreFlushedAsTheyHappenAndOnceExitsZeroOnServerClose() throws {
        nonisolated(unsafe) var subscribed: Int?
        let server = try VenueServer { server, event in
            guard case .text(let client, let text) = event, text.contains(#""op":"subscribe""#) else { return }
            subscribed = client
            server.send(BybitFrames.book("snapshot", u: 500, bids: [("65114.20", "6.054"), ("65114.10", "1.5"), ("65114.00", "2")],
                                         asks: [("65114.30", "10.486"), ("65114.40", "0.001")]), to: client)
        }
        let directory = temporaryDirectory()
        try writeFile(directory + "/bybit.toml", bybitConfig(port: server.port))
        let watch = try RunningTickwire(["watch", "--config", directory + "/bybit.toml", "--depth", "2", "--once", "--idle-sleep-us", "50"])

        // The first line arrives while the process is still running: no stdio buffering.
        let first = try watch.waitForLines(1)
        #expect(watch.process.isRunning)
        let snapshot = try BookLine(first[0])
        #expect(snapshot.summary == #"BTCUSDT 500 valid bids [["65114.2", "6.054"], ["65114.1", "1.5"]] asks [["65114.3", "10.486"], ["65114.4", "0.001"]]"#)
        #expect(first[0].hasPrefix(#"{"venue":"bybit-linear","symbol":"BTCUSDT","update_id":500,"valid":true,"bids":[["65114.2","6.054"],["65114.1","1.5"]],"asks":[["65114.3","10.486"],["65114.4","0.001"]],"recv_ns":"#), "\(first[0])")

        server.perform { server in
            guard let client = subscribed else { return }
            server.send(BybitFrames.book("delta", u: 501, bids: [("65114.20", "0")], asks: []), to: client)
            server.send(BybitFrames.book("delta", u: 503, bids: [], asks: [("65114.30", "1")]), to: client)  // gap
            server.close(client)
        }
        #expect(try watch.waitForExit() == 0)
        let lines = try watch.lines.map(BookLine.init)
        #expect(lines.map(\.summary) == [
            #"BTCUSDT 500 valid bids [["65114.2", "6.054"], ["65114.1", "1.5"]] asks [["65114.3", "10.486"], ["65114.4", "0.001"]]"#,
            #"BTCUSDT 501 valid bids [["65114.1", "1.5"], ["65114", "2"]] asks [["65114.3", "10.486"], ["65114.4", "0.001"]]"#,
            "BTCUSDT 501 invalid sequenceGap",
        ])
        let invalid = try #require(watch.lines.last)
        #expect(invalid.contains(#""valid":false,"reason":"sequenceGap","bids":[],"asks":[]"#), "\(invalid)")
        for line in lines { #expect(line.receiveNanoseconds <= line.emitNanoseconds) }
        #expect(watch.standardError.contains("server closed the connection (1000)"), "\(watch.standardError)")
    }

    @Test func onceWithNoServerExitsOne() throws {
        let probe = try WebSocketServer(host: "127.0.0.1", port: 0)
        let port = probe.port
        _ = consume probe
        let directory = temporaryDirectory()
        try writeFile(directory + "/bybit.toml", bybitConfig(port: port))
        let watch = try RunningTickwire(["watch", "--config", directory + "/bybit.toml", "--once"])
        #expect(try watch.waitForExit() == 1)
        #expect(watch.standardError.contains("connect to ws://127.0.0.1:\(port)/v5/public/linear"), "\(watch.standardError)")
    }

    @Test func tableFormatDrawsTheTopOfBook() throws {
        let server = try VenueServer { server, event in
            guard case .text(let client, let text) = event, text.contains(#""op":"subscribe""#) else { return }
            server.send(BybitFrames.book("snapshot", u: 42, bids: [("100.00", "1.5")], asks: [("101.25", "2")]), to: client)
            server.close(client)
        }
        let directory = temporaryDirectory()
        try writeFile(directory + "/bybit.toml", bybitConfig(port: server.port))
        let watch = try RunningTickwire(["watch", "--config", directory + "/bybit.toml", "--format", "table", "--once"])
        #expect(try watch.waitForExit() == 0)
        let screen = watch.output
        #expect(screen.contains("\u{1B}[H\u{1B}[2J"), "ANSI home + clear")
        #expect(screen.contains("tickwire watch — bybit-linear"))
        #expect(screen.contains("BTCUSDT"))
        #expect(screen.contains("update 42"))
        #expect(screen.contains("100") && screen.contains("1.5") && screen.contains("101.25"))
        #expect(screen.contains("INVALID (disconnected)"), "the final screen shows the book lost with the connection")
    }
}
