import ArgumentParser
import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// Reports what this host gives the hot path: page kinds, memory locking, CPUs, NUMA,
/// socket buffer ceilings. Each line says what was found and, when it falls short, the remedy.
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check what this host offers the hot path, with remedies.")

    func run() throws {
        for line in Self.report() { print(line) }
    }

    static func report() -> [String] {
        var lines: [String] = []
        let hugePages = sysctl("vm/nr_hugepages") ?? "?"
        lines.append("hugetlb pool: vm.nr_hugepages=\(hugePages)" + (hugePages == "0" ? " (remedy: sysctl -w vm.nr_hugepages=64)" : ""))
        let thp = readSmallFile("/sys/kernel/mm/transparent_hugepage/enabled")?.trimmed ?? "unknown"
        lines.append("transparent huge pages: \(thp)")
        do {
            let memory = try HotMemory(bytes: 2 << 20)
            lines.append("hot-path memory: \(memory)")
        } catch {
            lines.append("hot-path memory: no mapping possible: \(error)")
        }
        do throws(SystemError) {
            try MemoryLock.lockAll()
            try MemoryLock.unlockAll()
            lines.append("mlockall: ok")
        } catch {
            lines.append("mlockall: \(error) (remedy: \(MemoryLock.remedy(for: error)))")
        }
        if let affinity = try? CPUSet.currentThread() {
            lines.append("cpus available: \(affinity)")
        }
        let isolated = readSmallFile("/sys/devices/system/cpu/isolated")?.trimmed ?? ""
        lines.append("isolated cpus: " + (isolated.isEmpty ? "none (remedy: isolcpus=/nohz_full= on the kernel command line for pinned stages)" : isolated))
        if ctw_numa_available() >= 0 {
            lines.append("numa: available, nodes 0...\(ctw_numa_max_node())")
        } else {
            lines.append("numa: not available")
        }
        for name in ["net/core/rmem_max", "net/core/wmem_max"] {
            let value = sysctl(name) ?? "?"
            let dotted = name.split(separator: "/").joined(separator: ".")
            let low = (Int(value) ?? 0) < 8 << 20
            lines.append("\(dotted)=\(value)" + (low ? " (remedy: sysctl -w \(dotted)=16777216)" : ""))
        }
        return lines
    }

    private static func sysctl(_ path: String) -> String? {
        readSmallFile("/proc/sys/" + path)?.trimmed
    }
}

extension String {
    var trimmed: String {
        var view = Substring(self)
        while let c = view.first, c.isWhitespace { view.removeFirst() }
        while let c = view.last, c.isWhitespace { view.removeLast() }
        return String(view)
    }
}
