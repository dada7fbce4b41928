import CTickwire

#if canImport(Glibc)
import Glibc
#endif

public struct ReplayError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One venue connection's recording in memory, for `replay`: the files given (parts of one
/// recording, in order; plain, gzip or zstd, told by their first bytes) decompressed into one
/// buffer and indexed by line before replay starts, so the replay loop reads and allocates
/// nothing. Lines that are not `<recv_ns> <frame>` are counted and skipped (the first is
/// named); a last line without its newline (a recorder killed mid-write) is counted as cut off.
public struct RecordedFrames {
    public struct Line {
        public var receiveTime: UInt64
        public var start: Int
        public var count: Int
    }

    public let files: [String]
    public let bytes: [UInt8]
    public let lines: [Line]
    public private(set) var garbledLines = 0
    /// `FILE:LINE: what was wrong`, for the first garbled line.
    public private(set) var firstGarbled: String?
    public private(set) var cutOffLines = 0
    /// Files whose compressed stream ended early (their complete members or frames were read).
    public private(set) var truncatedFiles: [String] = []

    /// One file of a recording, decompressed (what `decoded(_:path:)` makes of its bytes).
    public struct Part {
        public var path: String
        public var bytes: [UInt8]
        /// Its compressed stream ended early (the complete members or frames were kept).
        public var truncated: Bool
        public init(path: String, bytes: [UInt8], truncated: Bool) {
            self.path = path
            self.bytes = bytes
            self.truncated = truncated
        }
    }

    public init(paths: [String]) throws(ReplayError) {
        guard !paths.isEmpty else { throw ReplayError("no input file") }
        var parts: [Part] = []
        for path in paths { parts.append(try Self.decoded(Self.read(path), path: path)) }
        self.init(parts: parts)
    }

    /// Indexes the lines of one recording's parts, in order: the step that takes the recorded
    /// bytes as they are (`init(paths:)` reads and decompresses the files first).
    public init(parts: [Part]) {
        var contents: [(path: String, bytes: [UInt8])] = []
        var cutOff = 0
        for part in parts {
            var content = part.bytes
            if let last = content.last, last != 10 {
                cutOff += 1
                while let end = content.last, end != 10 { content.removeLast() }
            }
            contents.append((part.path, content))
        }
        // Sized up front: loading allocates the same whatever the number of lines.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(contents.reduce(0) { $0 + $1.bytes.count })
        var lines: [Line] = []
        lines.reserveCapacity(contents.reduce(0) { total, content in
            total + content.bytes.withUnsafeBytes { raw in
                guard var cursor = raw.baseAddress else { return 0 }
                var count = 0, left = raw.count
                while left > 0, let newline = memchr(cursor, 10, left) {
                    count += 1
                    let next = UnsafeRawPointer(newline) + 1
                    left -= next - cursor
                    cursor = next
                }
                return count
            }
        })
        var garbled = 0
        var firstGarbled: String?
        for (path, content) in contents {
            let base = bytes.count
            bytes.append(contentsOf: content)
            content.withUnsafeBufferPointer { buffer in
                var index = 0, lineNumber = 0
                while index < buffer.count {
                    var end = index
                    while end < buffer.count && buffer[end] != 10 { end += 1 }
                    lineNumber += 1
                    defer { index = end + 1 }
                    if end == index { continue }
                    var time: UInt64 = 0, cursor = index, overflow = false
                    while cursor < end, buffer[cursor] &- 48 < 10 {
                        let (shifted, o1) = time.multipliedReportingOverflow(by: 10)
                        let (sum, o2) = shifted.addingReportingOverflow(UInt64(buffer[cursor] &- 48))
                        overflow = overflow || o1 || o2
                        time = sum
                        cursor += 1
                    }
                    guard cursor > index, !overflow, cursor + 1 < end, buffer[cursor] == 32 else {
                        garbled += 1
                        if firstGarbled == nil {
                            firstGarbled = "\(path):\(lineNumber): expected '<recv_ns> <frame>' (decimal nanoseconds, a space, the frame)"
                        }
                        continue
                    }
                    lines.append(Line(receiveTime: time, start: base + cursor + 1, count: end - cursor - 1))
                }
            }
        }
        files = parts.map(\.path)
        self.bytes = bytes
        self.lines = lines
        garbledLines = garbled
        self.firstGarbled = firstGarbled
        cutOffLines = cutOff
        truncatedFiles = parts.filter(\.truncated).map(\.path)
    }

    /// The session id of a replay: the first line's receive time, so every replay of one
    /// recording numbers its packets the same way (and differs from the live run, whose
    /// session began before its first frame arrived).
    public var session: UInt64 { lines.first?.receiveTime ?? 1 }

    /// The file's bytes, as stored.
    static func read(_ path: String) throws(ReplayError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ReplayError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var fileStatus = stat()
        guard fstat(descriptor, &fileStatus) == 0 else { throw ReplayError("cannot read \(path): \(String(cString: strerror(errno)))") }
        var raw = [UInt8](repeating: 0, count: Int(fileStatus.st_size))
        var used = 0
        while used < raw.count {
            let got = raw.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + used, $0.count - used) }
            if got < 0 {
                if errno == EINTR { continue }
                throw ReplayError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if got == 0 { break }
            used += got
        }
        raw.removeLast(raw.count - used)
        return raw
    }

    /// A file's bytes as a part of the recording: decompressed when they start with the gzip
    /// or zstd magic, else as they are.
    public static func decoded(_ raw: [UInt8], path: String) throws(ReplayError) -> Part {
        let kind: ctw_compression_kind?
        if raw.count >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
            kind = CTW_COMPRESSION_GZIP
        } else if raw.count >= 4 && raw[0] == 0x28 && raw[1] == 0xb5 && raw[2] == 0x2f && raw[3] == 0xfd {
            kind = CTW_COMPRESSION_ZSTD
        } else {
            kind = nil
        }
        guard let kind else { return Part(path: path, bytes: raw, truncated: false) }
        var output: UnsafeMutablePointer<UInt8>?
        var length = 0
        var truncated: Int32 = 0
        let status = raw.withUnsafeBytes { ctw_decompress_all(kind, $0.baseAddress, $0.count, &output, &length, &truncated) }
        guard status == 0, let output else { throw ReplayError("\(path): \(String(cString: ctw_compression_error()))") }
        defer { free(output) }
        return Part(path: path, bytes: Array(UnsafeBufferPointer(start: output, count: length)), truncated: truncated != 0)
    }
}
