#if canImport(Glibc)
import Glibc
#endif

/// `--send-log FILE`: one line `<client> <update_id> <send_ns>` per book message handed to a
/// client's socket as is, `send_ns` from CLOCK_REALTIME (the clock venue receive stamps use),
/// so a benchmark can join what its consumers made visible with when it was sent, on the
/// venue's own update id. Lines are formatted into a buffer and written in 64 KiB chunks and
/// at `flush`, never one write per message.
final class SendLog {
    private let path: String
    private let descriptor: Int32
    private let buffer = FrameBuffer(capacity: 80 << 10)
    private var failed = false
    private static let chunk = 64 << 10

    init(path: String) throws(SimulatorError) {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw .invalidConfiguration("--send-log \(path): cannot open for writing: \(String(cString: strerror(errno)))")
        }
    }

    deinit {
        flush()
        close(descriptor)
    }

    func record(client: Int, updateId: UInt64, time: UInt64) {
        buffer.append(UInt64(client))
        buffer.append(byte: UInt8(ascii: " "))
        buffer.append(updateId)
        buffer.append(byte: UInt8(ascii: " "))
        buffer.append(time)
        buffer.append(byte: UInt8(ascii: "\n"))
        if buffer.count >= Self.chunk { flush() }
    }

    /// Writes what is buffered. A failing disk loses the log's tail, never the feed: the
    /// error is reported once on stderr.
    func flush() {
        var written = 0
        let bytes = buffer.bytes
        while written < bytes.count && !failed {
            let count = write(descriptor, bytes.baseAddress! + written, bytes.count - written)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                failed = true
                let message = "tickwire simulate: --send-log \(path): write failed: \(String(cString: strerror(errno)))\n"
                message.withCString { _ = Glibc.write(2, $0, strlen($0)) }
                break
            }
            written += count
        }
        buffer.reset()
    }
}
