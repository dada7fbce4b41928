import Foundation
import Testing
import TickwireSystem

@Suite struct CPUSetTests {
    @Test func pinningAThreadRestrictsItToThatCPU() throws {
        let result = onDedicatedThread { () -> Result<(CPUSet, Int), SystemError> in
            Result { () throws(SystemError) in
                try CPUSet(cpu: 0).pinCurrentThread()
                return (try CPUSet.currentThread(), CPUSet.currentCPU)
            }
        }
        let (affinity, cpu) = try result.get()
        #expect(affinity == CPUSet(cpu: 0))
        #expect(cpu == 0)
    }

    @Test func aCPUThatDoesNotExistIsAnErrorNamingTheSyscall() {
        let result = onDedicatedThread { () -> SystemError? in
            do throws(SystemError) { try CPUSet(cpu: 1000).pinCurrentThread(); return nil } catch { return error }
        }
        #expect(result == SystemError("sched_setaffinity", errno: EINVAL))
        #expect(result?.description == "sched_setaffinity failed: Invalid argument (errno 22)")
    }

    @Test func theCurrentAffinityListsAvailableCPUs() throws {
        let affinity = try CPUSet.currentThread()
        #expect(!affinity.cpus.isEmpty)
        #expect(affinity.cpus.allSatisfy { $0 >= 0 })
    }
}

@Suite struct MemoryLockTests {
    @Test(.enabled(if: isRoot, needsRoot))
    func lockingAllMemorySucceedsWithCapIpcLock() throws {
        try MemoryLock.lockAll()
        try MemoryLock.unlockAll()
    }

    @Test func remediesNameTheLimitAndTheCapability() {
        #expect(MemoryLock.remedy(for: SystemError("mlockall", errno: EPERM)).contains("CAP_IPC_LOCK"))
        #expect(MemoryLock.remedy(for: SystemError("mlockall", errno: ENOMEM)).contains("LimitMEMLOCK=infinity"))
    }
}
