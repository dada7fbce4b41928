import Foundation
import Testing

/// `tickwire demo`, the README's first command: simulators, run and listen as child
/// processes on loopback, stopped in order, summaries printed.
@Suite struct DemoCommandTests {
    @Test func theDemoShowsBothVenuesValidThenStopsCleanlyWithLatencySummaries() throws {
        let (status, output) = try runTickwire(["demo", "--seconds", "4"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("bybit-linear:BTCUSDT") && output.contains("kraken:BTC/USD"), "\(output)")
        #expect(output.contains("VALID"))
        #expect(output.contains("listen: end: packets"), "\(output)")
        #expect(output.contains("gaps 0"), "\(output)")
        #expect(output.range(of: #"venue frame received->book rebuilt µs \(n=[0-9]+\): p50"#, options: .regularExpression) != nil, "\(output)")
        #expect(output.contains("demo: done; every part stopped cleanly"))
    }

    @Test(arguments: [(["--seconds", "0"], "--seconds: expected an integer in 1...86400"), (["--rate", "x"], "--rate"), (["--fast"], "unknown option")])
    func aBadArgumentIsAUsageErrorWithExitCode2(arguments: [String], message: String) throws {
        let (status, output) = try runTickwire(["demo"] + arguments)
        #expect(status == 2)
        #expect(output.contains(message), "\(output)")
    }
}
