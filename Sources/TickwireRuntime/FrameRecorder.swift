import CTickwire
import TickwireCore
import TickwireVenues

#if canImport(Glibc)
import Glibc
#endif

/// What a venue feed shows every raw frame it receives (WebSocket text messages and REST
/// snapshot bodies). Generic, not an optional closure: a feed that does not record uses
/// `NoFrameTap`, whose empty call is specialized away, so the hot path is unchanged.
public protocol FrameTap {
    mutating func frameReceived(_ frame: UnsafeRawBufferPointer, receiveTime: UInt64)
}

/// The tap of every feed that does not record.
public struct NoFrameTap: FrameTap {
    @inlinable public init() {}
    @inlinable @inline(__always) public func frameReceived(_ frame: UnsafeRawBufferPointer, receiveTime: UInt64) {}
}

/// The tap of a recording feed: every frame goes to the recorder.
public struct RecordingTap: FrameTap {
    public let recorder: FrameRecorder
    public init(_ recorder: FrameRecorder) { self.recorder = recorder }
    public func frameReceived(_ frame: UnsafeRawBufferPointer, receiveTime: UInt64) {
        recorder.append(frame, receiveTime: receiveTime)
    }
}

/// How recording files are compressed.
public enum RecordingCompression: String, Sendable, CaseIterable {
    case none, gzip, zstd

    /// The file name's ending.
    public var fileExtension: String {
        switch self {
        case .none: "txt"
        case .gzip: "txt.gz"
        case .zstd: "txt.zst"
        }
    }

    var kind: ctw_compression_kind? {
        switch self {
        case .none: nil
        case .gzip: CTW_COMPRESSION_GZIP
        case .zstd: CTW_COMPRESSION_ZSTD
        }
    }
}

/// Where and how one venue connection is recorded.
public struct RecordingSettings: Sendable {
    public var directory: String
    public var compression: RecordingCompression = .none
    /// Start a new file once the current one holds this many bytes (as written, compressed or not).
    public var rotateBytes: UInt64?
    /// Start a new file once the current one is this old.
    public var rotateSeconds: UInt64?
    /// Buffered lines are written at least this often (ns of receive time or wall clock)…
    public var flushInterval: UInt64 = 100_000_000
    /// …or as soon as this many bytes are buffered.
    public var flushBytes = 256 * 1024

    public init(directory: String) { self.directory = directory }
}

public struct RecordingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Writes one venue connection's frames as `<recv_ns> <frame>` lines (the format of
/// ../shared/samples), into `DIRECTORY/NAME-<UTC start>-<part>.txt[.gz|.zst]`, a new part
/// when the size or age limit is reached.
///
/// Crash safety: lines are buffered whole and written with whole lines only, at least every
/// `flushInterval` or `flushBytes`; with compression each write is one complete gzip member
/// or zstd frame, so `zcat`/`zstdcat` (and `replay`) read everything written before a kill.
/// Frames are written as received except that CR and LF (never inside a JSON string, where
/// they would be invalid) become spaces, so one frame stays one line. One thread owns it.
public final class FrameRecorder {
    public let settings: RecordingSettings
    public let name: String
    /// Every file written so far, in order.
    public private(set) var files: [String] = []
    public private(set) var frames: UInt64 = 0
    /// Bytes written to files (compressed when compressing).
    public private(set) var bytesWritten: UInt64 = 0
    /// The first write or open failure; recording stops there (the feed carries on).
    public private(set) var failure: String?

    private var buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    private var compressed: UnsafeMutableRawBufferPointer?
    private var descriptor: Int32 = -1
    private var fileBytes: UInt64 = 0
    private var fileOpenedAt: UInt64 = 0
    private var lastFlush: UInt64 = 0
    private let startStamp: String

    public init(name: String, settings: RecordingSettings) throws(RecordingError) {
        self.name = name
        self.settings = settings
        if let kind = settings.compression.kind, ctw_compression_available(kind) != 0 {
            throw RecordingError(String(cString: ctw_compression_error()))
        }
        if mkdir(settings.directory, 0o755) != 0 && errno != EEXIST {
            throw RecordingError("cannot create \(settings.directory): \(String(cString: strerror(errno)))")
        }
        buffer = .allocate(byteCount: max(settings.flushBytes * 2, 1 << 16), alignment: 64)
        startStamp = Self.utcStamp(ctw_realtime_ns())
        try openNextFile(now: ctw_realtime_ns())
    }

    deinit {
        close()
        buffer.deallocate()
        compressed?.deallocate()
    }

    /// The file being written.
    public var currentFile: String? { files.last }

    /// Buffers one line; writes the buffer when it is due.
    public func append(_ frame: UnsafeRawBufferPointer, receiveTime: UInt64) {
        guard failure == nil else { return }
        frames &+= 1
        let needed = 21 + frame.count + 1
        if buffered + needed > buffer.count {
            flush(now: receiveTime)
            if needed > buffer.count { grow(to: needed) }
        }
        var cursor = buffered
        // The receive time in decimal: count the digits, then write them from the right.
        var digits = 1, rest = receiveTime / 10
        while rest > 0 { digits += 1; rest /= 10 }
        var value = receiveTime
        for index in stride(from: cursor + digits - 1, through: cursor, by: -1) {
            buffer[index] = UInt8(truncatingIfNeeded: value % 10) &+ 48
            value /= 10
        }
        cursor += digits
        buffer[cursor] = 32
        cursor += 1
        if let source = frame.baseAddress, frame.count > 0 {
            let target = buffer.baseAddress! + cursor
            memcpy(target, source, frame.count)
            // One frame, one line.
            if memchr(target, 10, frame.count) != nil || memchr(target, 13, frame.count) != nil {
                for index in cursor..<(cursor + frame.count) where buffer[index] == 10 || buffer[index] == 13 { buffer[index] = 32 }
            }
        }
        cursor += frame.count
        buffer[cursor] = 10
        buffered = cursor + 1
        if buffered >= settings.flushBytes || receiveTime &- lastFlush >= settings.flushInterval { flush(now: receiveTime) }
    }

    /// Writes the buffered lines if the last write is older than the flush interval (call
    /// when the feed is idle, so a quiet venue's last lines reach the file too).
    public func flushIfDue() {
        let now = ctw_realtime_ns()
        if buffered > 0 && now &- lastFlush >= settings.flushInterval { flush(now: now) }
    }

    /// Writes every buffered line (one compressed member or frame when compressing), rotating first when due.
    public func flush(now: UInt64 = ctw_realtime_ns()) {
        lastFlush = now
        guard buffered > 0, failure == nil else { return }
        if rotationDue(now: now) {
            do throws(RecordingError) { try openNextFile(now: now) } catch {
                failure = error.description
                return
            }
        }
        var output = UnsafeRawBufferPointer(start: buffer.baseAddress, count: buffered)
        if let kind = settings.compression.kind {
            let bound = ctw_compress_bound(kind, buffered)
            if (compressed?.count ?? 0) < bound {
                compressed?.deallocate()
                compressed = .allocate(byteCount: max(bound, buffer.count + buffer.count / 8 + 1024), alignment: 64)
            }
            let level: Int32 = settings.compression == .zstd ? 3 : 6
            let written = ctw_compress_block(kind, buffer.baseAddress, buffered, compressed!.baseAddress, compressed!.count, level)
            guard written >= 0 else {
                failure = "\(currentFile ?? name): \(String(cString: ctw_compression_error()))"
                return
            }
            output = UnsafeRawBufferPointer(start: compressed!.baseAddress, count: written)
        }
        var offset = 0
        while offset < output.count {
            let written = write(descriptor, output.baseAddress! + offset, output.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                failure = "cannot write \(currentFile ?? name): \(String(cString: strerror(errno)))"
                return
            }
            offset += written
        }
        fileBytes &+= UInt64(output.count)
        bytesWritten &+= UInt64(output.count)
        buffered = 0
    }

    /// Writes what is buffered and closes the file.
    public func close() {
        flush()
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }

    private func rotationDue(now: UInt64) -> Bool {
        if let limit = settings.rotateBytes, fileBytes >= limit { return true }
        if let seconds = settings.rotateSeconds, fileBytes > 0, now &- fileOpenedAt >= seconds &* 1_000_000_000 { return true }
        return false
    }

    private func openNextFile(now: UInt64) throws(RecordingError) {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
        let part = String(files.count + 1)
        let path = "\(settings.directory)/\(name)-\(startStamp)-\(String(repeating: "0", count: max(0, 4 - part.count)) + part).\(settings.compression.fileExtension)"
        let opened = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0o644)
        guard opened >= 0 else { throw RecordingError("cannot create \(path): \(String(cString: strerror(errno)))") }
        descriptor = opened
        files.append(path)
        fileBytes = 0
        fileOpenedAt = now
    }

    private func grow(to needed: Int) {
        let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: needed * 2, alignment: 64)
        buffer.deallocate()
        buffer = larger
    }

    /// `YYYYMMDDTHHMMSSZ` for a file name.
    static func utcStamp(_ nanoseconds: UInt64) -> String {
        var seconds = time_t(nanoseconds / 1_000_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }
}
