import TickwireCore
import TickwireSystem

/// The consumer of one Tickwire incremental channel (docs/PROTOCOL.md sections 2-3 and 8):
/// its A and B lines, its snapshot channel and the publisher's retransmission service.
///
/// Per packet: validated, arbitrated by sequence number (the first copy wins, later copies
/// are duplicates), held when it arrives ahead of a missing one. A packet missing on every
/// line is a gap: it is asked for by retransmission request; when refused, unanswered or
/// unavailable, every book is marked invalid and recovered from the snapshot channel (the
/// snapshot, then the incremental packets kept since with later sequence numbers) or from
/// an inline snapshot. Books are rebuilt per instrument in a preallocated `BookTable`.
///
/// The caller owns the sockets: it hands each received datagram to `receiveIncremental`,
/// `receiveSnapshot` or `receiveRetransmission`, and calls `tick(now:)` in its poll loop
/// (timeouts, stale lines). Nothing allocates per packet; one thread owns the client.
public struct FeedClient<Handler: FeedHandler, Requester: RetransmissionRequester> {
    public var handler: Handler
    public var requester: Requester
    public let configuration: FeedClientConfiguration
    public private(set) var counters = FeedClientCounters()
    /// The books, indexed by instrument id (valid while `isUsable` says so).
    public let books: BookTable

    /// The session followed, meaningful once `expectedSequence` is above 0.
    public private(set) var session: UInt64 = 0
    /// The next incremental sequence number to process; 0 before the first packet.
    public private(set) var expectedSequence: UInt64 = 0
    public private(set) var incrementalChannel: UInt16?
    public private(set) var snapshotChannel: UInt16?

    private let instruments: InstrumentStates
    private var reorder: ReorderWindow
    private var history: PacketHistory
    private var inlineSnapshot: SnapshotAssembler
    private var channelSnapshot: SnapshotAssembler
    private var replaySnapshot: SnapshotAssembler
    private let requestBuffer: PacketSlots

    /// The highest "next sequence" any packet or heartbeat announced.
    private var knownNext: UInt64 = 0
    /// Per line (A, B): the highest next sequence it delivered, and when it last delivered.
    private var lineNext: (UInt64, UInt64) = (0, 0)
    private var lineLastReceive: (UInt64, UInt64) = (0, 0)
    private var lineStale: (Bool, Bool) = (false, false)
    /// When the current hole was first seen (0: no hole), and whether it was declared a gap.
    private var holeSince: UInt64 = 0
    /// The latest `tick` time: the clock now, give or take one poll. Packets carry their
    /// receive times, which lag it by however long they waited in the socket buffer.
    private var lastTick: UInt64 = 0
    private var holeIsGap = false
    /// The request for the hole at `expectedSequence`; `laterRequests` for the holes after it.
    private var request = OutstandingRequest()
    private let laterRequests: OutstandingRequests
    /// Every hole before this sequence was asked for.
    private var requestedEnd: UInt64 = 0
    private var nextRequestId: UInt64 = 1
    /// Instruments newly defined on the incremental channel start in sync (true while every
    /// packet of the session so far was processed).
    private var newBooksInSync = false
    /// Packets are kept in `history` while books wait for the snapshot channel.
    private var recovering = false
    /// The snapshot loop since recovery began: its first instrument, and whether it came round.
    private var loopFirstInstrument: InstrumentId?
    private var loopComplete = false
    private var snapshotExpected: UInt64 = 0
    private var endedSession: UInt64?
    /// The session followed before the current one: its stragglers (say, on the slower line)
    /// must not switch back to it.
    private var replacedSession: UInt64?
    private var endNextSequence: UInt64 = 0

    public init(configuration: FeedClientConfiguration, handler: Handler, requester: Requester) throws(SystemError) {
        precondition(configuration.lines == 1 || configuration.lines == 2, "one line, or an A/B pair")
        precondition(configuration.maxInstruments > 0 && configuration.maxInstruments <= Int(UInt16.max) + 1)
        self.configuration = configuration
        self.handler = handler
        self.requester = requester
        books = try BookTable(
            capacity: configuration.maxInstruments,
            levelBudget: BookTable.levelBudget(books: configuration.maxInstruments, levelsPerSide: configuration.levelsPerSide),
            policy: configuration.bookMemory)
        instruments = InstrumentStates(capacity: configuration.maxInstruments)
        reorder = ReorderWindow(packets: configuration.reorderPackets, slotSize: configuration.packetSlotSize)
        history = PacketHistory(
            packets: configuration.usesSnapshotChannel ? configuration.historyPackets : 1, slotSize: configuration.packetSlotSize)
        inlineSnapshot = SnapshotAssembler(levelsPerSide: configuration.levelsPerSide)
        channelSnapshot = SnapshotAssembler(levelsPerSide: configuration.levelsPerSide)
        replaySnapshot = SnapshotAssembler(levelsPerSide: configuration.levelsPerSide)
        requestBuffer = PacketSlots(count: 1, slotSize: 64)
        // Each hole in the window has a held packet after it.
        laterRequests = OutstandingRequests(capacity: configuration.reorderPackets / 2 + 1)
        incrementalChannel = configuration.incrementalChannel
        snapshotChannel = configuration.snapshotChannel
    }

    // MARK: state for callers

    /// The definition of `instrument` in this session, if announced.
    public func definition(of instrument: InstrumentId) -> WireInstrumentDefinition? {
        guard instrument.index < instruments.capacity, instruments[instrument.index].defined else { return nil }
        return instruments.definitions[instrument.index]
    }

    /// In sync with the publisher, which says the book is valid.
    public func isUsable(_ instrument: InstrumentId) -> Bool {
        instrument.index < instruments.capacity && instruments[instrument.index].usable
    }

    /// The session sent end of session and every packet before it was processed or given up.
    public var hasEnded: Bool { endedSession == session && expectedSequence != 0 && expectedSequence >= endNextSequence }

    /// Whether books are waiting for the snapshot channel.
    public var isRecovering: Bool { recovering }

    // MARK: receiving

    /// A datagram from line A or B of the incremental channel.
    public mutating func receiveIncremental(_ packet: UnsafeRawBufferPointer, line: FeedLine, receiveTime: UInt64) {
        guard let header = acceptedHeader(packet, snapshotChannel: false) else { return }
        if _slowPath(header.session != session || expectedSequence == 0) {
            guard line != .retransmission,
                  expectedSequence == 0 || (header.session != endedSession && header.session != replacedSession) else {
                counters.otherSessionPackets &+= 1
                return
            }
            startSession(header, receiveTime: receiveTime)
        }
        noteArrival(on: line, receiveTime: receiveTime)
        if _slowPath(header.flags.contains(.unsequenced)) {
            noteNext(header.sequence, line: line)
            processUnsequenced(packet)
        } else {
            let sequence = header.sequence
            if sequence == expectedSequence {
                noteNext(sequence &+ 1, line: line)
                process(packet, sequence: sequence, receiveTime: receiveTime)
                expectedSequence = sequence &+ 1
                if _slowPath(reorder.held > 0) { drainReorderWindow() }
            } else if sequence < expectedSequence {
                counters.duplicates &+= 1
                return
            } else {
                noteNext(sequence &+ 1, line: line)
                holdAhead(packet, sequence: sequence, receiveTime: receiveTime)
            }
        }
        if _slowPath(expectedSequence < knownNext || holeSince != 0) { evaluateHole(now: receiveTime) }
    }

    /// A datagram from the snapshot channel.
    public mutating func receiveSnapshot(_ packet: UnsafeRawBufferPointer, receiveTime: UInt64) {
        guard let header = acceptedHeader(packet, snapshotChannel: true) else { return }
        guard expectedSequence != 0, header.session == session else {
            counters.otherSessionPackets &+= 1
            return
        }
        guard !header.flags.contains(.unsequenced) else { return }
        if header.sequence != snapshotExpected {
            channelSnapshot.abandon()
            // A loop came round only if none of its packets was missed: the missed one may
            // have been the only definition of a book the client has not heard of yet.
            if !loopComplete { loopFirstInstrument = nil }
        }
        snapshotExpected = header.sequence &+ 1
        guard recovering else { return }
        var reader = Self.reader(packet)
        while let message = Self.next(&reader) {
            switch message {
            case .instrumentDefinition(let definition):
                noteLoop(definition.instrument)
                define(definition)
            case .bookSnapshot(let chunk):
                guard let state = instruments.state(chunk.instrument), state.defined, !state.synced else {
                    if chunk.instrument == channelSnapshot.instrument { channelSnapshot.abandon() }
                    continue
                }
                if channelSnapshot.add(chunk) == .complete { recoverFromSnapshot(chunk.instrument, receiveTime: receiveTime) }
            case .bookStatus(let status):
                // The incremental channel rules books in sync; this only tells about the others.
                if let state = instruments.state(status.instrument), state.defined, !state.synced {
                    instruments[status.instrument.index].trusted = status.state == .valid
                }
            default:
                break
            }
        }
        finishRecoveryIfDone()
    }

    /// A datagram from the retransmission service: a re-sent incremental packet, or a reject.
    public mutating func receiveRetransmission(_ packet: UnsafeRawBufferPointer, receiveTime: UInt64) {
        guard let header = Self.validate(packet) else {
            counters.malformedPackets &+= 1
            return
        }
        guard header.flags.contains(.unsequenced) else {
            receiveIncremental(packet, line: .retransmission, receiveTime: receiveTime)
            if header.session == session { noteAnswer(to: header.sequence, now: receiveTime) }
            return
        }
        guard header.session == session, header.channel == incrementalChannel else {
            counters.otherSessionPackets &+= 1
            return
        }
        // A reject's header carries the channel's next sequence, as a heartbeat's does.
        noteNext(header.sequence, line: .retransmission)
        var reader = Self.reader(packet)
        while let message = Self.next(&reader) {
            if case .retransmitReject(let reject) = message { handleReject(reject, now: receiveTime) }
        }
    }

    /// Timeouts: a hole awaited on the other line, a retransmission request, stale lines.
    /// Call it from the poll loop with the realtime clock (the receive timestamps' clock).
    public mutating func tick(now: UInt64) {
        lastTick = max(lastTick, now)
        if holeSince != 0 { evaluateHole(now: now) }
        if request.active && now >= request.deadline {
            counters.retransmissionTimeouts &+= 1
            handler.channelEvent(.retransmissionTimedOut(firstSequence: request.first))
            // UDP may have lost the request or its answer: ask again, then give up.
            if request.attempt < configuration.retransmissionAttempts {
                let attempt = request.attempt &+ 1
                request.active = false
                requestRetransmission(now: now, attempt: attempt)
            } else {
                giveUpHole(now: now)
            }
        }
        guard expectedSequence != 0, endedSession != session else { return }
        let staleAfter = 3 &* configuration.heartbeatInterval
        if lineLastReceive.0 != 0 && !lineStale.0 && now > lineLastReceive.0 &+ staleAfter {
            lineStale.0 = true
            counters.staleLines &+= 1
            handler.channelEvent(.lineStale(.a))
        }
        if lineLastReceive.1 != 0 && !lineStale.1 && now > lineLastReceive.1 &+ staleAfter {
            lineStale.1 = true
            counters.staleLines &+= 1
            handler.channelEvent(.lineStale(.b))
        }
    }

    // MARK: sequencing

    private mutating func startSession(_ header: PacketHeader, receiveTime: UInt64) {
        if expectedSequence != 0 {
            replacedSession = session
            counters.sessionChanges &+= 1
            markAllOutOfSync(reason: .snapshotPending, receiveTime: receiveTime)
        }
        for index in 0..<instruments.capacity { instruments[index] = InstrumentState() }
        session = header.session
        expectedSequence = max(1, header.sequence)
        knownNext = expectedSequence
        lineNext = (expectedSequence, expectedSequence)
        reorder.removeAll()
        request = OutstandingRequest()
        laterRequests.removeAll()
        requestedEnd = 0
        holeSince = 0
        holeIsGap = false
        inlineSnapshot.abandon()
        channelSnapshot.abandon()
        snapshotExpected = 0
        endNextSequence = 0
        newBooksInSync = expectedSequence == 1
        recovering = false
        if !newBooksInSync { beginRecovery() }
        handler.channelEvent(.sessionStarted(session: session, sequence: expectedSequence))
    }

    @inline(__always)
    private mutating func noteArrival(on line: FeedLine, receiveTime: UInt64) {
        switch line {
        case .a:
            lineLastReceive.0 = receiveTime
            lineStale.0 = false
        case .b:
            lineLastReceive.1 = receiveTime
            lineStale.1 = false
        case .retransmission:
            break
        }
    }

    @inline(__always)
    private mutating func noteNext(_ next: UInt64, line: FeedLine) {
        if next > knownNext { knownNext = next }
        switch line {
        case .a: if next > lineNext.0 { lineNext.0 = next }
        case .b: if next > lineNext.1 { lineNext.1 = next }
        case .retransmission: break
        }
    }

    private mutating func holdAhead(_ packet: UnsafeRawBufferPointer, sequence: UInt64, receiveTime: UInt64) {
        while !reorder.hold(packet, sequence: sequence, receiveTime: receiveTime, expected: expectedSequence) {
            // Too far ahead (or too large) to hold: the hole cannot wait any longer.
            counters.reorderOverflows &+= 1
            if !holeIsGap { declareGap() }
            declareLost(upTo: min(sequence, reorder.firstHeld(from: expectedSequence) ?? sequence), now: receiveTime)
            if sequence == expectedSequence {
                process(packet, sequence: sequence, receiveTime: receiveTime)
                expectedSequence = sequence &+ 1
                drainReorderWindow()
                return
            }
        }
    }

    private mutating func drainReorderWindow() {
        while let slot = reorder.slot(of: expectedSequence) {
            process(reorder.slots.packet(at: slot), sequence: expectedSequence, receiveTime: reorder.slots.receiveTimes[slot])
            reorder.release(slot)
            expectedSequence &+= 1
        }
    }

    /// A hole: packets from `expectedSequence` on are missing. With two lines it becomes a gap
    /// once both lines delivered beyond it (or the other line's wait timed out); a gap is
    /// asked for by retransmission, or given up.
    private mutating func evaluateHole(now: UInt64) {
        guard expectedSequence < knownNext else {
            if holeSince != 0 {
                if holeIsGap {
                    counters.recoveredByRetransmission &+= 1 &+ UInt64(laterRequests.count)
                    handler.channelEvent(.gapFilled(throughSequence: expectedSequence &- 1))
                } else {
                    counters.filledByOtherLine &+= 1
                }
            }
            holeSince = 0
            holeIsGap = false
            request.active = false
            laterRequests.removeAll()
            return
        }
        // The other line gets its wait from when the hole was noticed, not from the receive time
        // of the packet that showed it (that lags while a socket backlog is worked through).
        if holeSince == 0 { holeSince = max(now, lastTick, 1) }
        if !request.active || expectedSequence >= request.end {
            // That range came (or was given up): this hole may have been asked for with the later ones.
            if request.active {
                counters.recoveredByRetransmission &+= 1
                handler.channelEvent(.gapFilled(throughSequence: request.end &- 1))
            }
            counters.recoveredByRetransmission &+= UInt64(laterRequests.removeAnswered(before: expectedSequence))
            request = laterRequests.removeFirst(covering: expectedSequence) ?? OutstandingRequest()
        }
        if request.active { holeIsGap = true }  // the rest of a range already asked for
        if !holeIsGap {
            guard passedOnEveryLine > expectedSequence || now >= holeSince &+ configuration.lineArbitrationTimeout else { return }
            declareGap()
        }
        if !request.active { requestRetransmission(now: now) }
        requestLaterHoles(now: now)
    }

    /// Packets before this sequence arrived, or were given up, on every line.
    private var passedOnEveryLine: UInt64 { configuration.lines == 1 ? knownNext : min(lineNext.0, lineNext.1) }

    /// Asks for the holes after the awaited one that every line has passed, at once: their
    /// answers then come while the earlier holes are filled, instead of one round trip per
    /// hole while the window fills up with the packets after them.
    private mutating func requestLaterHoles(now: UInt64) {
        guard request.active else { return }
        let passed = min(passedOnEveryLine, expectedSequence &+ UInt64(reorder.capacity))
        var sequence = max(requestedEnd, request.end)
        while sequence < passed && !laterRequests.isFull {
            guard reorder.slot(of: sequence) == nil else {
                sequence &+= 1
                continue
            }
            var end = sequence &+ 1
            while end < passed && end &- sequence < UInt64(RetransmitRequest.maxCount) && reorder.slot(of: end) == nil { end &+= 1 }
            guard let later = sendRequest(first: sequence, end: end, now: now) else { break }
            counters.gaps &+= 1
            handler.channelEvent(.gap(firstMissing: sequence, count: end &- sequence))
            laterRequests.append(later)
            sequence = end
        }
        requestedEnd = max(requestedEnd, sequence)
    }

    private mutating func declareGap() {
        holeIsGap = true
        counters.gaps &+= 1
        handler.channelEvent(.gap(firstMissing: expectedSequence, count: holeEnd &- expectedSequence))
    }

    /// Where the current hole ends: the first packet held beyond it, or the announced next sequence.
    private var holeEnd: UInt64 { reorder.firstHeld(from: expectedSequence) ?? knownNext }

    private mutating func requestRetransmission(now: UInt64, attempt: Int = 1) {
        let first = expectedSequence
        guard let sent = sendRequest(first: first, end: first &+ min(holeEnd &- first, UInt64(RetransmitRequest.maxCount)), now: now, attempt: attempt)
        else {
            giveUpHole(now: now)
            return
        }
        request = sent
    }

    /// Sends a request for `first ..< end`; the request awaited, or nil when it could not be sent.
    private mutating func sendRequest(first: UInt64, end: UInt64, now: UInt64, attempt: Int = 1) -> OutstandingRequest? {
        let count = UInt32(end &- first)
        let id = nextRequestId
        nextRequestId &+= 1
        var writer = PacketWriter(buffer: UnsafeMutableRawBufferPointer(start: requestBuffer.bytes, count: requestBuffer.slotSize),
                                  maxPacketSize: requestBuffer.slotSize)
        writer.begin(channel: incrementalChannel ?? 0, sequence: 0, sendTime: now, session: session, flags: .unsequenced)
        _ = writer.append(RetransmitRequest(firstSequence: first, count: count, requestId: id))
        let length = writer.finish()
        guard requester.sendRequest(UnsafeRawBufferPointer(start: requestBuffer.bytes, count: length)) else { return nil }
        requestedEnd = max(requestedEnd, end)
        counters.retransmissionRequests &+= 1
        handler.channelEvent(.retransmissionRequested(firstSequence: first, count: count))
        // The wait starts now, not at the receive time of the packet that showed the hole: a
        // consumer working through a backlog must not find its request expired at once.
        return OutstandingRequest(
            active: true, id: id, first: first, end: end, deadline: max(now, lastTick) &+ configuration.retransmissionTimeout,
            attempt: attempt, askedLaterFrom: requestedEnd)
    }

    /// The service answers requests in the order they come: a packet asked for after a request
    /// arriving while some of that request's packets have not means their answer was lost.
    /// They are asked again at once (not counted as an attempt: the service is answering), not
    /// after the timeout, by when a consumer working through a backlog may have filled its window.
    private mutating func noteAnswer(to sequence: UInt64, now: UInt64) {
        if request.active, let again = askedAgain(request, answered: sequence, now: now) { request = again }
        for index in 0..<laterRequests.count {
            if let again = askedAgain(laterRequests[index], answered: sequence, now: now) { laterRequests[index] = again }
        }
    }

    /// The new request for the packets of `asked` still missing, if `sequence` was asked for after it.
    private mutating func askedAgain(_ asked: OutstandingRequest, answered sequence: UInt64, now: UInt64) -> OutstandingRequest? {
        let first = max(asked.first, expectedSequence)
        guard sequence >= asked.askedLaterFrom, (first..<asked.end).contains(where: { reorder.slot(of: $0) == nil }) else { return nil }
        return sendRequest(first: first, end: asked.end, now: now, attempt: asked.attempt)
    }

    private mutating func handleReject(_ reject: RetransmitReject, now: UInt64) {
        guard request.active, reject.requestId == request.id else { return }
        counters.retransmissionRejects &+= 1
        handler.channelEvent(.retransmissionRejected(reject.reason))
        // Everything requested up to the end of the refused part will not come.
        let refusedEnd = reject.firstSequence &+ UInt64(reject.count)
        if refusedEnd >= request.end { request.active = false }
        if refusedEnd > expectedSequence {
            declareLost(upTo: min(refusedEnd, holeEnd), now: now)
        }
        if !request.active && expectedSequence < knownNext { evaluateHole(now: now) }
    }

    /// No retransmission for the current hole: its packets are lost.
    private mutating func giveUpHole(now: UInt64) {
        request.active = false
        declareLost(upTo: holeEnd, now: now)
        holeSince = 0
        holeIsGap = false
        if expectedSequence < knownNext { evaluateHole(now: now) }
    }

    /// Packets `expectedSequence ..< end` will never be processed: every book may have missed
    /// deltas and waits for a snapshot; processing resumes at `end`.
    private mutating func declareLost(upTo end: UInt64, now: UInt64) {
        guard end > expectedSequence else { return }
        counters.packetsLost &+= end &- expectedSequence
        if end >= request.end { request.active = false }
        handler.channelEvent(.packetsLost(firstMissing: expectedSequence, count: end &- expectedSequence))
        expectedSequence = end
        holeSince = 0
        holeIsGap = false
        markAllOutOfSync(reason: .sequenceGap, receiveTime: now)
        newBooksInSync = false
        beginRecovery()
        drainReorderWindow()
    }

    // MARK: processing

    /// A packet in sequence: its messages in order.
    @inline(__always)
    private mutating func process(_ packet: UnsafeRawBufferPointer, sequence: UInt64, receiveTime: UInt64) {
        if _slowPath(recovering) { history.append(packet, sequence: sequence, receiveTime: receiveTime) }
        var reader = Self.reader(packet)
        counters.packets &+= 1
        handler.packetAccepted(reader.header, receiveTime: receiveTime)
        while let message = Self.next(&reader) {
            counters.messages &+= 1
            switch message {
            case .bookDelta(let delta):
                applyDelta(delta, sequence: sequence, receiveTime: receiveTime)
            case .trade(let trade):
                handler.trade(trade)
            case .bestBidOffer(let quote):
                handler.bestBidOffer(quote)
            case .bookSnapshot(let chunk):
                applyInlineChunk(chunk, receiveTime: receiveTime)
            case .bookStatus(let status):
                applyStatus(status, receiveTime: receiveTime)
            case .instrumentDefinition(let definition):
                define(definition)
            case .endOfSession(let end):
                endSession(end)
            case .heartbeat, .retransmitRequest, .retransmitReject, .unknown:
                break
            }
        }
    }

    private mutating func processUnsequenced(_ packet: UnsafeRawBufferPointer) {
        var reader = Self.reader(packet)
        while let message = Self.next(&reader) {
            if case .endOfSession(let end) = message { endSession(end) }
        }
    }

    @inline(__always)
    private mutating func applyDelta(_ delta: BookDelta, sequence: UInt64, receiveTime: UInt64) {
        let index = delta.instrument.index
        guard _fastPath(index < instruments.capacity) else {
            counters.unknownInstrumentMessages &+= 1
            return
        }
        let state = instruments[index]
        guard _fastPath(state.synced) else {
            if !state.defined { counters.unknownInstrumentMessages &+= 1 }
            return  // kept in the history until its snapshot comes
        }
        guard sequence > state.appliedThrough else { return }
        let books = self.books
        books.withBook(delta.instrument) { book in
            book.set(delta.side, price: delta.price, quantity: delta.quantity)
            if delta.isLastInUpdate {
                book.updateId = delta.venueUpdateId
                if state.trusted {
                    handler.bookUpdated(delta.instrument, book: book, venueUpdateId: delta.venueUpdateId, receiveTime: delta.receiveTime)
                }
            }
        }
    }

    private mutating func applyInlineChunk(_ chunk: BookSnapshotChunk, receiveTime: UInt64) {
        guard let state = instruments.state(chunk.instrument), state.defined else {
            counters.unknownInstrumentMessages &+= 1
            return
        }
        guard inlineSnapshot.add(chunk) == .complete else { return }
        counters.inlineSnapshots &+= 1
        let books = self.books
        books.withBook(chunk.instrument) { book in
            inlineSnapshot.apply(to: book)
            instruments[chunk.instrument.index].synced = true
            instruments[chunk.instrument.index].trusted = true
            instruments[chunk.instrument.index].appliedThrough = 0
            handler.bookUpdated(chunk.instrument, book: book, venueUpdateId: book.updateId, receiveTime: receiveTime)
        }
    }

    private mutating func applyStatus(_ status: BookStatus, receiveTime: UInt64) {
        handler.bookStatus(status)
        guard let state = instruments.state(status.instrument), state.defined else {
            counters.unknownInstrumentMessages &+= 1
            return
        }
        instruments[status.instrument.index].trusted = status.state == .valid
        let now = instruments[status.instrument.index]
        if !state.usable && now.usable {
            let books = self.books
            books.withBook(status.instrument) { book in
                handler.bookUpdated(status.instrument, book: book, venueUpdateId: book.updateId, receiveTime: receiveTime)
            }
        } else if state.usable && !now.usable {
            handler.bookInvalidated(status.instrument, reason: status.reason, receiveTime: receiveTime)
        }
    }

    private mutating func define(_ definition: WireInstrumentDefinition) {
        let index = definition.instrument.index
        guard index < instruments.capacity else {
            counters.instrumentsOverCapacity &+= 1
            return
        }
        let state = instruments[index]
        if state.defined && instruments.definitions[index] == definition { return }
        if !books.isActive(definition.instrument) {
            do throws(BookTableError) {
                try books.activate(definition.instrument, levelsPerSide: configuration.levelsPerSide)
            } catch {
                counters.instrumentsOverCapacity &+= 1
                return
            }
        }
        if state.usable { handler.bookInvalidated(definition.instrument, reason: .venueReset, receiveTime: 0) }
        books.withBook(definition.instrument) { book in
            book.clear()
            book.updateId = 0
        }
        instruments[index] = InstrumentState(defined: true, synced: newBooksInSync)
        instruments.definitions[index] = definition
        handler.instrumentDefined(definition)
    }

    private mutating func endSession(_ end: EndOfSession) {
        guard endedSession != session else { return }
        endedSession = session
        endNextSequence = end.nextSequence
        if end.nextSequence > knownNext { knownNext = end.nextSequence }
        counters.endOfSessions &+= 1
        handler.channelEvent(.endOfSession(session: session, nextSequence: end.nextSequence))
    }

    // MARK: recovery from the snapshot channel

    private mutating func markAllOutOfSync(reason: BookStatus.Reason, receiveTime: UInt64) {
        for index in 0..<instruments.capacity where instruments[index].defined {
            if instruments[index].usable {
                handler.bookInvalidated(InstrumentId(UInt16(index)), reason: reason, receiveTime: receiveTime)
            }
            instruments[index].synced = false
        }
        inlineSnapshot.abandon()
    }

    /// Keeps the packets processed from now on, until every book has its snapshot.
    private mutating func beginRecovery() {
        guard configuration.usesSnapshotChannel else { return }
        recovering = true
        history.restart(at: expectedSequence)
        loopFirstInstrument = nil
        loopComplete = false
    }

    private mutating func noteLoop(_ instrument: InstrumentId) {
        if let first = loopFirstInstrument {
            if first == instrument { loopComplete = true }
        } else {
            loopFirstInstrument = instrument
        }
    }

    /// A complete snapshot of a book out of sync: the book is its levels plus the kept
    /// packets after its `incrementalSequence`, if the history reaches back that far.
    private mutating func recoverFromSnapshot(_ instrument: InstrumentId, receiveTime: UInt64) {
        let snapshotSequence = channelSnapshot.incrementalSequence
        let lastProcessed = expectedSequence &- 1
        guard snapshotSequence >= lastProcessed || snapshotSequence &+ 1 >= history.firstHeld else {
            counters.snapshotsTooOld &+= 1
            return
        }
        let index = instrument.index
        instruments[index].trusted = true
        let books = self.books
        books.withBook(instrument) { book in channelSnapshot.apply(to: book) }
        if snapshotSequence < lastProcessed {
            replayHistory(for: instrument, after: snapshotSequence)
        }
        instruments[index].appliedThrough = snapshotSequence
        instruments[index].synced = true
        counters.booksRecovered &+= 1
        handler.channelEvent(.bookRecovered(instrument))
        if instruments[index].usable {
            books.withBook(instrument) { book in
                handler.bookUpdated(instrument, book: book, venueUpdateId: book.updateId, receiveTime: receiveTime)
            }
        }
    }

    /// Applies the kept packets after `sequence` to one book: its deltas, inline snapshots
    /// and statuses, as the live stream did for the books in sync.
    private mutating func replayHistory(for instrument: InstrumentId, after sequence: UInt64) {
        let history = self.history
        let books = self.books
        history.forEach(after: sequence) { packet, _, _ in
            var reader = Self.reader(packet)
            while let message = Self.next(&reader) {
                switch message {
                case .bookDelta(let delta) where delta.instrument == instrument:
                    books.withBook(instrument) { book in
                        book.set(delta.side, price: delta.price, quantity: delta.quantity)
                        if delta.isLastInUpdate { book.updateId = delta.venueUpdateId }
                    }
                case .bookSnapshot(let chunk) where chunk.instrument == instrument:
                    if replaySnapshot.add(chunk) == .complete {
                        books.withBook(instrument) { book in replaySnapshot.apply(to: book) }
                        instruments[instrument.index].trusted = true
                    }
                case .bookStatus(let status) where status.instrument == instrument:
                    instruments[instrument.index].trusted = status.state == .valid
                default:
                    break
                }
            }
        }
    }

    private mutating func finishRecoveryIfDone() {
        guard recovering, loopComplete else { return }
        for index in 0..<instruments.capacity where instruments[index].defined && !instruments[index].synced { return }
        recovering = false
        // Every book is whole and nothing is missing since: an instrument defined from here on
        // has all its messages in the stream.
        newBooksInSync = true
    }

    // MARK: decoding

    /// The header of a packet whose every message is well formed, or nil: a malformed packet
    /// is dropped whole (as if lost), never half applied.
    @inline(__always)
    static func validate(_ packet: UnsafeRawBufferPointer) -> PacketHeader? {
        do throws(WireDecodeError) {
            var reader = try PacketReader(packet: packet)
            while try reader.next() != nil {}
            return reader.header
        } catch {
            return nil
        }
    }

    /// A reader over a packet `validate` accepted.
    @inline(__always)
    static func reader(_ packet: UnsafeRawBufferPointer) -> PacketReader {
        do throws(WireDecodeError) {
            return try PacketReader(packet: packet)
        } catch {
            preconditionFailure("packet validated before: \(error)")
        }
    }

    @inline(__always)
    static func next(_ reader: inout PacketReader) -> WireMessage? {
        do throws(WireDecodeError) {
            return try reader.next()
        } catch {
            return nil
        }
    }

    /// The header of a well-formed packet of the channel followed (the first valid packet
    /// names it when the configuration did not), or nil, counted.
    @inline(__always)
    private mutating func acceptedHeader(_ packet: UnsafeRawBufferPointer, snapshotChannel isSnapshot: Bool) -> PacketHeader? {
        guard let header = Self.validate(packet) else {
            counters.malformedPackets &+= 1
            return nil
        }
        let followed = isSnapshot ? snapshotChannel : incrementalChannel
        guard followed == nil || followed == header.channel else {
            counters.foreignChannelPackets &+= 1
            return nil
        }
        if followed == nil {
            if isSnapshot { snapshotChannel = header.channel } else { incrementalChannel = header.channel }
        }
        return header
    }
}

/// What the client knows of one instrument of the session.
struct InstrumentState {
    var defined = false
    /// The book holds what the publisher's holds (as of the packets processed).
    var synced = false
    /// The publisher says its book is valid (a complete snapshot or a `valid` status since
    /// the last non-valid status).
    var trusted = false
    /// Deltas in packets up to this sequence are already in the book (a snapshot from the
    /// snapshot channel ahead of the incremental stream).
    var appliedThrough: UInt64 = 0

    var usable: Bool { defined && synced && trusted }
}

/// Per-instrument state and definitions, each in one allocation, indexed by instrument id
/// (the definitions apart: the per-delta check reads only the small state).
final class InstrumentStates {
    let capacity: Int
    private let states: UnsafeMutablePointer<InstrumentState>
    let definitions: UnsafeMutablePointer<WireInstrumentDefinition>

    init(capacity: Int) {
        self.capacity = capacity
        states = .allocate(capacity: capacity)
        states.initialize(repeating: InstrumentState(), count: capacity)
        definitions = .allocate(capacity: capacity)
        definitions.initialize(
            repeating: WireInstrumentDefinition(
                instrument: InstrumentId(0), venueCode: 0, priceScale: Scale(0), quantityScale: Scale(0), symbol: WireSymbol("")!),
            count: capacity)
    }

    deinit {
        states.deinitialize(count: capacity)
        states.deallocate()
        definitions.deinitialize(count: capacity)
        definitions.deallocate()
    }

    subscript(index: Int) -> InstrumentState {
        @inline(__always) get { states[index] }
        @inline(__always) set { states[index] = newValue }
    }

    func state(_ instrument: InstrumentId) -> InstrumentState? {
        instrument.index < capacity ? states[instrument.index] : nil
    }
}
