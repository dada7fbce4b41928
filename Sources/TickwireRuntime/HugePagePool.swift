/// The default-size hugetlb pool as /proc/meminfo reports it (HugePages_* and Hugepagesize).
public struct HugePagePool: Equatable, Sendable {
    public var pageBytes: Int
    public var total: Int
    public var free: Int
    /// Promised to mappings but not faulted in yet: free, but not for a new mapping.
    public var reserved: Int

    public init(pageBytes: Int, total: Int, free: Int, reserved: Int) {
        self.pageBytes = pageBytes
        self.total = total
        self.free = free
        self.reserved = reserved
    }

    /// Pages a new mapping can still get.
    public var available: Int { max(free - reserved, 0) }

    /// Parses the `HugePages_Total/Free/Rsvd` and `Hugepagesize` lines; nil when one is missing.
    public init?(meminfo text: String) {
        var values: [Substring: Int] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let number = line[line.index(after: colon)...].split(separator: " ").first
            values[line[..<colon]] = number.flatMap { Int($0) }
        }
        guard let total = values["HugePages_Total"], let free = values["HugePages_Free"],
              let reserved = values["HugePages_Rsvd"], let sizeKiB = values["Hugepagesize"]
        else { return nil }
        self.init(pageBytes: sizeKiB << 10, total: total, free: free, reserved: reserved)
    }
}
