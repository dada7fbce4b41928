import CTickwire

/// CPU instruction-set flags, by their /proc/cpuinfo names (sse4_2, avx2, bmi2, …).
public enum CPUFlags {
    /// The flags the C shim was compiled for (its -march/-m… predefined macros). Code built
    /// for them traps with SIGILL on a CPU that lacks one.
    public static var builtFor: [String] {
        String(cString: ctw_host_built_cpu_flags()).split(separator: " ").map(String.init)
    }

    /// The `flags` line of the first processor in a /proc/cpuinfo text; nil without one.
    public static func parse(cpuinfo text: String) -> Set<String>? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") && $0.contains(":") }),
              let colon = line.firstIndex(of: ":")
        else { return nil }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
}
