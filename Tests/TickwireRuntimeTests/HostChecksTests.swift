import Testing
import TickwireTestSupport
import TickwireSystem
@testable import TickwireRuntime

// The doctor's host checks: each parser on text in the kernel's own format, each verdict on
// typed facts, and the XDP query against a real veth in a namespace.

@Suite struct HostFactParsingTests {
    static let snmp = """
        Ip: Forwarding DefaultTTL InReceives
        Ip: 1 64 12345
        Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
        Udp: 16594 0 4345667 4363802 4345664 2 3 0 0
        UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
        UdpLite: 9 9 9 9 9 9 9 9 9

        """

    @Test func udpCountersComeFromTheUdpLinesOfProcNetSnmpNotUdpLite() {
        #expect(UdpErrorCounters(snmp: Self.snmp) == UdpErrorCounters(receiveBufferErrors: 4_345_664, sendBufferErrors: 2, inErrors: 4_345_667))
    }

    @Test func procNetSnmpWithoutUdpLinesGivesNoCounters() {
        #expect(UdpErrorCounters(snmp: "Ip: Forwarding\nIp: 1\n") == nil)
        #expect(UdpErrorCounters(snmp: "Udp: InErrors RcvbufErrors\nUdp: 1\n") == nil)
    }

    @Test func udp6CountersComeFromTheNameValueLinesOfProcNetSnmp6() {
        let snmp6 = "Ip6InReceives                   \t7\nUdp6InDatagrams                 \t5\nUdp6InErrors                    \t4\nUdp6RcvbufErrors                \t3\nUdp6SndbufErrors                \t1\nUdpLite6InErrors                \t9\n"
        #expect(UdpErrorCounters(snmp6: snmp6) == UdpErrorCounters(receiveBufferErrors: 3, sendBufferErrors: 1, inErrors: 4))
    }

    @Test func capEffIsReadAsHexAndAnswersPerCapability() throws {
        let status = "Name:\ttickwire\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t0000008000007000\n"
        let set = try #require(CapabilitySet(effectiveFromStatus: status))
        #expect(set.bits == 0x80_0000_7000)
        #expect([Capability.netAdmin, .netRaw, .ipcLock, .bpf].allSatisfy(set.contains))
        #expect(!set.contains(.sysNice))
        #expect(CapabilitySet(effectiveFromStatus: "Name:\tx\nCapEff:\tnot-hex\n") == nil)
        #expect(CapabilitySet(effectiveFromStatus: "Name:\tx\n") == nil)
    }

    @Test func cpuFlagsComeFromTheFirstFlagsLineOfProcCpuinfo() throws {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 sse4_2 avx2 bmi2\nbugs\t\t: spectre_v1\n\nprocessor\t: 1\nflags\t\t: fpu\n"
        #expect(CPUFlags.parse(cpuinfo: cpuinfo) == ["fpu", "sse2", "sse4_2", "avx2", "bmi2"])
        #expect(CPUFlags.parse(cpuinfo: "processor\t: 0\n") == nil)
    }

    @Test func theBinaryIsBuiltForFlagsThisCPUHas() throws {
        // The shim's compile-time flags, checked against the real CPU the tests run on.
        let cpu = try #require(readSmallFile("/proc/cpuinfo").flatMap(CPUFlags.parse(cpuinfo:)))
        #expect(CPUFlags.builtFor.allSatisfy(cpu.contains))
    }

    @Test func hugePagePoolComesFromProcMeminfo() throws {
        let meminfo = "MemTotal:       24000000 kB\nAnonHugePages:         0 kB\nHugePages_Total:      64\nHugePages_Free:       60\nHugePages_Rsvd:        8\nHugePages_Surp:        0\nHugepagesize:       2048 kB\n"
        let pool = try #require(HugePagePool(meminfo: meminfo))
        #expect(pool == HugePagePool(pageBytes: 2 << 20, total: 64, free: 60, reserved: 8))
        #expect(pool.available == 52)
        #expect(HugePagePool(meminfo: "MemTotal: 1 kB\n") == nil)
    }

    @Test func theDefaultRouteInterfaceHasZeroDestinationAndMask() {
        let route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
            + "eth1\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
            + "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        #expect(defaultRouteInterface(procNetRoute: route) == "eth0")
        #expect(defaultRouteInterface(procNetRoute: String(route.prefix { $0 != "\n" }) + "\n") == nil)
    }

    @Test func cpuListsAreRangesAndSingles() {
        #expect(parseCPUList("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11])
        #expect(parseCPUList("") == [])
        #expect(parseCPUList("3-1") == nil)
        #expect(parseCPUList("a") == nil)
    }
}

@Suite struct HostCheckVerdictTests {
    @Test func aSocketBufferCeilingBelowTheWantedSizeWarnsWithTheSysctlUnlessTheProcessCanForce() throws {
        let low = HostChecks.socketBufferCeiling(sysctl: "net.core.rmem_max", value: 4 << 20, wantedBytes: 16 << 20, canForce: false)
        #expect(low.status == .warn)
        #expect(try #require(low.remedy).contains("sysctl -w net.core.rmem_max=16777216"))
        #expect(HostChecks.socketBufferCeiling(sysctl: "net.core.rmem_max", value: 4 << 20, wantedBytes: 16 << 20, canForce: true).status == .pass)
        #expect(HostChecks.socketBufferCeiling(sysctl: "net.core.rmem_max", value: 16 << 20, wantedBytes: 16 << 20, canForce: false).status == .pass)
    }

    @Test func udpBufferErrorsSinceBootAreAWarningAndNoneAPass() {
        let clean = UdpErrorCounters(receiveBufferErrors: 0, sendBufferErrors: 0, inErrors: 0)
        #expect(HostChecks.udpBufferErrorCheck(udp4: clean, udp6: clean).status == .pass)
        let dropped = HostChecks.udpBufferErrorCheck(udp4: clean, udp6: UdpErrorCounters(receiveBufferErrors: 7, sendBufferErrors: 0, inErrors: 7))
        #expect(dropped.status == .warn)
        #expect(dropped.found.contains("Udp6 RcvbufErrors 7"))
        #expect(dropped.remedy?.contains("rmem_max") == true)
    }

    @Test func missingCapabilitiesAreNamedWithWhatTheyAreFor() {
        let check = HostChecks.capabilityCheck(CapabilitySet(bits: 1 << 14))
        #expect(check.status == .warn)
        #expect(check.found.contains("CAP_BPF (loading XDP programs)"))
        #expect(!check.found.contains("CAP_IPC_LOCK ("))
        #expect(check.remedy?.contains("AmbientCapabilities=") == true)
        #expect(HostChecks.capabilityCheck(CapabilitySet(bits: .max)).status == .pass)
    }

    @Test func anEmptyHugePagePoolWarnsAndOneWithPagesLeftPasses() {
        #expect(HostChecks.hugePageCheck(HugePagePool(pageBytes: 2 << 20, total: 0, free: 0, reserved: 0)).status == .warn)
        #expect(HostChecks.hugePageCheck(HugePagePool(pageBytes: 2 << 20, total: 64, free: 8, reserved: 8)).status == .warn)
        #expect(HostChecks.hugePageCheck(HugePagePool(pageBytes: 2 << 20, total: 64, free: 60, reserved: 8)).status == .pass)
    }

    @Test func aFlagTheBinaryNeedsButTheCPULacksFails() {
        let check = HostChecks.cpuFlagCheck(builtFor: ["sse2", "avx2", "bmi2"], cpu: ["sse2", "bmi2"])
        #expect(check.status == .fail)
        #expect(check.found.hasSuffix("lacks avx2"))
        #expect(check.remedy != nil)
        #expect(HostChecks.cpuFlagCheck(builtFor: ["sse2"], cpu: ["sse2", "avx2"]).status == .pass)
    }

    @Test func xdpWithoutDriverSupportIsGenericAndWithoutZeroCopyIsCopyMode() {
        #expect(InterfaceChecks.xdpCheck(interface: "x", features: []).found.hasSuffix("generic (skb) mode only"))
        let copy = InterfaceChecks.xdpCheck(interface: "x", features: [.basic, .redirect, .receiveScatterGather])
        #expect(copy.status == .warn)
        #expect(copy.found == "x: features basic redirect rx-sg: native (driver) mode, zero-copy no: AF_XDP copies every frame")
        #expect(InterfaceChecks.xdpCheck(interface: "x", features: [.basic, .redirect, .zeroCopy]).status == .pass)
    }

    @Test func aCheckPrintsAsStatusLineAndRemedyLineOrAsOneJSONObject() {
        let check = HostCheck.warn("nohz_full", "none \"here\"", remedy: "nohz_full=2-3")
        #expect(check.description == "WARN  nohz_full: none \"here\"\n      remedy: nohz_full=2-3")
        #expect(check.json == #"{"check":"nohz_full","status":"warn","found":"none \"here\"","remedy":"nohz_full=2-3"}"#)
        #expect(HostCheck.pass("numa", "1 node").json == #"{"check":"numa","status":"pass","found":"1 node"}"#)
    }
}

@Suite struct InterfaceCheckTests {
    @Test func aVethInANamespaceHasNativeXdpButNoZeroCopy() throws {
        guard requireRoot("a veth pair in network namespaces") else { return }
        let pair = try VethNamespacePair()
        let (features, check) = try pair.run(in: pair.a) {
            (try XdpFeatures.query(interface: pair.a.interface), InterfaceChecks.xdpSupport(interface: pair.a.interface))
        }
        #expect(features.supportsNativeMode)
        #expect(!features.supportsZeroCopy)
        #expect(check.status == .warn)
        #expect(check.found.hasSuffix("native (driver) mode, zero-copy no: AF_XDP copies every frame"))
    }

    @Test func anInterfaceThatDoesNotExistIsAFail() {
        let checks = InterfaceChecks.all(interface: "tw-no-such0")
        #expect(checks.map(\.status) == [.fail])
    }
}
