#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Bytes queued for a non-blocking socket: frames are encoded straight into it and it is
/// flushed as far as the socket allows. Grows only when a burst outruns the socket.
final class OutboundBuffer {
    private var storage: UnsafeMutableRawPointer
    private var capacity: Int
    private var readIndex = 0
    private var writeIndex = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 256)
        storage = .allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    var isEmpty: Bool { readIndex == writeIndex }
    var count: Int { writeIndex - readIndex }
    var pending: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage + readIndex, count: count) }

    /// Room for `count` more bytes at the end; fill it, then `commit`.
    @inline(__always)
    func reserve(_ count: Int) -> UnsafeMutableRawPointer {
        if _slowPath(capacity - writeIndex < count) { makeRoom(for: count) }
        return storage + writeIndex
    }

    @inline(__always)
    func commit(_ count: Int) { writeIndex += count }

    func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress else { return }
        reserve(bytes.count).copyMemory(from: source, byteCount: bytes.count)
        commit(bytes.count)
    }

    @inline(__always)
    func consume(_ count: Int) {
        readIndex += count
        if readIndex == writeIndex { readIndex = 0; writeIndex = 0 }
    }

    /// Writes as much as `connection` takes now; true when everything went out.
    @discardableResult
    func flush(to connection: TCPConnection) throws(TransportError) -> Bool {
        while !isEmpty {
            let written = try connection.write(pending)
            if written == 0 { return false }
            consume(written)
        }
        return true
    }

    private func makeRoom(for count: Int) {
        let live = self.count
        if readIndex > 0 && capacity - live >= count {
            memmove(storage, storage + readIndex, live)
        } else {
            var newCapacity = capacity * 2
            while newCapacity - live < count { newCapacity *= 2 }
            let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
            grown.copyMemory(from: storage + readIndex, byteCount: live)
            storage.deallocate()
            storage = grown
            capacity = newCapacity
        }
        readIndex = 0
        writeIndex = live
    }
}
