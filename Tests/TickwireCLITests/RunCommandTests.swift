import Foundation
import Testing

@Suite struct RunArgumentTests {
    @Test(arguments: [
        ([], "--config FILE or --venue FILE is required"),
        (["--config", "main.toml", "--venue", "v.toml"], "--venue goes in main.toml"),
        (["--venue", "v.toml", "--channel", "239.1.1.1:3000", "--topology", "pipelined"], "--topology: expected staged or fused"),
        (["--venue", "v.toml", "--channel", "239.1.1.1:3000", "--idle", "nap"], "--idle: expected busy-spin"),
        (["--venue", "v.toml", "--channel", "239.1.1.1:3000", "--idle", "busy-spin", "--idle-sleep-us", "5"], "give one"),
        (["--venue", "v.toml"], "--channel GROUP:PORT is required"),
        (["--venue", "v.toml", "--channel", "10.0.0.1:3000"], "is not a multicast group"),
        (["--venue", "v.toml", "--channel", "239.1.1.1:3000", "--channel-b", "239.1.1.1:3000"], "must be different group:port pairs"),
        (["--venue", "v.toml", "--channel", "239.1.1.1:3000", "--retransmit", "publisher:4000"], "expected HOST:PORT"),
        (["--venue", "v.toml", "--channel", "239.1.1.1:3000", "--snapshot-rate", "0"], "--snapshot-rate: expected an integer in 1...1000000"),
        (["--venue", "v.toml", "--channel", "239.1.1.1:3000", "--channel-id", "65535"], "--channel-id: expected an integer in 1...65534"),
        (["--venue", "v.toml", "--channel", "239.1.1.1:3000", "--sender", "dpdk"], "--sender"),
        (["--venue", "v.toml", "--channel", "239.1.1.1:3000", "--frobnicate"], "unknown option '--frobnicate'"),
        (["--venue", "v.toml", "--channel", "239.1.1.1:3000", "--latency-histogram", "/nonexistent/latency.txt"],
         "--latency-histogram: cannot create /nonexistent/latency.txt: No such file or directory"),
    ])
    func aBadArgumentIsAUsageErrorWithExitCode2(arguments: [String], message: String) throws {
        let (status, output) = try runTickwire(["run"] + arguments)
        #expect(status == 2)
        #expect(output.contains(message), "\(output)")
        #expect(output.contains("Usage: tickwire run"))
    }

    @Test func aVenueFileThatCannotBeReadExitsWithTwoAndNamesIt() throws {
        let (status, output) = try runTickwire(["run", "--venue", "/nonexistent/venue.toml", "--channel", "239.1.1.1:3000"])
        #expect(status == 2)
        #expect(output.contains("/nonexistent/venue.toml"), "\(output)")
    }

    @Test func aMainFileThatCannotBeReadExitsWithTwoAndNamesIt() throws {
        let (status, output) = try runTickwire(["run", "--config", "/nonexistent/main.toml"])
        #expect(status == 2)
        #expect(output.contains("/nonexistent/main.toml: cannot read the file"), "\(output)")
    }

    @Test func anXdpSenderThatCannotStartWithNoFallbackExitsWithOneAndSaysWhy() throws {
        let (status, output) = try runTickwire(["run", "--venue", "config/bybit-linear.toml", "--channel", "239.1.1.1:3000",
                                                "--sender", "xdp", "--iface", "twnosuch0", "--no-fallback"])
        #expect(status == 1)
        #expect(output.contains("xdp sender cannot start (--no-fallback given)"), "\(output)")
    }
}
