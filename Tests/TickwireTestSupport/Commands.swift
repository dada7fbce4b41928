import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A temporary directory, removed with everything in it on deinit.
public final class TemporaryDirectory {
    public let path: String

    public init() throws {
        var template = Array("/tmp/tickwire-test.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CommandFailure(command: ["mkdtemp"], status: errno, standardError: String(cString: strerror(errno))) }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Creates the empty file `name` here, opened for writing.
    public func createFile(_ name: String) throws -> (path: String, handle: FileHandle) {
        let file = path + "/" + name
        guard FileManager.default.createFile(atPath: file, contents: nil), let handle = FileHandle(forWritingAtPath: file) else {
            throw CommandFailure(command: ["create", file], status: errno, standardError: String(cString: strerror(errno)))
        }
        return (file, handle)
    }
}

/// A command that exited non-zero (or could not be run): the command line, status and standard error.
public struct CommandFailure: Error, CustomStringConvertible {
    public let command: [String]
    public let status: Int32
    public let standardError: String

    public init(command: [String], status: Int32, standardError: String) {
        self.command = command
        self.status = status
        self.standardError = standardError
    }

    public var description: String {
        "`\(command.joined(separator: " "))` exited \(status): \(standardError.trimmingCharacters(in: .whitespacesAndNewlines))"
    }
}

/// Runs `arguments` (looked up in PATH) and returns its standard output. Output goes through
/// files, not pipes: Foundation traps on EINTR reading a pipe when another child exits, and
/// a full stderr pipe cannot stall a command whose stdout is being read.
@discardableResult
public func runCommand(_ arguments: [String]) throws -> String {
    let directory = try TemporaryDirectory()
    let output = try directory.createFile("stdout")
    let errors = try directory.createFile("stderr")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.standardOutput = output.handle
    process.standardError = errors.handle
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CommandFailure(command: arguments, status: process.terminationStatus,
                             standardError: (try? String(contentsOfFile: errors.path, encoding: .utf8)) ?? "")
    }
    return try String(contentsOfFile: output.path, encoding: .utf8)
}

/// Polls `condition` every millisecond for up to `seconds`; false if it never held.
public func waitUntil(seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}

/// tcpdump on one interface of a namespace, writing to a pcap file as packets come (-U).
/// With `packets` it stops by itself after that many (`-c`); without, `finish` kills it (the
/// file is whole: -U writes each packet at once). Signals other than SIGKILL cannot stop it:
/// it inherits the test thread's signal mask, where SIGINT and SIGTERM are blocked.
public final class PacketCapture {
    public let file: String
    private let process = Process()
    private let stopsByItself: Bool

    /// Returns once tcpdump listens (it says so on standard error).
    public init(namespace: String, interface: String, filter: String = "udp", packets: Int? = nil, directory: TemporaryDirectory) throws {
        file = directory.path + "/capture.pcap"
        stopsByItself = packets != nil
        let log = try directory.createFile("tcpdump.log")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", namespace, "tcpdump", "-i", interface] + (packets.map { ["-c", "\($0)"] } ?? [])
            + ["-U", "-n", "-w", file, filter]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = log.handle
        try process.run()
        guard waitUntil({ (try? String(contentsOfFile: log.path, encoding: .utf8))?.contains("listening on") == true }) else {
            kill(process.processIdentifier, SIGKILL)
            throw CommandFailure(command: process.arguments ?? [], status: -1, standardError: (try? String(contentsOfFile: log.path, encoding: .utf8)) ?? "")
        }
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

    /// Waits until tcpdump has written its packets and exited (throws when it has not within
    /// 10 s), or, without a packet count, stops it once the last datagrams are written.
    public func finish() throws {
        if !stopsByItself {
            usleep(200_000)
            kill(process.processIdentifier, SIGKILL)
        }
        guard waitUntil(seconds: 10, { !process.isRunning }) else {
            kill(process.processIdentifier, SIGKILL)
            throw CommandFailure(command: process.arguments ?? [], status: -1, standardError: "did not capture its packets in 10 s")
        }
    }
}
