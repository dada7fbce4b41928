import CTickwire
import Foundation
import Testing
import TickwireSystem

/// The hugetlb pool is global: these tests change it, so they run one at a time.
@Suite(.serialized) struct HotMemoryTests {
    @Test func normalPagesAreRoundedToThePageAndZeroed() throws {
        let memory = try HotMemory(bytes: 10_000, policy: HotMemoryPolicy(attempts: [.normal]))
        #expect(memory.kind == .normal)
        #expect(memory.size == 12_288)
        #expect(memory.refusals.isEmpty)
        #expect(Int(bitPattern: memory.base) % 4096 == 0)
        #expect(memory.base.load(fromByteOffset: 12_287, as: UInt8.self) == 0)
    }

    @Test(.enabled(if: HotMemory.transparentHugePagesEnabled, "THP is disabled on this host"))
    func transparentHugePagesAreAlignedToTwoMebibytes() throws {
        let memory = try HotMemory(bytes: 3 << 20, policy: HotMemoryPolicy(attempts: [.transparentHuge, .normal]))
        #expect(memory.kind == .transparentHuge)
        #expect(memory.size == 4 << 20)
        #expect(Int(bitPattern: memory.base) % (2 << 20) == 0)
        memory.base.storeBytes(of: 0xABCD, toByteOffset: memory.size - 8, as: UInt64.self)
        #expect(memory.base.load(fromByteOffset: memory.size - 8, as: UInt64.self) == 0xABCD)
    }

    @Test(.enabled(if: isRoot, needsRoot))
    func withNoHugePagesReservedHugetlbFailsWithENOMEMAndFallsBackToTHP() throws {
        try withSysctl("vm.nr_hugepages", "0") {
            let memory = try HotMemory(bytes: 1 << 20)
            #expect(memory.refusals.first?.kind == .hugeTLB2MiB)
            #expect(memory.refusals.first?.error.errno == ENOMEM)
            #expect(memory.kind == (HotMemory.transparentHugePagesEnabled ? .transparentHuge : .normal))
            #expect(memory.description.contains("refused: hugetlb-2MiB: mmap(MAP_HUGETLB) failed: Cannot allocate memory"))
        }
    }

    @Test(.enabled(if: isRoot, needsRoot))
    func withHugePagesReservedTheRegionLivesOnHugetlb() throws {
        try withSysctl("vm.nr_hugepages", "64") {
            let memory = try HotMemory(bytes: 1 << 20)
            #expect(memory.kind == .hugeTLB2MiB)
            #expect(memory.size == 2 << 20)
            #expect(memory.refusals.isEmpty)
            #expect(Int(bitPattern: memory.base) % (2 << 20) == 0)
        }
    }

    @Test(.enabled(if: isRoot, needsRoot))
    func gigantic1GiBPagesAreTriedFirstAndRefusalsAreRecordedInOrder() throws {
        // No 1 GiB pool on this host: the 1 GiB attempt fails, then 2 MiB (no pool) fails, then THP.
        try withSysctl("vm.nr_hugepages", "0") {
            let memory = try HotMemory(bytes: 1 << 20, policy: .gigantic)
            #expect(memory.refusals.map(\.kind) == [.hugeTLB1GiB, .hugeTLB2MiB])
            #expect(memory.kind != .hugeTLB2MiB)
        }
    }

    @Test(.enabled(if: ctw_numa_available() >= 0, "libnuma reports no NUMA support"))
    func memoryCanBeBoundToNumaNodeZero() throws {
        let memory = try HotMemory(bytes: 1 << 20, policy: HotMemoryPolicy(attempts: [.normal], numaNode: 0))
        #expect(memory.numaNode == 0)
        #expect(memory.description.contains("on NUMA node 0"))
    }

    @Test func anAbsentNumaNodeIsAnErrorNamingMbind() {
        let policy = HotMemoryPolicy(attempts: [.normal], numaNode: 60)
        #expect(throws: SystemError("mbind", errno: EINVAL)) { try HotMemory(bytes: 4096, policy: policy) }
    }
}
