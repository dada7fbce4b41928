import Testing
import TickwireRuntime

/// The `<recv_ns> <frame>` line index `replay` builds over a recording's decompressed parts
/// (the bytes Fuzz/FuzzRecordingLine feeds it).
@Suite struct RecordedFramesTests {
    func part(_ path: String, _ text: String) -> RecordedFrames.Part {
        RecordedFrames.Part(path: path, bytes: Array(text.utf8), truncated: false)
    }

    func frame(_ frames: RecordedFrames, _ index: Int) -> String {
        let line = frames.lines[index]
        return String(decoding: frames.bytes[line.start..<(line.start + line.count)], as: UTF8.self)
    }

    @Test func framesOfEveryPartAreIndexedInOrderWithTheirTimestamps() {
        let frames = RecordedFrames(parts: [part("a", "5 {\"a\":1}\n\n7 {\"a\":2}\n"), part("b", "9 {\"b\":1}\n")])
        #expect(frames.lines.map(\.receiveTime) == [5, 7, 9])
        #expect((0..<3).map { frame(frames, $0) } == ["{\"a\":1}", "{\"a\":2}", "{\"b\":1}"])
        #expect(frames.garbledLines == 0 && frames.cutOffLines == 0)
        #expect(frames.session == 5)
    }

    @Test func timestampsBeyondUInt64AreGarbledAndTheLargestOneIsKept() {
        let frames = RecordedFrames(parts: [part("r", "18446744073709551616 {\"x\":1}\n18446744073709551615 {\"x\":2}\n")])
        #expect(frames.lines.map(\.receiveTime) == [UInt64.max])
        #expect(frames.garbledLines == 1)
        #expect(frames.firstGarbled?.hasPrefix("r:1: expected '<recv_ns> <frame>'") == true)
    }

    @Test func linesWithoutDigitsASpaceAndAFrameAreGarbledAndNamedByPartAndLine() {
        let frames = RecordedFrames(parts: [part("ok", "1 {}\n"), part("bad", "1 {}\n+2 {}\n 3 {}\n4{}\n5 \nx {}\n")])
        #expect(frames.lines.count == 2)
        #expect(frames.garbledLines == 5)
        #expect(frames.firstGarbled?.hasPrefix("bad:2: ") == true)
    }

    @Test func eachPartsUnterminatedLastLineIsCutOffNotIndexed() {
        let frames = RecordedFrames(parts: [part("a", "1 {}\n2 {\"cut"), part("b", "3 {}")])
        #expect(frames.lines.map(\.receiveTime) == [1])
        #expect(frames.cutOffLines == 2)
        #expect(frames.bytes == Array("1 {}\n".utf8))
    }

    @Test func anUncompressedPartIsKeptAsStored() throws {
        let decoded = try RecordedFrames.decoded(Array("1 {}\n".utf8), path: "p")
        #expect(decoded.bytes == Array("1 {}\n".utf8) && !decoded.truncated)
    }
}
