#if canImport(Glibc)
import Glibc
#endif

/// Another `tickwire` command run by this one (the demo), in its own process group so a
/// terminal's Ctrl-C reaches only the parent, which then stops the children in order.
struct ChildProcess {
    let pid: pid_t
    let name: String

    /// Starts this executable with `arguments`; stdout and stderr go to the files named, or
    /// stay this process's own when nil.
    init(name: String, _ arguments: [String], standardOutput: String?, standardError: String?) throws(ChildProcessError) {
        self.name = name
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let standardOutput { posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
        if let standardError { posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let executable = "/proc/self/exe"
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard status == 0 else { throw ChildProcessError(description: "cannot start tickwire \(name): \(String(cString: strerror(status)))") }
        self.pid = pid
    }

    func signal(_ number: Int32) { kill(pid, number) }

    /// The exit status once it has exited (nil while running); a signal death is 128 + signal.
    func exitStatus(wait: Bool) -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, wait ? 0 : WNOHANG)
        guard result == pid else { return result < 0 ? -1 : nil }
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    /// Asks it to stop (SIGTERM), waits up to `milliseconds`, then kills it.
    @discardableResult
    func stop(within milliseconds: Int) -> Int32 {
        signal(SIGTERM)
        for _ in 0..<max(1, milliseconds / 10) {
            if let status = exitStatus(wait: false) { return status }
            usleep(10_000)
        }
        signal(SIGKILL)
        return exitStatus(wait: true) ?? -1
    }
}

struct ChildProcessError: Error, CustomStringConvertible {
    var description: String
}
