import CTickwire

/// A set of CPU numbers, as `sched_setaffinity` takes it (after swift-nio's `LinuxCPUSet`).
public struct CPUSet: Hashable, Sendable, CustomStringConvertible {
    public let cpus: Set<Int>

    public init(_ cpus: Set<Int>) { self.cpus = cpus }
    public init(cpu: Int) { self.cpus = [cpu] }

    public var description: String { cpus.sorted().map(String.init).joined(separator: ",") }

    /// Pins the calling thread to this set.
    public func pinCurrentThread() throws(SystemError) {
        let list = cpus.sorted().map(Int32.init)
        _ = try list.withUnsafeBufferPointer { (buffer) throws(SystemError) in
            try syscall("sched_setaffinity") {
                ctw_sched_setaffinity(0, buffer.baseAddress, Int32(buffer.count))
            }
        }
    }

    /// The affinity of the calling thread.
    public static func currentThread() throws(SystemError) -> CPUSet {
        var buffer = [Int32](repeating: 0, count: 1024)
        let count = try buffer.withUnsafeMutableBufferPointer { (b) throws(SystemError) in
            try syscall("sched_getaffinity") { ctw_sched_getaffinity(0, b.baseAddress, Int32(b.count)) }
        }
        return CPUSet(Set(buffer[0..<Int(count)].map(Int.init)))
    }

    /// The CPU the calling thread runs on right now.
    public static var currentCPU: Int { Int(ctw_sched_getcpu()) }
}
