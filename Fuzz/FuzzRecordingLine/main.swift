import TickwireRuntime

// libFuzzer target for what `tickwire replay` does with a recording's bytes before the
// adapter sees a frame: RecordedFrames.decoded (gzip or zstd told by the magic, else as is)
// and RecordedFrames(parts:) (the `<recv_ns> <frame>` line index over all parts).
//
// Input: the parts of one recording (its rotated files, in order) separated by a form feed
// (0x0C); each part is one file's bytes as stored, so a seed is readable recording text.
//
// Checks, against a reference written with Swift's own splitting and integer parsing:
// - decoding never fails (zlib and zstd are present where this runs); an uncompressed part
//   comes back unchanged and never marked truncated;
// - each part's unterminated last line is counted as cut off and left out; the index holds
//   exactly the parts' remaining bytes, in order;
// - every line the reference accepts (decimal digits that fit a UInt64, one space, a
//   non-empty frame) is indexed, in order, with the timestamp equal to the decimal text and
//   the frame's bytes inside the buffer, right after the space and right before the newline;
// - every other non-empty line is counted as garbled, and the first is named `PART:LINE:`.

enum RecordingLineFuzz {
    static let newline: UInt8 = 10, space: UInt8 = 32, partSeparator: UInt8 = 12

    struct ExpectedLine: Equatable {
        var receiveTime: UInt64
        var frame: [UInt8]
    }

    static func run(_ data: UnsafePointer<UInt8>, _ size: Int) {
        let input = Array(UnsafeBufferPointer(start: data, count: size))
        let stored = input.split(separator: partSeparator, omittingEmptySubsequences: false)
        var parts: [RecordedFrames.Part] = []
        for (index, raw) in stored.enumerated() {
            let path = "part\(index + 1)"
            let part: RecordedFrames.Part
            do throws(ReplayError) {
                part = try RecordedFrames.decoded(Array(raw), path: path)
            } catch {
                preconditionFailure("decoding \(path) failed: \(error)")
            }
            if !isCompressed(raw) {
                precondition(part.bytes.elementsEqual(raw) && !part.truncated, "\(path): an uncompressed part was changed")
            }
            parts.append(part)
        }
        let frames = RecordedFrames(parts: parts)

        var expectedBytes: [UInt8] = []
        var expectedLines: [ExpectedLine] = []
        var garbled = 0, cutOff = 0
        var firstGarbled: String?
        for part in parts {
            var content = part.bytes[...]
            if let last = content.last, last != newline {
                cutOff += 1
                content = content[..<(content.lastIndex(of: newline).map { $0 + 1 } ?? content.startIndex)]
            }
            expectedBytes += content
            for (number, line) in content.split(separator: newline, omittingEmptySubsequences: false).dropLast().enumerated() {
                if line.isEmpty { continue }
                let digits = line.prefix { (48...57).contains($0) }
                let rest = line[digits.endIndex...]
                if !digits.isEmpty, rest.first == space, rest.count >= 2, let time = UInt64(String(decoding: digits, as: UTF8.self)) {
                    expectedLines.append(ExpectedLine(receiveTime: time, frame: Array(rest.dropFirst())))
                } else {
                    garbled += 1
                    if firstGarbled == nil { firstGarbled = "\(part.path):\(number + 1): " }
                }
            }
        }

        precondition(frames.files == parts.map(\.path), "files \(frames.files)")
        precondition(frames.truncatedFiles == parts.filter(\.truncated).map(\.path), "truncated files \(frames.truncatedFiles)")
        precondition(frames.bytes == expectedBytes, "the buffer is not the parts' complete lines")
        precondition(frames.cutOffLines == cutOff, "cut off \(frames.cutOffLines), expected \(cutOff)")
        precondition(frames.garbledLines == garbled, "garbled \(frames.garbledLines), expected \(garbled)")
        if let firstGarbled {
            precondition(frames.firstGarbled?.hasPrefix(firstGarbled) == true,
                         "first garbled named \(String(describing: frames.firstGarbled)), expected \(firstGarbled)")
        } else {
            precondition(frames.firstGarbled == nil, "a garbled line named with none garbled")
        }
        precondition(frames.lines.count == expectedLines.count, "\(frames.lines.count) lines, expected \(expectedLines.count)")
        for (line, expected) in zip(frames.lines, expectedLines) {
            precondition(line.receiveTime == expected.receiveTime, "timestamp \(line.receiveTime), the text says \(expected.receiveTime)")
            precondition(line.start >= 1 && line.count >= 1 && line.start + line.count < frames.bytes.count,
                         "frame \(line.start)+\(line.count) outside the \(frames.bytes.count) bytes")
            precondition(frames.bytes[line.start - 1] == space && frames.bytes[line.start + line.count] == newline,
                         "frame \(line.start)+\(line.count) is not between the space and the newline")
            precondition(frames.bytes[line.start..<(line.start + line.count)].elementsEqual(expected.frame), "frame bytes differ")
        }
        precondition(frames.session == (expectedLines.first?.receiveTime ?? 1), "session \(frames.session)")
    }

    static func isCompressed(_ raw: ArraySlice<UInt8>) -> Bool {
        raw.starts(with: [0x1f, 0x8b]) || raw.starts(with: [0x28, 0xb5, 0x2f, 0xfd])
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecordingLine(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    RecordingLineFuzz.run(data, size)
    return 0
}
