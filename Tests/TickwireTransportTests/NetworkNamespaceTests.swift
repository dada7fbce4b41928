import Foundation
import Testing
import TickwireTestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite("VethNamespacePair")
struct NetworkNamespaceTests {
    @Test func bothEndsAreUpWithAddressesAndMTUAndEverythingIsGoneAfterTearDown() throws {
        guard requireRoot("veth namespace pair") else { return }
        let pair = try VethNamespacePair(mtu: 1400)
        for side in [pair.a, pair.b] {
            let link = try pair.execute(in: side, ["ip", "addr", "show", side.interface])
            #expect(link.contains("mtu 1400") && link.contains("LOWER_UP") && link.contains("inet \(side.address)/24"))
        }
        let routes = try pair.execute(in: pair.a, ["ip", "route", "show"])
        #expect(routes.contains("224.0.0.0/4 dev \(pair.a.interface)"))
        pair.tearDown()
        let namespaces = try runCommand(["ip", "netns", "list"])
        #expect(!namespaces.contains(pair.a.namespace) && !namespaces.contains(pair.b.namespace))
    }

    @Test func aClosureRunsInsideTheNamespaceAndTheCallerStaysOutside() throws {
        guard requireRoot("veth namespace pair") else { return }
        let pair = try VethNamespacePair()
        let inside = try pair.run(in: pair.b) { if_nametoindex(pair.b.interface) }
        #expect(inside != 0)
        #expect(if_nametoindex(pair.b.interface) == 0)
    }
}
