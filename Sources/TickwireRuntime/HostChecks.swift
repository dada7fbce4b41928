import CTickwire
import TickwireSystem
import TickwireTransport

#if canImport(Glibc)
import Glibc
#endif

/// What this host offers the hot path, one `HostCheck` per fact, each with a remedy when it
/// falls short: what `tickwire doctor` prints and what the daemon can log at start. The
/// checks read procfs/sysfs and ask the kernel; none changes the host (the mlockall probe
/// unlocks again, the hot-path memory probe unmaps).
public enum HostChecks {
    /// The socket buffer Tickwire wants for its multicast senders and receivers.
    public static let wantedSocketBufferBytes = 16 << 20

    /// Every check: host-wide first, then those of `interface` (the default route's when nil).
    public static func all(interface: String? = nil) -> [HostCheck] {
        let capabilities = CapabilitySet.current()
        var checks = socketBufferCeilings(capabilities: capabilities)
        checks.append(udpBufferErrors())
        checks.append(memoryLockLimit(capabilities: capabilities))
        checks.append(memoryLockProbe())
        checks.append(capabilityCheck(capabilities))
        checks.append(hugePages())
        checks.append(transparentHugePages())
        checks.append(hotPathMemory())
        checks.append(isolatedCores())
        checks.append(nohzFull())
        checks.append(availableCPUs())
        checks.append(numaNodes())
        checks.append(cpuFlags())
        checks.append(contentsOf: InterfaceChecks.all(interface: interface))
        return checks
    }

    // MARK: Sockets

    /// net.core.rmem_max / wmem_max against `wantedBytes`. Below it the kernel caps
    /// SO_RCVBUF/SO_SNDBUF, unless CAP_NET_ADMIN lets Tickwire use the FORCE options.
    public static func socketBufferCeilings(capabilities: CapabilitySet?, wantedBytes: Int = wantedSocketBufferBytes) -> [HostCheck] {
        ["rmem_max", "wmem_max"].map { name in
            let sysctl = "net.core.\(name)"
            guard let value = readSysctl("net/core/\(name)").flatMap({ Int($0) }) else {
                return .warn(sysctl, "unreadable", remedy: "check that /proc/sys/net/core/\(name) exists (procfs mounted)")
            }
            return socketBufferCeiling(sysctl: sysctl, value: value, wantedBytes: wantedBytes,
                                       canForce: capabilities?.contains(.netAdmin) ?? false)
        }
    }

    static func socketBufferCeiling(sysctl: String, value: Int, wantedBytes: Int, canForce: Bool) -> HostCheck {
        let found = "\(value) (\(formatBytes(value)))"
        if value >= wantedBytes { return .pass(sysctl, found) }
        if canForce {
            return .pass(sysctl, found + ", below the \(formatBytes(wantedBytes)) Tickwire asks for, but this process has CAP_NET_ADMIN: SO_RCVBUFFORCE/SO_SNDBUFFORCE go past it")
        }
        return .warn(sysctl, found + ", below the \(formatBytes(wantedBytes)) Tickwire asks for: its socket buffers are capped here",
                     remedy: "sysctl -w \(sysctl)=\(wantedBytes) from the root network namespace (the ceiling is global; persist it in /etc/sysctl.d/), or grant CAP_NET_ADMIN")
    }

    /// UDP datagrams the host dropped so far for full socket buffers (the seed's `netstat -s`
    /// check), IPv4 and IPv6, in this process's network namespace.
    public static func udpBufferErrors() -> HostCheck {
        let name = "udp buffer errors"
        guard let udp4 = readSmallFile("/proc/net/snmp").flatMap(UdpErrorCounters.init(snmp:)) else {
            return .warn(name, "/proc/net/snmp has no Udp counters", remedy: "check that procfs is mounted and the kernel has IPv4")
        }
        let udp6 = readSmallFile("/proc/net/snmp6").flatMap(UdpErrorCounters.init(snmp6:))
        return udpBufferErrorCheck(udp4: udp4, udp6: udp6)
    }

    static func udpBufferErrorCheck(udp4: UdpErrorCounters, udp6: UdpErrorCounters?) -> HostCheck {
        let name = "udp buffer errors"
        let found = "since boot: Udp \(udp4.summary)" + (udp6.map { "; Udp6 \($0.summary)" } ?? "")
        let all = [udp4] + (udp6.map { [$0] } ?? [])
        if all.allSatisfy(\.isClean) { return .pass(name, found) }
        if all.contains(where: { $0.receiveBufferErrors > 0 || $0.sendBufferErrors > 0 }) {
            return .warn(name, found, remedy: "a UDP socket here overflowed: raise net.core.rmem_max/wmem_max and the socket buffers, pin the receiving thread; watch it with `nstat -az UdpRcvbufErrors`")
        }
        return .warn(name, found, remedy: "InErrors without buffer errors are bad checksums or malformed datagrams (see InCsumErrors in /proc/net/snmp): check the NIC, cabling and senders")
    }

    // MARK: Memory

    /// RLIMIT_MEMLOCK: mlockall of the whole daemon needs it unlimited, or CAP_IPC_LOCK.
    public static func memoryLockLimit(capabilities: CapabilitySet?) -> HostCheck {
        let name = "memlock limit"
        var soft: UInt64 = 0
        var hard: UInt64 = 0
        do throws(SystemError) {
            try syscall("getrlimit(RLIMIT_MEMLOCK)") { ctw_host_memlock_limit(&soft, &hard) }
        } catch {
            return .warn(name, "\(error)", remedy: "see getrlimit(2)")
        }
        let found = "soft \(limitText(soft)), hard \(limitText(hard))"
        if soft == .max { return .pass(name, found) }
        if capabilities?.contains(.ipcLock) == true { return .pass(name, found + "; CAP_IPC_LOCK lifts it") }
        return .warn(name, found + ": mlockall fails once the process outgrows it",
                     remedy: "LimitMEMLOCK=infinity in the systemd unit, `ulimit -l unlimited`, or grant CAP_IPC_LOCK")
    }

    /// Whether `mlockall(MCL_CURRENT|MCL_FUTURE)` works now; it is unlocked again at once.
    /// (For doctor, not for a daemon that has already locked itself.)
    public static func memoryLockProbe() -> HostCheck {
        let name = "mlockall"
        do throws(SystemError) {
            try MemoryLock.lockAll()
            try MemoryLock.unlockAll()
            return .pass(name, "MCL_CURRENT|MCL_FUTURE works")
        } catch {
            return .warn(name, "\(error)", remedy: MemoryLock.remedy(for: error))
        }
    }

    /// The capabilities the daemon uses (what scripts/systemd/tickwire.service grants).
    public static func capabilityCheck(_ capabilities: CapabilitySet?) -> HostCheck {
        let name = "capabilities"
        guard let capabilities else {
            return .warn(name, "no CapEff line in /proc/self/status", remedy: "check that procfs is mounted")
        }
        let missing = Capability.allCases.filter { !capabilities.contains($0) }
        let present = Capability.allCases.filter { capabilities.contains($0) }
        let hex = String(capabilities.bits, radix: 16)
        if missing.isEmpty {
            return .pass(name, "CapEff \(hex): " + present.map(\.description).joined(separator: " "))
        }
        let found = "CapEff \(hex): missing " + missing.map { "\($0) (\($0.purpose))" }.joined(separator: ", ")
            + (present.isEmpty ? "" : "; has " + present.map(\.description).joined(separator: " "))
        return .warn(name, found, remedy: "grant them: AmbientCapabilities=\(Capability.allCases.map(\.description).joined(separator: " ")) in the systemd unit (scripts/systemd/tickwire.service), or `setcap` on the binary; without them Tickwire falls back (no XDP, capped buffers, no SCHED_FIFO)")
    }

    /// The 2 MiB hugetlb pool rings, books and UMEM come from first.
    public static func hugePages() -> HostCheck {
        guard let pool = readSmallFile("/proc/meminfo").flatMap(HugePagePool.init(meminfo:)) else {
            return .warn("hugetlb pages", "no HugePages lines in /proc/meminfo (kernel without hugetlbfs)",
                         remedy: "hot-path memory falls back to THP or normal pages; a kernel with CONFIG_HUGETLBFS gives explicit huge pages")
        }
        return hugePageCheck(pool)
    }

    static func hugePageCheck(_ pool: HugePagePool) -> HostCheck {
        let name = "hugetlb pages"
        let found = "\(pool.total) reserved of \(formatBytes(pool.pageBytes)), \(pool.free) free, \(pool.reserved) promised"
        let remedy = "sysctl -w vm.nr_hugepages=64 (128 MiB of 2 MiB pages; persist in /etc/sysctl.d/ or hugepages= on the kernel command line)"
        if pool.total == 0 { return .warn(name, found + ": hot-path memory falls back to THP or normal pages", remedy: remedy) }
        if pool.available == 0 { return .warn(name, found + ": all in use", remedy: "raise vm.nr_hugepages (now \(pool.total))") }
        return .pass(name, found)
    }

    /// Transparent huge pages: Tickwire advises its hot memory with MADV_HUGEPAGE, which
    /// works in `always` and `madvise` mode.
    public static func transparentHugePages() -> HostCheck {
        let name = "transparent huge pages"
        guard let mode = readSmallFile("/sys/kernel/mm/transparent_hugepage/enabled")?.filter({ $0 != "\n" }) else {
            return .warn(name, "not available in this kernel", remedy: "reserve hugetlb pages instead (vm.nr_hugepages)")
        }
        if mode.contains("[never]") {
            return .warn(name, mode, remedy: "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled (or transparent_hugepage=madvise on the kernel command line)")
        }
        return .pass(name, mode)
    }

    /// What 2 MiB of hot-path memory actually gets here (hugetlb → THP → normal).
    public static func hotPathMemory() -> HostCheck {
        let name = "hot-path memory"
        do {
            let memory = try HotMemory(bytes: 2 << 20)
            if memory.kind == .normal {
                return .warn(name, "\(memory)", remedy: "reserve hugetlb pages (sysctl -w vm.nr_hugepages=64) or enable THP (madvise)")
            }
            return .pass(name, "\(memory)")
        } catch {
            return .warn(name, "no mapping possible: \(error)", remedy: "check the memory limits of the process (ulimit -v, cgroup memory.max)")
        }
    }

    // MARK: CPUs

    /// /sys/devices/system/cpu/isolated: cores the scheduler keeps other tasks off, for pinned stages.
    public static func isolatedCores() -> HostCheck {
        let cpus = readSmallFile("/sys/devices/system/cpu/isolated")?.filter { !$0.isWhitespace } ?? ""
        if cpus.isEmpty {
            return .warn("isolated cores", "none: pinned stages share their cores with other tasks",
                         remedy: "isolcpus=managed_irq,domain,<stage cores> on the kernel command line, then pin the stages there (main.toml cores)")
        }
        return .pass("isolated cores", cpus)
    }

    /// /sys/devices/system/cpu/nohz_full: cores without the periodic scheduler tick.
    public static func nohzFull() -> HostCheck {
        let name = "nohz_full"
        guard let text = readSmallFile("/sys/devices/system/cpu/nohz_full") else {
            return .warn(name, "not available: this kernel is built without CONFIG_NO_HZ_FULL",
                         remedy: "a kernel with CONFIG_NO_HZ_FULL and nohz_full=<stage cores> spares pinned stages the timer tick")
        }
        let cpus = text.filter { !$0.isWhitespace }
        if cpus.isEmpty || cpus == "(null)" {
            return .warn(name, "none: pinned stages take the scheduler tick", remedy: "nohz_full=<stage cores> rcu_nocbs=<stage cores> on the kernel command line")
        }
        return .pass(name, cpus)
    }

    /// The cores this process may run on: the staged topology pins three stages.
    public static func availableCPUs() -> HostCheck {
        let name = "cpus available"
        guard let set = try? CPUSet.currentThread() else {
            return .warn(name, "sched_getaffinity failed", remedy: "see sched_getaffinity(2)")
        }
        let online = readSmallFile("/sys/devices/system/cpu/online")?.filter { !$0.isWhitespace } ?? "?"
        let found = "\(set) (\(set.cpus.count) of online \(online))"
        if set.cpus.count < 3 {
            return .warn(name, found + ": fewer than the 3 the staged topology pins",
                         remedy: "topology = \"fused\" in main.toml, or give the process more cores (CPUAffinity=, taskset)")
        }
        return .pass(name, found)
    }

    /// NUMA nodes of the host (libnuma).
    public static func numaNodes() -> HostCheck {
        if ctw_numa_available() < 0 { return .pass("numa", "not available: one memory node") }
        let nodes = Int(ctw_numa_max_node()) + 1
        return .pass("numa", nodes == 1 ? "1 node" : "\(nodes) nodes: allocation follows the NIC's node")
    }

    /// The instruction sets the binary was compiled for against the CPU's: a missing one
    /// means SIGILL on the first instruction that uses it.
    public static func cpuFlags() -> HostCheck {
        guard let cpu = readSmallFile("/proc/cpuinfo").flatMap(CPUFlags.parse(cpuinfo:)) else {
            return .warn("cpu flags", "no flags line in /proc/cpuinfo", remedy: "check that procfs is mounted")
        }
        return cpuFlagCheck(builtFor: CPUFlags.builtFor, cpu: cpu)
    }

    static func cpuFlagCheck(builtFor: [String], cpu: Set<String>) -> HostCheck {
        let name = "cpu flags"
        let built = builtFor.isEmpty ? "the architecture baseline" : builtFor.joined(separator: " ")
        let missing = builtFor.filter { !cpu.contains($0) }
        if missing.isEmpty { return .pass(name, "built for \(built); this CPU has them") }
        return .fail(name, "built for \(built); this CPU lacks \(missing.joined(separator: " "))",
                     remedy: "rebuild on this CPU or without --native (scripts/build-release.sh); this binary would die with SIGILL")
    }
}

/// A sysfs CPU list ("0-3,8,10-11") as a set; nil when malformed.
public func parseCPUList(_ text: String) -> Set<Int>? {
    var cpus = Set<Int>()
    for part in text.filter({ !$0.isWhitespace }).split(separator: ",") {
        let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
        guard let low = bounds.first.flatMap({ Int($0) }), let high = bounds.count == 2 ? Int(bounds[1]) : low,
              bounds.count <= 2, low <= high else { return nil }
        cpus.formUnion(low...high)
    }
    return cpus
}

private func readSysctl(_ path: String) -> String? {
    readSmallFile("/proc/sys/" + path)?.filter { !$0.isWhitespace }
}

private func limitText(_ bytes: UInt64) -> String {
    bytes == .max ? "unlimited" : formatBytes(Int(clamping: bytes))
}
