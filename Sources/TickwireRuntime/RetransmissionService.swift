import TickwireCore
import TickwireSystem
import TickwireTransport

/// Where the retransmission service listens and how much it gives each requester.
public struct RetransmissionConfiguration: Sendable {
    /// Unicast address and port of the service (port 0: the kernel picks one).
    public var endpoint: UdpEndpoint
    /// Re-sent packets per second per requester address, and the most at once.
    public var packetsPerSecond = 20_000
    public var burst = Int(RetransmitRequest.maxCount)
    /// Requester addresses with their own token bucket (the least recent is forgotten first).
    public var requesters = 256
    /// Requests answered per `poll`: bounds the time one poll takes from the publisher.
    public var requestsPerPoll = 4

    public init(endpoint: UdpEndpoint) { self.endpoint = endpoint }
}

/// What the service did, for `stats` and tests.
public struct RetransmissionCounters: Equatable, Sendable {
    /// Requests decoded (answered with packets, rejects or both).
    public var requests = 0
    public var packetsResent = 0
    public var notAvailable = 0
    public var rateLimited = 0
    public var unknownChannel = 0
    public var sessionMismatch = 0
    public var invalidRequest = 0
    /// Datagrams that are not one well-formed retransmit request: not answered.
    public var malformed = 0
    /// Answers the kernel refused (error) or had no room for (full socket buffer).
    public var sendErrors = 0
    public var sendsDropped = 0
    public var receiveErrors = 0

    public init() {}
}

/// Answers retransmit requests (docs/PROTOCOL.md section 8) from the histories of the
/// incremental channels it serves, over one unicast UDP socket, rate-limited per requester.
///
/// It runs on the publisher's thread: call `poll` between venue batches (and when idle).
/// The histories are written by the publisher without any synchronization, and a slot is
/// reused as soon as the window moves; reading them from the same thread needs no lock and
/// can never see a packet half rewritten. The price is that answering delays publishing,
/// which `requestsPerPoll` and the per-requester burst bound. Nothing allocates per request.
public final class RetransmissionService<Clock: PublisherClock> {
    private struct ServedChannel {
        var channel: UInt16
        var session: UInt64
        var history: PacketHistory
    }

    public private(set) var counters = RetransmissionCounters()
    /// Why the last malformed datagram was refused (diagnosis; nil when it was not a decode error).
    public private(set) var lastMalformedReason: WireDecodeError?

    private let socket: UnicastUdpSocket
    private let clock: Clock
    /// The most requests one `poll` answers.
    public let requestsPerPoll: Int
    private var channels: [ServedChannel] = []
    private var limits: RequesterRateLimit
    private let receiveBuffer: UnsafeMutableRawBufferPointer
    private let rejectBuffer: UnsafeMutableRawBufferPointer

    public init(configuration: RetransmissionConfiguration, clock: Clock) throws(SystemError) {
        precondition(configuration.requestsPerPoll > 0, "requestsPerPoll must be positive")
        socket = try UnicastUdpSocket(bindingTo: configuration.endpoint)
        self.clock = clock
        requestsPerPoll = configuration.requestsPerPoll
        limits = RequesterRateLimit(
            packetsPerSecond: configuration.packetsPerSecond, burst: configuration.burst, requesters: configuration.requesters)
        receiveBuffer = .allocate(byteCount: Self.receiveBufferSize, alignment: 64)
        rejectBuffer = .allocate(byteCount: Self.rejectPacketSize, alignment: 64)
    }

    deinit {
        receiveBuffer.deallocate()
        rejectBuffer.deallocate()
    }

    /// A request packet is 56 bytes; anything longer than this is malformed without reading it all.
    private static var receiveBufferSize: Int { 2048 }
    private static var rejectPacketSize: Int { WireProtocol.packetHeaderSize + WireMessageType.retransmitReject.minimumLength }

    /// Where requests go (the bound port when 0 was configured).
    public var endpoint: UdpEndpoint { socket.localEndpoint }

    /// Serves the publisher's channel from its history (set-up time).
    public func serve<Sender, PublisherClockType>(_ publisher: ChannelPublisher<Sender, PublisherClockType>) {
        serve(channel: publisher.channel, session: publisher.session, history: publisher.history)
    }

    public func serve(channel: UInt16, session: UInt64, history: PacketHistory) {
        precondition(!channels.contains { $0.channel == channel }, "channel \(channel) is already served")
        channels.append(ServedChannel(channel: channel, session: session, history: history))
    }

    /// Answers the requests waiting now, at most `requestsPerPoll`; returns how many datagrams it read.
    @discardableResult
    public func poll() -> Int {
        var handled = 0
        while handled < requestsPerPoll {
            let datagram: (length: Int, source: UdpEndpoint, truncated: Bool)?
            do throws(SystemError) {
                datagram = try socket.receive(into: receiveBuffer)
            } catch {
                counters.receiveErrors += 1
                break
            }
            guard let datagram else { break }
            handled += 1
            if datagram.truncated {
                refuseMalformed(.packetTooLong(length: datagram.length))
                continue
            }
            handle(UnsafeRawBufferPointer(rebasing: receiveBuffer[..<datagram.length]), from: datagram.source)
        }
        return handled
    }

    /// Waits until a request is readable or the timeout passed (for a service thread or idle loop).
    public func waitForRequest(timeoutMilliseconds: Int32) -> Bool {
        (try? socket.waitReadable(timeoutMilliseconds: timeoutMilliseconds)) ?? false
    }

    /// Answers requests until none came for `quietMilliseconds` or `shouldStop` says so: after
    /// the end of a session, consumers still working through their backlog ask for its last packets.
    public func serveUntilQuiet(quietMilliseconds: Int32, shouldStop: () -> Bool) {
        while !shouldStop() && waitForRequest(timeoutMilliseconds: quietMilliseconds) { poll() }
    }

    private func handle(_ datagram: UnsafeRawBufferPointer, from source: UdpEndpoint) {
        let header: PacketHeader
        let request: RetransmitRequest
        do throws(WireDecodeError) {
            var reader = try PacketReader(packet: datagram)
            guard case .retransmitRequest(let only)? = try reader.next(), try reader.next() == nil else {
                refuseMalformed(nil)
                return
            }
            header = reader.header
            request = only
        } catch {
            refuseMalformed(error)
            return
        }
        counters.requests += 1
        answer(request, header: header, to: source)
    }

    private func refuseMalformed(_ reason: WireDecodeError?) {
        counters.malformed += 1
        lastMalformedReason = reason
    }

    /// Rejects for the parts outside the window (before, then after), the held packets in
    /// between, up to the requester's tokens.
    private func answer(_ request: RetransmitRequest, header: PacketHeader, to requester: UdpEndpoint) {
        guard let served = channels.first(where: { $0.channel == header.channel }) else {
            reject(.unknownChannel, request, first: request.firstSequence, count: request.count,
                   channel: header.channel, session: header.session, history: nil, to: requester)
            return
        }
        let history = served.history
        func refuse(_ reason: RetransmitReject.Reason, from first: UInt64, count: UInt64) {
            reject(reason, request, first: first, count: UInt32(count), channel: served.channel, session: served.session,
                   history: history, to: requester)
        }
        let count = UInt64(request.count)
        guard header.session == served.session else {
            refuse(.sessionMismatch, from: request.firstSequence, count: count)
            return
        }
        guard header.flags.contains(.unsequenced), request.count >= 1, request.count <= RetransmitRequest.maxCount,
              request.firstSequence >= 1, request.firstSequence <= UInt64.max - count
        else {
            refuse(.invalidRequest, from: request.firstSequence, count: count)
            return
        }
        let end = request.firstSequence + count
        let next = history.nextSequence
        let windowStart = history.oldestSequence == 0 ? next : history.oldestSequence
        if request.firstSequence < windowStart {
            refuse(.notAvailable, from: request.firstSequence, count: min(end, windowStart) - request.firstSequence)
        }
        let heldStart = max(request.firstSequence, windowStart)
        let heldEnd = min(end, next)
        if heldStart < heldEnd {
            let granted = UInt64(limits.take(Int(heldEnd - heldStart), for: requester.address, now: clock.now()))
            for sequence in heldStart..<(heldStart + granted) {
                guard let packet = history.packet(sequence) else { preconditionFailure("a held sequence has its packet") }
                send(packet, to: requester)
                counters.packetsResent += 1
            }
            if heldStart + granted < heldEnd {
                refuse(.rateLimited, from: heldStart + granted, count: end - (heldStart + granted))
                return
            }
        }
        let afterStart = max(request.firstSequence, next)
        if afterStart < end { refuse(.notAvailable, from: afterStart, count: end - afterStart) }
    }

    private func reject(
        _ reason: RetransmitReject.Reason, _ request: RetransmitRequest, first: UInt64, count: UInt32,
        channel: UInt16, session: UInt64, history: PacketHistory?, to requester: UdpEndpoint
    ) {
        switch reason {
        case .notAvailable: counters.notAvailable += 1
        case .rateLimited: counters.rateLimited += 1
        case .unknownChannel: counters.unknownChannel += 1
        case .sessionMismatch: counters.sessionMismatch += 1
        default: counters.invalidRequest += 1
        }
        let next = history?.nextSequence ?? 0
        var writer = PacketWriter(buffer: rejectBuffer, maxPacketSize: Self.rejectPacketSize)
        writer.begin(channel: channel, sequence: next, sendTime: clock.now(), session: session, flags: .unsequenced)
        let appended = writer.append(
            RetransmitReject(
                reason: reason, firstSequence: first, count: count, requestId: request.requestId,
                oldestAvailable: history?.oldestSequence ?? 0, nextSequence: next))
        precondition(appended, "a reject fits its buffer")
        send(UnsafeRawBufferPointer(rebasing: rejectBuffer[..<writer.finish()]), to: requester)
    }

    private func send(_ packet: UnsafeRawBufferPointer, to requester: UdpEndpoint) {
        do throws(SystemError) {
            if try !socket.send(packet, to: requester) { counters.sendsDropped += 1 }
        } catch {
            counters.sendErrors += 1
        }
    }
}
