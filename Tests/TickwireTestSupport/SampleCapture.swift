import Foundation

/// A recorded capture from ../shared/samples (gzip text, one `<recv_ns> <frame>` line per
/// received frame), decompressed with `gzip -dc` and kept as one byte array. The captures
/// stay where they are: the path is found from this file, never copied into the repo.
public struct SampleCapture {
    public struct Line: Sendable {
        public var receiveTime: UInt64
        /// Byte range of the frame in `bytes`.
        public var frame: Range<Int>
    }

    public let bytes: [UInt8]
    public let lines: [Line]

    /// `../shared/samples/<relativePath>` beside the repository root.
    public static func path(_ relativePath: String) -> String { url(relativePath).path }

    /// `../shared/samples/<relativePath>` beside the repository root.
    public static func url(_ relativePath: String) -> URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()   // TickwireTestSupport
            .deletingLastPathComponent()   // Tests
            .deletingLastPathComponent()   // repository root
            .deletingLastPathComponent()   // beside it: shared/
            .appendingPathComponent("shared/samples")
            .appendingPathComponent(relativePath)
    }

    public init(_ relativePath: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-dc", Self.url(relativePath).path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: Self.url(relativePath).path])
        }
        bytes = [UInt8](data)
        var lines: [Line] = []
        lines.reserveCapacity(bytes.count / 200)
        let newline = UInt8(ascii: "\n"), space = UInt8(ascii: " ")
        bytes.withUnsafeBufferPointer { buffer in
            var index = 0
            while index < buffer.count {
                var end = index
                while end < buffer.count && buffer[end] != newline { end += 1 }
                var time: UInt64 = 0
                var cursor = index
                while cursor < end && buffer[cursor] != space {
                    time = time * 10 + UInt64(buffer[cursor] - UInt8(ascii: "0"))
                    cursor += 1
                }
                if cursor < end { lines.append(Line(receiveTime: time, frame: (cursor + 1)..<end)) }
                index = end + 1
            }
        }
        self.lines = lines
    }

    /// The frame as text (tests, reference parsing).
    public func text(_ line: Line) -> String {
        String(decoding: bytes[line.frame], as: UTF8.self)
    }

    /// True when the frame's bytes contain `needle`.
    public func contains(_ line: Line, _ needle: StaticString) -> Bool {
        let count = needle.utf8CodeUnitCount
        return bytes.withUnsafeBufferPointer { buffer in
            let pattern = UnsafeBufferPointer(start: needle.utf8Start, count: count)
            var index = line.frame.lowerBound
            while index + count <= line.frame.upperBound {
                if buffer[index] == pattern[0] && memcmp(buffer.baseAddress! + index, pattern.baseAddress!, count) == 0 { return true }
                index += 1
            }
            return false
        }
    }
}
