import CTickwire

#if canImport(Glibc)
import Glibc
#endif

/// The kind of pages a `HotMemory` region ended up on.
public enum PageKind: String, Sendable, CaseIterable {
    /// Explicit huge pages from the hugetlb pool (`vm.nr_hugepages`), 1 GiB each.
    case hugeTLB1GiB = "hugetlb-1GiB"
    /// Explicit huge pages from the hugetlb pool, 2 MiB each.
    case hugeTLB2MiB = "hugetlb-2MiB"
    /// Normal pages advised with `MADV_HUGEPAGE`; the kernel may back them with 2 MiB pages.
    case transparentHuge = "thp"
    /// Plain 4 KiB pages.
    case normal = "normal"

    public var pageSize: Int {
        switch self {
        case .hugeTLB1GiB: 1 << 30
        case .hugeTLB2MiB: 1 << 21
        case .transparentHuge: 1 << 21
        case .normal: 1 << 12
        }
    }
}

/// Where hot-path memory may come from, most preferred first.
public struct HotMemoryPolicy: Sendable, Equatable {
    /// Page kinds to try, in order.
    public var attempts: [PageKind]
    /// Bind the pages to this NUMA node (mbind) before first touch; nil = the kernel's choice.
    public var numaNode: Int?
    /// Touch every page at allocation so the hot path never takes a page fault.
    public var prefault: Bool

    public init(attempts: [PageKind], numaNode: Int? = nil, prefault: Bool = true) {
        self.attempts = attempts
        self.numaNode = numaNode
        self.prefault = prefault
    }

    /// 2 MiB hugetlb, then THP, then normal pages.
    public static let standard = HotMemoryPolicy(attempts: [.hugeTLB2MiB, .transparentHuge, .normal])
    /// 1 GiB hugetlb first, for large UMEMs or book arenas.
    public static let gigantic = HotMemoryPolicy(attempts: [.hugeTLB1GiB, .hugeTLB2MiB, .transparentHuge, .normal])
}

/// One region of hot-path memory: mapped once at start-up, page-aligned (so any
/// cache-line alignment holds), optionally NUMA-bound and prefaulted, unmapped on deinit.
/// It records which page kind it got and why each preferred kind was refused.
public final class HotMemory: @unchecked Sendable, CustomStringConvertible {
    public struct Refusal: Sendable, Equatable, CustomStringConvertible {
        public let kind: PageKind
        public let error: SystemError
        public var description: String { "\(kind.rawValue): \(error)" }
    }

    public let base: UnsafeMutableRawPointer
    /// Usable bytes (at least the requested size, rounded up to the page size).
    public let size: Int
    public let kind: PageKind
    public let numaNode: Int?
    /// The preferred kinds that failed before `kind` succeeded, with their errors.
    public let refusals: [Refusal]

    /// The mapping to unmap (may be larger than `size` for THP alignment).
    private let mapping: UnsafeMutableRawPointer
    private let mappingLength: Int

    public init(bytes: Int, policy: HotMemoryPolicy = .standard) throws(SystemError) {
        precondition(bytes > 0, "HotMemory needs a positive size")
        var refusals: [Refusal] = []
        for kind in policy.attempts {
            do throws(SystemError) {
                let (mapping, length, base, size) = try Self.map(bytes: bytes, kind: kind)
                if let node = policy.numaNode {
                    do throws(SystemError) {
                        try syscall("mbind") { ctw_numa_bind_range(base, size, Int32(node)) }
                    } catch {
                        ctw_munmap(mapping, length)
                        throw error
                    }
                }
                if policy.prefault { Self.touch(base, size: size) }
                self.mapping = mapping
                self.mappingLength = length
                self.base = base
                self.size = size
                self.kind = kind
                self.numaNode = policy.numaNode
                self.refusals = refusals
                return
            } catch {
                refusals.append(Refusal(kind: kind, error: error))
            }
        }
        throw refusals.last?.error ?? SystemError("mmap", errno: EINVAL)
    }

    deinit { ctw_munmap(mapping, mappingLength) }

    /// e.g. "64 MiB on hugetlb-2MiB (refused: none)".
    public var description: String {
        let refused = refusals.isEmpty ? "none" : refusals.map(\.description).joined(separator: "; ")
        let node = numaNode.map { " on NUMA node \($0)" } ?? ""
        return "\(Self.formatBytes(size)) on \(kind.rawValue) pages\(node) (refused: \(refused))"
    }

    private static func map(bytes: Int, kind: PageKind) throws(SystemError)
        -> (mapping: UnsafeMutableRawPointer, length: Int, base: UnsafeMutableRawPointer, size: Int)
    {
        let size = roundUp(bytes, to: kind.pageSize)
        switch kind {
        case .hugeTLB1GiB, .hugeTLB2MiB:
            let shift: Int32 = kind == .hugeTLB1GiB ? 30 : 21
            guard let p = ctw_mmap_anonymous(size, shift) else { throw SystemError("mmap(MAP_HUGETLB)", errno: ctw_errno()) }
            return (p, size, p, size)
        case .transparentHuge:
            guard transparentHugePagesEnabled else { throw SystemError("madvise(MADV_HUGEPAGE)", errno: EOPNOTSUPP) }
            // Over-map by one huge page so the region can start on a 2 MiB boundary:
            // THP only backs aligned 2 MiB extents.
            let length = size + kind.pageSize
            guard let p = ctw_mmap_anonymous(length, 0) else { throw SystemError("mmap", errno: ctw_errno()) }
            let aligned = UnsafeMutableRawPointer(bitPattern: roundUp(Int(bitPattern: p), to: kind.pageSize))!
            if ctw_madvise_hugepage(aligned, size) != 0 {
                let err = ctw_errno()
                ctw_munmap(p, length)
                throw SystemError("madvise(MADV_HUGEPAGE)", errno: err)
            }
            return (p, length, aligned, size)
        case .normal:
            guard let p = ctw_mmap_anonymous(size, 0) else { throw SystemError("mmap", errno: ctw_errno()) }
            return (p, size, p, size)
        }
    }

    private static func touch(_ base: UnsafeMutableRawPointer, size: Int) {
        // A write per 4 KiB page faults everything in now, whatever the page kind.
        var offset = 0
        while offset < size {
            base.storeBytes(of: 0, toByteOffset: offset, as: UInt8.self)
            offset += 4096
        }
    }

    /// THP is usable unless the system mode is `[never]`.
    public static var transparentHugePagesEnabled: Bool {
        guard let mode = readSmallFile("/sys/kernel/mm/transparent_hugepage/enabled") else { return false }
        return !mode.contains("[never]")
    }

    static func roundUp(_ value: Int, to multiple: Int) -> Int {
        (value + multiple - 1) / multiple * multiple
    }

    static func formatBytes(_ bytes: Int) -> String {
        if bytes % (1 << 30) == 0 { return "\(bytes >> 30) GiB" }
        if bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) B"
    }
}

/// Reads a small text file (sysfs/procfs) without Foundation; nil when it cannot be read.
public func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return nil }
        if n == 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}
