// Swift side of the sender head-to-head (scripts/bench-peers.sh senders): Tickwire's
// StandardUdpSender (sendmmsg) or XdpUdpSender sending PAYLOAD_BYTES datagrams in batches of
// BATCH to DEST_IP:PORT for SECONDS, as fast as the sender goes. The peer end drops every
// frame at XDP, so this measures the sender's cost only. Packets the sender reports as
// `wouldBlock` are simply not counted (the next batch goes out when the ring drains).
//
// Prints `packets_per_second N`, `errors N`, and the sender's mode line on stderr.
// Usage: senders_swift standard|xdp IFNAME DEST_IP PORT PAYLOAD_BYTES BATCH SECONDS
import CTickwire
import TickwireTransport

#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count == 8, let kind = SenderConfiguration.Kind(rawValue: arguments[1]),
      let address = IPv4Address(arguments[3]), let port = UInt16(arguments[4]),
      let payloadBytes = Int(arguments[5]), let batch = Int(arguments[6]), let seconds = Double(arguments[7])
else {
    fputs("usage: senders_swift standard|xdp IFNAME DEST_IP PORT PAYLOAD_BYTES BATCH SECONDS\n", stderr)
    exit(2)
}
let destination = UdpEndpoint(address: address, port: port)
var configuration = SenderConfiguration(kind: kind, interface: arguments[2])
configuration.batchSize = batch
configuration.noFallback = true

func run<Sender: UdpSender>(_ sender: inout Sender) {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: payloadBytes * batch, alignment: 64)
    buffer.initializeMemory(as: UInt8.self, repeating: 0xA5)
    let packets = UnsafeMutableBufferPointer<OutgoingPacket>.allocate(capacity: batch)
    for index in 0..<batch {
        packets[index] = OutgoingPacket(UnsafeRawBufferPointer(rebasing: buffer[index * payloadBytes..<(index + 1) * payloadBytes]))
    }
    let duration = UInt64(seconds * 1e9)
    var sent = 0
    var errors = 0
    let start = ctw_monotonic_ns()
    var elapsed: UInt64 = 0
    while elapsed < duration {
        let report = sender.send(UnsafeBufferPointer(packets), to: destination)
        sent += report.packets
        errors += report.errors
        elapsed = ctw_monotonic_ns() - start
    }
    print("packets_per_second \(Int(Double(sent) / (Double(elapsed) / 1e9)))")
    print("errors \(errors)")
}

do {
    switch try configuration.makeSender().sender {
    case .standard(var sender):
        fputs("\(sender.modeDescription)\n", stderr)
        run(&sender)
    case .xdp(var sender):
        fputs("\(sender.modeDescription)\n", stderr)
        try sender.prepare(destination)
        run(&sender)
    }
} catch {
    fputs("senders_swift: \(error)\n", stderr)
    exit(1)
}
