import Foundation
import Testing

/// Root-only tests skip elsewhere with this one-line reason; CI runs as root, and
/// scripts/test.sh refuses to run under CI without root so they can never be skipped there.
let isRoot = geteuid() == 0
let needsRoot: Comment = "needs root (sysctl, mlock limits, AF_XDP)"

/// Sets a sysctl through /proc/sys for the duration of `body`, then restores it.
func withSysctl<T>(_ name: String, _ value: String, _ body: () throws -> T) throws -> T {
    let path = "/proc/sys/" + name.replacingOccurrences(of: ".", with: "/")
    let original = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    try value.write(toFile: path, atomically: false, encoding: .utf8)
    defer { try? original.write(toFile: path, atomically: false, encoding: .utf8) }
    return try body()
}

/// Runs `body` on a fresh OS thread and waits: for tests that change per-thread state (affinity).
func onDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
    let box = ThreadResult<T>()
    let thread = Thread { box.value = body(); box.done.signal() }
    thread.start()
    box.done.wait()
    return box.value!
}

private final class ThreadResult<T>: @unchecked Sendable {
    var value: T?
    let done = DispatchSemaphore(value: 0)
}
