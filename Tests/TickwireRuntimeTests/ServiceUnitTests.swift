import Foundation
import Testing
import TickwireTestSupport

// The shipped systemd unit and its install script, checked with the real tools.

@Suite struct ServiceUnitTests {
    static let unitPath = packageRoot.appendingPathComponent("scripts/systemd/tickwire.service").path
    static let installScript = packageRoot.appendingPathComponent("scripts/install-service.sh").path
    static var builtBinary: String { productsDirectory.appendingPathComponent("tickwire").path }

    /// `systemd-analyze verify` checks that ExecStart= names an existing executable, and the
    /// shipped path (/usr/local/bin/tickwire) exists only once installed. So the test verifies
    /// a copy whose one difference is ExecStart= pointing at the binary this build produced;
    /// everything else (directives, capabilities, hardening, dependencies) is the shipped text.
    /// Verify exits 0 on unknown keys and bad values, so its output must be empty, not just its status.
    @Test func shippedUnitVerifiesCleanWithSystemdAnalyze() throws {
        let shipped = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
        let installed = "ExecStart=/usr/local/bin/tickwire "
        #expect(shipped.components(separatedBy: installed).count == 2, "one ExecStart= running the installed binary")
        let directory = try TemporaryDirectory()
        let copy = directory.path + "/tickwire.service"
        try shipped.replacingOccurrences(of: installed, with: "ExecStart=\(Self.builtBinary) ")
            .write(toFile: copy, atomically: true, encoding: .utf8)

        let output = try runCommand(["sh", "-c", "systemd-analyze verify --man=no \"$0\" 2>&1", copy])
        #expect(output == "", "systemd-analyze verify printed: \(output)")
    }

    @Test func unitAsksForNotifyWatchdogAndOnlyTheNeededCapabilities() throws {
        let lines = try String(contentsOfFile: Self.unitPath, encoding: .utf8).split(separator: "\n").map(String.init)
        let capabilities = "CAP_NET_ADMIN CAP_NET_RAW CAP_IPC_LOCK CAP_SYS_NICE CAP_BPF"
        for directive in ["Type=notify", "NotifyAccess=main", "Restart=on-failure", "LimitMEMLOCK=infinity",
                          "User=tickwire", "NoNewPrivileges=yes", "ProtectSystem=strict", "KillSignal=SIGTERM",
                          "AmbientCapabilities=\(capabilities)", "CapabilityBoundingSet=\(capabilities)",
                          "ExecReload=/bin/kill -HUP $MAINPID"] {
            #expect(lines.contains(directive), "missing \(directive)")
        }
        #expect(lines.contains { $0.hasPrefix("WatchdogSec=") })
        #expect(lines.contains { $0.hasPrefix("CPUAffinity=") })
    }

    @Test func installDryRunPrintsEveryStepAndNeedsNoRoot() throws {
        let output = try runCommand([Self.installScript, "--dry-run", Self.builtBinary])
        #expect(output.contains("would run: install -D -m 0755 \(Self.builtBinary) /usr/local/bin/tickwire"))
        #expect(output.contains("would run: install -D -m 0644 \(Self.unitPath) /etc/systemd/system/tickwire.service"))
        #expect(output.contains("would run: useradd --system") || output.contains("user tickwire exists"))
        for venue in ["binance-spot.toml", "okx.toml"] {
            #expect(output.contains("/etc/tickwire/\(venue)"), "installs or keeps \(venue)")
        }
    }

    /// A real install, twice, as root — inside a private mount namespace whose /etc and
    /// /usr/local are overlays on throwaway directories, so the host gains no user and no files.
    @Test func installTwiceCreatesTheUserOnceAndKeepsTheOperatorsConfig() throws {
        guard requireRoot("installing into overlays of /etc and /usr/local") else { return }
        let scratch = try TemporaryDirectory()
        for directory in ["etc-upper", "etc-work", "local-upper", "local-work"] {
            try FileManager.default.createDirectory(atPath: scratch.path + "/" + directory, withIntermediateDirectories: true)
        }
        let script = """
            set -e
            mount -t overlay overlay -o lowerdir=/etc,upperdir=$0/etc-upper,workdir=$0/etc-work /etc
            mount -t overlay overlay -o lowerdir=/usr/local,upperdir=$0/local-upper,workdir=$0/local-work /usr/local
            $1 $2
            echo "operator edit" >> /etc/tickwire/okx.toml
            echo "== second run"
            $1 $2
            echo "== result"
            getent passwd tickwire | cut -d: -f1,7
            stat -c '%n %U:%G %a' /etc/tickwire /etc/tickwire/okx.toml /usr/local/bin/tickwire /etc/systemd/system/tickwire.service
            tail -n 1 /etc/tickwire/okx.toml
            cmp /etc/systemd/system/tickwire.service $3 && echo "unit as shipped"
            """
        let output = try runCommand(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                                     scratch.path, Self.installScript, Self.builtBinary, Self.unitPath])
        let parts = output.components(separatedBy: "== second run\n")
        let second = try #require(parts.last?.components(separatedBy: "== result\n").first)
        let result = try #require(output.components(separatedBy: "== result\n").last).split(separator: "\n").map(String.init)
        #expect(second.contains("user tickwire exists"))
        #expect(!second.contains("useradd"))
        #expect(second.contains("keeping existing /etc/tickwire/okx.toml"))
        #expect(result == [
            "tickwire:/usr/sbin/nologin",
            "/etc/tickwire root:tickwire 750",
            "/etc/tickwire/okx.toml root:tickwire 640",
            "/usr/local/bin/tickwire root:root 755",
            "/etc/systemd/system/tickwire.service root:root 644",
            "operator edit",
            "unit as shipped",
        ])
    }

    @Test func installRefusesAMissingBinaryAndUnknownOptions() throws {
        #expect {
            try runCommand([Self.installScript, "--dry-run", "/nonexistent/tickwire"])
        } throws: { error in
            let failure = error as? CommandFailure
            return failure?.status == 1 && failure?.standardError.contains("no executable at /nonexistent/tickwire") == true
        }
        #expect {
            try runCommand([Self.installScript, "--frobnicate"])
        } throws: { error in
            (error as? CommandFailure)?.status == 2
        }
    }
}
