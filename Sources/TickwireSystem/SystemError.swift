import CTickwire

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system or library call: which function, and the errno it left.
/// The one error type for every errno in Tickwire (after swift-nio's `IOError`).
public struct SystemError: Error, Equatable, CustomStringConvertible, Sendable {
    public let function: StaticString
    public let errno: Int32

    public init(_ function: StaticString, errno: Int32) {
        self.function = function
        self.errno = errno
    }

    public static func == (lhs: SystemError, rhs: SystemError) -> Bool {
        lhs.errno == rhs.errno && lhs.function.description == rhs.function.description
    }

    /// The C library's message for the errno, e.g. "Cannot allocate memory".
    public var reason: String { String(cString: strerror(errno)) }

    public var description: String { "\(function) failed: \(reason) (errno \(errno))" }
}

/// Calls `body`, retrying while it fails with EINTR; a -1 result becomes a `SystemError`
/// carrying `function` and errno. The single place where errno is read after a syscall.
@inline(__always)
@discardableResult
public func syscall<T: FixedWidthInteger>(
    _ function: StaticString,
    _ body: () -> T
) throws(SystemError) -> T {
    while true {
        let result = body()
        if _fastPath(result != -1) { return result }
        let err = ctw_errno()
        if err == EINTR { continue }
        throw SystemError(function, errno: err)
    }
}

/// For libxdp/libbpf-style calls that return 0 or a negative errno instead of setting errno.
@inline(__always)
public func negativeErrnoCall(_ function: StaticString, _ body: () -> Int32) throws(SystemError) {
    let rc = body()
    if rc < 0 { throw SystemError(function, errno: -rc) }
}
