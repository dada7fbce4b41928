import ArgumentParser
import CTickwire
import TickwireClient
import TickwireCore
import TickwireSystem
import TickwireTransport

#if canImport(Glibc)
import Glibc
#endif

/// `tickwire listen`: joins one incremental channel (and its B line, snapshot channel and
/// retransmission service) with the TickwireClient library, and prints the rebuilt books.
///
/// Options are parsed by `run` itself, as in `watch`, so every bad argument exits 2 with a
/// specific message.
struct Listen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join Tickwire channels and print books and latencies.",
        discussion: """
            --format jsonl (default) prints the `tickwire watch` line (same keys, same rule) for \
            every venue update applied to a usable book, from the book rebuilt from the channel; \
            recv_ns is the receive time of the datagram that completed it. A book that turns \
            invalid (gap, publisher status, new session) prints one "valid":false line. \
            --format table redraws the top of every book; --format stats prints, every second, \
            packet and message rates, duplicates, gaps, retransmissions, snapshot recoveries, \
            kernel drops and the send->receive latency (p50/p99/p99.9/max). \
            Exit status: 0 on SIGINT/SIGTERM or, with --exit-on-end, once the channel's session \
            ended; 1 when the sockets cannot be set up or --latency-histogram cannot be written; 2 for bad arguments.
            """
    )

    @Option(help: ArgumentHelp("Incremental channel (line A), e.g. 239.1.1.1:30001.", valueName: "group:port"))
    var channel: String?
    @Option(name: .customLong("channel-b"), help: ArgumentHelp("Line B of the same channel (A/B arbitration).", valueName: "group:port"))
    var channelB: String?
    @Option(help: ArgumentHelp("The channel's snapshot channel (late join and gap recovery).", valueName: "group:port"))
    var snapshot: String?
    @Option(help: ArgumentHelp("The publisher's retransmission service (unicast).", valueName: "host:port"))
    var retransmit: String?
    @Option(help: ArgumentHelp("Interface to join the groups on (required for --backend xdp).", valueName: "name"))
    var iface: String?
    @Option(help: ArgumentHelp("Receive backend: socket (default) or xdp.", valueName: "backend"))
    var backend: String?
    @Option(help: ArgumentHelp("Output: jsonl (default), table or stats.", valueName: "format"))
    var format: String?
    @Option(help: ArgumentHelp("Levels printed per side (1...1000; default 10 for jsonl).", valueName: "n"))
    var depth: String?
    @Option(name: .customLong("idle-sleep-us"),
            help: ArgumentHelp("Microseconds to sleep after an empty poll (default 0: busy-poll).", valueName: "us"))
    var idleSleep: String?
    @Option(name: .customLong("max-packet-size"),
            help: ArgumentHelp("Largest packet taken whole and held for recovery, bytes (default 2048; the publisher's limit is 1400 unless configured for jumbo frames).", valueName: "bytes"))
    var maxPacketSize: String?
    @Flag(name: .customLong("exit-on-end"), help: "Exit 0 once the channel has sent end of session.")
    var exitOnEnd = false
    @Option(name: .customLong("latency-histogram"),
            help: ArgumentHelp("At exit, write the latency histograms of table/stats here (rows per bucket; docs/BENCHMARKS.md).", valueName: "file"))
    var latencyHistogram: String?

    @Argument(parsing: .allUnrecognized, help: .hidden)
    var unrecognized: [String] = []

    enum Backend: String { case socket, xdp }

    func run() throws {
        let options = parse()
        let runner: ListenRunner
        do {
            runner = try ListenRunner(options)
        } catch {
            printError("error: tickwire listen: \(error)")
            throw ExitCode(1)
        }
        installStopSignals()
        try runner.run()
    }

    private func parse() -> ListenOptions {
        rejectUnrecognized(unrecognized, fail: usageError)
        guard let channel else { usageError("--channel GROUP:PORT is required (e.g. --channel 239.1.1.1:30001)") }
        guard let format = ListenOutput.Format(rawValue: format ?? "jsonl") else {
            usageError("--format: expected jsonl, table or stats (got '\(format ?? "")')")
        }
        guard let backend = Backend(rawValue: backend ?? "socket") else {
            usageError("--backend: expected socket or xdp (got '\(backend ?? "")')")
        }
        if backend == .xdp && iface == nil { usageError("--backend xdp needs --iface NAME (the interface whose queue it binds)") }
        let levels = integerOption(depth, "--depth", in: 1...1000, default: format == .table ? 1 : 10, fail: usageError)
        let sleepMicroseconds = integerOption(idleSleep, "--idle-sleep-us", in: UInt32(0)...1_000_000, default: 0, fail: usageError)
        let packetSize = integerOption(maxPacketSize, "--max-packet-size", in: WireProtocol.packetHeaderSize...WireProtocol.largestPacketSize,
                                       default: 2048, fail: usageError)
        let groups = channelGroups(channel, channelB, snapshot, fail: usageError)
        if let latencyHistogram {
            if format == .jsonl { usageError("--latency-histogram needs --format stats or table (jsonl keeps no latencies)") }
            LatencyHistogramFile.prepare(latencyHistogram, fail: usageError)
        }
        return ListenOptions(
            lineA: groups.lineA, lineB: groups.lineB, snapshot: groups.snapshot,
            retransmit: endpointOption(retransmit, "--retransmit", multicast: false, fail: usageError),
            interface: iface, backend: backend, format: format, levels: levels, maxPacketSize: packetSize,
            idleSleepMicroseconds: sleepMicroseconds, exitOnEnd: exitOnEnd, latencyHistogram: latencyHistogram)
    }

    private func usageError(_ message: String) -> Never {
        printError("""
            error: tickwire listen: \(message)
            Usage: tickwire listen --channel GROUP:PORT [--channel-b GROUP:PORT] [--snapshot GROUP:PORT] [--retransmit HOST:PORT]
                                   [--iface NAME] [--backend socket|xdp] [--format jsonl|table|stats] [--depth N]
                                   [--max-packet-size BYTES] [--idle-sleep-us US] [--exit-on-end] [--latency-histogram FILE]
              See 'tickwire listen --help'.
            """)
        Glibc.exit(2)
    }
}

struct ListenOptions {
    var lineA: UdpEndpoint
    var lineB: UdpEndpoint?
    var snapshot: UdpEndpoint?
    var retransmit: UdpEndpoint?
    var interface: String?
    var backend: Listen.Backend
    var format: ListenOutput.Format
    var levels: Int
    var maxPacketSize: Int
    var idleSleepMicroseconds: UInt32
    var exitOnEnd: Bool
    var latencyHistogram: String?
}

/// Sends retransmission requests from the socket the answers come back to.
struct SocketRetransmissionRequester: RetransmissionRequester {
    let socket: UnicastUdpSocket
    let service: UdpEndpoint

    mutating func sendRequest(_ packet: UnsafeRawBufferPointer) -> Bool {
        do {
            return try socket.send(packet, to: service)
        } catch {
            printError("listen: retransmission request to \(service): \(error)")
            return false
        }
    }
}

/// The sockets, the client and the poll loop.
struct ListenRunner {
    let options: ListenOptions
    /// One socket per group (socket backend: they deliver; xdp backend: they only hold the
    /// group membership so the NIC lets the group's frames in).
    let lineA: SocketUdpReceiver
    let lineB: SocketUdpReceiver?
    let snapshot: SocketUdpReceiver?
    /// Sends retransmission requests and receives the answers (unicast, an ephemeral port).
    let retransmission: UnicastUdpSocket?
    let xdp: XdpUdpReceiver?

    static let maxInstruments = 256
    static let levelsPerSide = 5000

    init(_ options: ListenOptions) throws {
        self.options = options
        func join(_ endpoint: UdpEndpoint) throws(SystemError) -> SocketUdpReceiver {
            var configuration = SocketReceiverConfiguration(endpoint: endpoint, interface: options.interface)
            configuration.maxDatagramSize = options.maxPacketSize
            return try SocketUdpReceiver(configuration: configuration)
        }
        lineA = try join(options.lineA)
        lineB = try options.lineB.map(join)
        snapshot = try options.snapshot.map(join)
        retransmission = try options.retransmit.map { _ in try UnicastUdpSocket(bindingTo: UdpEndpoint(address: IPv4Address(0), port: 0)) }
        if options.backend == .xdp, let interface = options.interface {
            let ports = Array(Set([options.lineA, options.lineB, options.snapshot].compactMap { $0?.port }))
            xdp = try XdpUdpReceiver(XdpReceiverConfiguration(interface: interface, ports: ports))
        } else {
            xdp = nil
        }
        for receiver in [lineA, lineB, snapshot].compactMap({ $0 }) {
            printError("listen: \(receiver.modeDescription)")
            if let warning = receiver.receiveBuffer.warning { printError("listen: warning: \(warning)") }
        }
        if let xdp { printError("listen: \(xdp.modeDescription)") }
        if let retransmission, let service = options.retransmit {
            printError("listen: retransmission requests to \(service) from \(retransmission.localEndpoint)")
        }
    }

    func run() throws {
        var configuration = FeedClientConfiguration()
        configuration.maxInstruments = Self.maxInstruments
        configuration.levelsPerSide = Self.levelsPerSide
        configuration.lines = options.lineB == nil ? 1 : 2
        configuration.usesSnapshotChannel = options.snapshot != nil
        configuration.packetSlotSize = options.maxPacketSize
        let output = ListenOutput(format: options.format, levels: options.levels, instrumentCapacity: Self.maxInstruments)
        if let retransmission, let service = options.retransmit {
            var client = try FeedClient(configuration: configuration, handler: output,
                                        requester: SocketRetransmissionRequester(socket: retransmission, service: service))
            try loop(&client)
        } else {
            var client = try FeedClient(configuration: configuration, handler: output, requester: NoRetransmission())
            try loop(&client)
        }
    }

    private func loop<Requester: RetransmissionRequester>(_ client: inout FeedClient<ListenOutput, Requester>) throws {
        let answers = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 64)
        defer { answers.deallocate() }
        var nextReport = ctw_monotonic_ns() + reportInterval
        var last = ReportPoint(time: ctw_monotonic_ns(), counters: client.counters)
        while stopRequested == 0 {
            var received = 0
            if let xdp {
                received += xdp.poll(limit: 256) { datagram in dispatch(datagram, to: &client) }
            } else {
                received += lineA.poll(limit: 256) { client.receiveIncremental($0.payload, line: .a, receiveTime: $0.receiveTime.nanoseconds) }
                if let lineB {
                    received += lineB.poll(limit: 256) { client.receiveIncremental($0.payload, line: .b, receiveTime: $0.receiveTime.nanoseconds) }
                }
                if let snapshot {
                    received += snapshot.poll(limit: 256) { client.receiveSnapshot($0.payload, receiveTime: $0.receiveTime.nanoseconds) }
                }
            }
            if let retransmission {
                while let answer = try? retransmission.receive(into: answers) {
                    client.receiveRetransmission(UnsafeRawBufferPointer(rebasing: answers[..<answer.length]), receiveTime: ctw_realtime_ns())
                    received += 1
                }
            }
            client.tick(now: ctw_realtime_ns())
            if options.exitOnEnd && client.hasEnded { break }
            let now = ctw_monotonic_ns()
            if now >= nextReport {
                nextReport = now + reportInterval
                report(client, since: &last, now: now)
            }
            if received == 0 && options.idleSleepMicroseconds > 0 { usleep(options.idleSleepMicroseconds) }
        }
        report(client, since: &last, now: ctw_monotonic_ns())
        printError("listen: end: \(summary(client.counters)); \(client.handler.latencySummary())")
        if let path = options.latencyHistogram, !LatencyHistogramFile.write(path, client.handler.latencyHistograms) {
            printError("error: tickwire listen: cannot write --latency-histogram \(path)")
            throw ExitCode(1)
        }
    }

    /// XDP delivers every steered port on one socket: the destination says which line it is.
    private func dispatch<Requester>(_ datagram: ReceivedDatagram, to client: inout FeedClient<ListenOutput, Requester>) {
        let time = datagram.receiveTime.nanoseconds
        if datagram.destination == options.lineA {
            client.receiveIncremental(datagram.payload, line: .a, receiveTime: time)
        } else if datagram.destination == options.lineB {
            client.receiveIncremental(datagram.payload, line: .b, receiveTime: time)
        } else if datagram.destination == options.snapshot {
            client.receiveSnapshot(datagram.payload, receiveTime: time)
        }
    }

    private var reportInterval: UInt64 { options.format == .table ? 200_000_000 : 1_000_000_000 }

    private struct ReportPoint {
        var time: UInt64
        var counters: FeedClientCounters
    }

    private func report<Requester>(_ client: FeedClient<ListenOutput, Requester>, since last: inout ReportPoint, now: UInt64) {
        switch options.format {
        case .jsonl:
            break
        case .table:
            printToStdout(client.handler.renderTable(status: "session \(hex(client.session))  \(summary(client.counters))"), newline: false)
        case .stats:
            let seconds = Double(max(1, now - last.time)) / 1e9
            let packets = Double(client.counters.packets - last.counters.packets) / seconds
            let messages = Double(client.counters.messages - last.counters.messages) / seconds
            printToStdout("""
                channel \(options.lineA)\(options.lineB.map { " + B \($0)" } ?? "") session \(hex(client.session)) \
                next \(client.expectedSequence): \(Int(packets)) packets/s, \(Int(messages)) messages/s
                  \(summary(client.counters))
                  kernel drops: \(kernelDrops())
                  \(client.handler.latencySummary())
                """)
        }
        last = ReportPoint(time: now, counters: client.counters)
    }

    private func kernelDrops() -> String {
        var parts = ["A \(lineA.kernelDrops)"]
        if let lineB { parts.append("B \(lineB.kernelDrops)") }
        if let snapshot { parts.append("snapshot \(snapshot.kernelDrops)") }
        if let xdp { parts.append("xdp frames dropped \(xdp.drops)") }
        return parts.joined(separator: ", ")
    }

    private func summary(_ counters: FeedClientCounters) -> String {
        "packets \(counters.packets), duplicates \(counters.duplicates), filled by other line \(counters.filledByOtherLine), "
            + "gaps \(counters.gaps), retransmission requests \(counters.retransmissionRequests) "
            + "(recovered \(counters.recoveredByRetransmission), rejected \(counters.retransmissionRejects), timed out \(counters.retransmissionTimeouts)), "
            + "packets lost \(counters.packetsLost) (reorder window overflowed \(counters.reorderOverflows)), books recovered from snapshots \(counters.booksRecovered), "
            + "malformed \(counters.malformedPackets), foreign channel \(counters.foreignChannelPackets), sessions ended \(counters.endOfSessions)"
    }

    private func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}
