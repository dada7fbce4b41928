import Testing

/// `tickwire doctor` on the machine the tests run on: whatever it finds, every line is a
/// check with a status, every WARN/FAIL has its remedy, and the exit status says whether one failed.
@Suite struct DoctorCommandTests {
    @Test func everyCheckHasAStatusEveryShortfallARemedyAndTheExitStatusFollowsTheFails() throws {
        let (status, output) = try runTickwire(["doctor"])
        let lines = output.split(separator: "\n")
        #expect(!lines.isEmpty)
        var failed = false
        for (index, line) in lines.enumerated() {
            if line.hasPrefix("      remedy: ") { continue }
            let word = line.prefix(6)
            #expect(["PASS  ", "WARN  ", "FAIL  "].contains(word), "line without a status: \(line)")
            if word == "FAIL  " { failed = true }
            if word != "PASS  " {
                #expect(lines.indices.contains(index + 1) && lines[index + 1].hasPrefix("      remedy: "), "no remedy under: \(line)")
            }
        }
        for name in ["net.core.rmem_max", "net.core.wmem_max", "udp buffer errors", "memlock limit", "mlockall", "capabilities", "hugetlb pages", "hot-path memory",
                     "transparent huge pages", "isolated cores", "nohz_full", "cpus available", "numa", "cpu flags", "interface"] {
            #expect(output.contains("  \(name): "), "no \(name) check")
        }
        #expect(status == (failed ? 1 : 0))
    }

    @Test func anUnknownInterfaceIsAFailAndExits1WithJSONLines() throws {
        let (status, output) = try runTickwire(["doctor", "--iface", "tw-no-such0", "--json"])
        #expect(status == 1)
        let lines = output.split(separator: "\n")
        #expect(lines.allSatisfy { $0.hasPrefix("{\"check\":") && $0.hasSuffix("}") })
        #expect(output.contains(#"{"check":"interface","status":"fail","found":"tw-no-such0: no such interface here""#))
    }
}
