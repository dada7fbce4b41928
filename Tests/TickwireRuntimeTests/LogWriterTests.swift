import Foundation
import Logging
import Testing
import TickwireTestSupport
@testable import TickwireRuntime

// Log lines as journald and log shippers read them, logrotate's rename + SIGHUP, and a
// stalled destination that must cost dropped lines, never a blocked caller.

@Suite struct LogWriterTests {
    static func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    static func logger(_ writer: LogWriter, format: LogFormat, journal: Bool = false) -> Logger {
        Logger(label: "tickwire.test") { label in
            LineLogHandler(label: label, writer: writer, format: format, journal: journal, logLevel: .debug)
        }
    }

    @Test func jsonLinesCarryLevelLabelMessageAndMetadata() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/tickwire.log"
        let writer = try LogWriter(destination: .file(path))
        var logger = Self.logger(writer, format: .json)
        logger[metadataKey: "venue"] = "binance-spot"
        logger.warning("book \"BTCUSDT\" resynced\nafter a gap", metadata: [
            "symbols": ["BTCUSDT", "ETHUSDT"], "gap": .stringConvertible(17), "ring": ["high": "4096"],
        ])
        writer.close()

        let written = try Self.lines(path)
        #expect(written.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(written[0].utf8)) as? [String: Any])
        #expect(object["level"] as? String == "warning")
        #expect(object["label"] as? String == "tickwire.test")
        #expect(object["message"] as? String == "book \"BTCUSDT\" resynced\nafter a gap")
        #expect((object["time"] as? String)?.hasSuffix("Z") == true)
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["venue"] as? String == "binance-spot")
        #expect(metadata["symbols"] as? [String] == ["BTCUSDT", "ETHUSDT"])
        #expect(metadata["gap"] as? String == "17")
        #expect(metadata["ring"] as? [String: String] == ["high": "4096"])
    }

    @Test func textLinesHaveTimeLevelLabelAndSortedMetadata() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/tickwire.log"
        let writer = try LogWriter(destination: .file(path))
        Self.logger(writer, format: .text).info("connected", metadata: ["venue": "okx", "attempt": "2", "reason": "peer closed"])
        writer.close()
        let line = try #require(try Self.lines(path).first)
        let fields = line.split(separator: " ", maxSplits: 1)
        #expect(fields.first?.hasSuffix("Z") == true, "UTC timestamp first")
        #expect(fields.last == #"info tickwire.test: connected attempt=2 reason="peer closed" venue=okx"#)
    }

    @Test func journalLinesStartWithTheSyslogPriorityAndHaveNoTimestamp() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/journal"
        let writer = try LogWriter(destination: .file(path))
        Self.logger(writer, format: .text, journal: true).error("send failed", metadata: ["errno": "105"])
        Self.logger(writer, format: .json, journal: true).debug("tick")
        writer.close()
        let written = try Self.lines(path)
        #expect(written.first == "<3>error tickwire.test: send failed errno=105")
        let json = try #require(written.last)
        #expect(json.hasPrefix("<7>{"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.dropFirst(3).utf8)) as? [String: Any])
        #expect(object["time"] == nil, "journald stamps lines itself")
        #expect(object["message"] as? String == "tick")
    }

    @Test func journalIsRecognisedOnlyWhenJournalStreamNamesTheDescriptorsFile() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.createFile("stream")
        let descriptor = file.handle.fileDescriptor
        var status = stat()
        #expect(fstat(descriptor, &status) == 0)
        #expect(LogSetup.isJournal(descriptor: descriptor, journalStream: "\(status.st_dev):\(status.st_ino)"))
        #expect(!LogSetup.isJournal(descriptor: descriptor, journalStream: "\(status.st_dev):\(status.st_ino + 1)"), "stderr redirected elsewhere")
        #expect(!LogSetup.isJournal(descriptor: descriptor, journalStream: nil))
        #expect(!LogSetup.isJournal(descriptor: descriptor, journalStream: "garbage"))
    }

    @Test func hangupSignalSetsAReopenRequestTakenOnce() {
        HangupSignal.install()
        _ = HangupSignal.takeRequest()
        // Raised on a thread of its own that unblocks SIGHUP (test workers block signals, as
        // libdispatch's do): the handler runs there before raise() returns, and no other test's
        // poll() or sleep sees an EINTR, as it could with a signal to the whole process.
        var thread = pthread_t()
        pthread_create(&thread, nil, { _ in
            var hangup = sigset_t()
            sigemptyset(&hangup)
            sigaddset(&hangup, SIGHUP)
            pthread_sigmask(SIG_UNBLOCK, &hangup, nil)
            raise(SIGHUP)
            return nil
        }, nil)
        pthread_join(thread, nil)
        #expect(HangupSignal.takeRequest())
        #expect(!HangupSignal.takeRequest(), "one request per signal")
    }

    @Test func reopenAfterRenameWritesToANewFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/tickwire.log"
        let writer = try LogWriter(destination: .file(path))
        let logger = Self.logger(writer, format: .text)
        logger.info("before rotation")
        writer.flush()
        #expect(rename(path, path + ".1") == 0)
        logger.info("still the old file until reopened")
        writer.flush()
        writer.reopen()
        logger.info("after rotation")
        writer.close()

        #expect(try Self.lines(path + ".1").map { $0.hasSuffix("before rotation") || $0.hasSuffix("still the old file until reopened") } == [true, true])
        #expect(try Self.lines(path).count == 1)
        #expect(try Self.lines(path).first?.hasSuffix("after rotation") == true)
    }

    @Test func fullQueueDropsAndCountsInsteadOfBlocking() throws {
        let directory = try TemporaryDirectory()
        let fifo = directory.path + "/stalled"
        #expect(mkfifo(fifo, 0o600) == 0)
        // The test holds the read end and reads nothing: once the pipe is full, the writer
        // thread blocks in write(2) like a stalled disk or journal.
        let readEnd = open(fifo, O_RDONLY | O_NONBLOCK)
        #expect(readEnd >= 0)
        defer { close(readEnd) }
        let writer = try LogWriter(destination: .file(fifo), capacity: 64)
        let line = String(repeating: "x", count: 200)
        let total = 20_000
        var accepted = 0
        for _ in 0..<total where writer.write(line) { accepted += 1 }

        #expect(writer.droppedLines == total - accepted, "every refused line is counted")
        #expect(writer.droppedLines > 0)
        #expect(accepted >= 64, "the queue filled before dropping")

        // Close on another thread (it writes out the queue) while this one drains the pipe to
        // the end of file the closed write end gives: everything accepted arrives whole.
        _ = fcntl(readEnd, F_SETFL, 0)
        let closer = Thread { writer.close() }
        closer.start()
        var received = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        while case let count = read(readEnd, &buffer, buffer.count), count > 0 {
            received += buffer[..<count].lazy.filter { $0 == UInt8(ascii: "\n") }.count
        }
        #expect(waitUntil { closer.isFinished })
        #expect(received == accepted)
    }
}
