import CTickwire
#if canImport(Glibc)
import Glibc
#endif

/// A bound AF_UNIX datagram socket standing in for systemd's notify socket: the address is a
/// path or `@abstract`, as in `$NOTIFY_SOCKET`. Removes a path socket's file on deinit.
public final class UnixDatagramListener {
    public struct Failure: Error, CustomStringConvertible {
        public let what: String
        public let errno: Int32
        public var description: String { "\(what): \(String(cString: strerror(errno)))" }
    }

    public let address: String
    private let descriptor: Int32

    public init(address: String) throws {
        self.address = address
        descriptor = ctw_unix_datagram_socket()
        guard descriptor >= 0 else { throw Failure(what: "socket(AF_UNIX)", errno: errno) }
        guard ctw_unix_datagram_bind(descriptor, address) == 0 else {
            let error = errno
            close(descriptor)
            throw Failure(what: "bind \(address)", errno: error)
        }
    }

    deinit {
        close(descriptor)
        if address.hasPrefix("/") { unlink(address) }
    }

    /// The next datagram, waiting up to `seconds`; nil if none came.
    public func receive(waitingUpTo seconds: Double = 5) -> String? {
        var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&request, 1, Int32(seconds * 1000)) == 1 else { return nil }
        return receiveQueued()
    }

    /// A datagram already queued, without waiting; nil if there is none.
    public func receiveQueued() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        return count < 0 ? nil : String(decoding: buffer[..<count], as: UTF8.self)
    }
}
