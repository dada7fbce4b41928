import Testing
import TickwireSystem
import TickwireTestSupport
import TickwireTransport

#if canImport(Glibc)
import Glibc
#endif

@Suite("SenderConfiguration")
struct SenderFactoryTests {
    @Test func theCLIValuesBecomeAConfiguration() throws {
        let configuration = try SenderConfiguration.parse(sender: "xdp", interface: "eth1", xdpQueue: "3", noFallback: true)
        #expect(configuration.kind == .xdp && configuration.interface == "eth1")
        #expect(configuration.xdpQueue == 3 && configuration.noFallback)
        #expect(try SenderConfiguration.parse(sender: nil, interface: nil, xdpQueue: nil, noFallback: false) == SenderConfiguration())
    }

    @Test(arguments: [
        (["kernel", nil, nil], false, "--sender: expected standard or xdp (got kernel)"),
        (["xdp", nil, nil], false, "--sender xdp needs --iface NAME (the interface whose queue it binds)"),
        (["xdp", "eth0", "-1"], false, "--xdp-queue: expected a queue number 0 or more (got -1)"),
        (["standard", "eth0", "1"], false, "--xdp-queue only applies to --sender xdp"),
        (["standard", nil, nil], true, "--no-fallback only applies to --sender xdp"),
        (["xdp", "a-very-long-interface-name", nil], false,
         "--iface: expected an interface name of 1 to 15 characters (got a-very-long-interface-name)"),
    ] as [([String?], Bool, String)])
    func badCLIValuesAreOneLineErrors(values: [String?], noFallback: Bool, message: String) {
        #expect(throws: SenderOptionError(description: message)) {
            try SenderConfiguration.parse(sender: values[0], interface: values[1], xdpQueue: values[2], noFallback: noFallback)
        }
    }

    @Test func xdpThatCannotStartFallsBackToTheStandardSenderAndSaysWhy() throws {
        guard requireRoot("AF_XDP over veth") else { return }
        let pair = try VethNamespacePair()
        var configuration = SenderConfiguration(kind: .xdp, interface: pair.a.interface)
        configuration.xdpQueue = 7   // a veth has one queue
        let (sender, reason) = try pair.run(in: pair.a) { try configuration.makeSender() }
        guard case .standard = sender else {
            Issue.record("expected the standard sender, got \(sender.modeDescription)")
            return
        }
        let why = try #require(reason)
        #expect(why.contains("falling back to the standard sender"))
        #expect(why.contains("AF_XDP socket on \(pair.a.interface) queue 7"))
    }

    @Test func withNoFallbackXdpThatCannotStartIsATypedError() throws {
        var configuration = SenderConfiguration(kind: .xdp, interface: "tw-none0")
        configuration.noFallback = true
        #expect(throws: SenderStartError.xdpUnavailable(.interface("tw-none0", SystemError("if_nametoindex", errno: ENODEV)))) {
            try configuration.makeSender()
        }
    }

    @Test func whenTheInterfaceDoesNotExistTheFallbackFailsTooWithTheStandardSendersError() {
        #expect(throws: SenderStartError.standard(SystemError("if_nametoindex", errno: ENODEV))) {
            try SenderConfiguration(kind: .xdp, interface: "tw-none0").makeSender()
        }
    }

    @Test func xdpThatStartsIsTheSenderBuilt() throws {
        guard requireRoot("AF_XDP over veth") else { return }
        let pair = try VethNamespacePair()
        var configuration = SenderConfiguration(kind: .xdp, interface: pair.a.interface)
        configuration.noFallback = true
        let (sender, reason) = try pair.run(in: pair.a) { try configuration.makeSender() }
        guard case .xdp = sender else {
            Issue.record("expected the xdp sender, got \(sender.modeDescription)")
            return
        }
        #expect(reason == nil)
    }
}
