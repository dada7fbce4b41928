/// One retransmission request sent and not yet answered (or given up).
struct OutstandingRequest {
    var active = false
    var id: UInt64 = 0
    var first: UInt64 = 0
    var end: UInt64 = 0
    var deadline: UInt64 = 0
    /// 1 for the first request for a hole, then one more per retry after a timeout.
    var attempt = 1
    /// Ranges from this sequence on were asked for after this request.
    var askedLaterFrom: UInt64 = 0
}

/// Requests for holes beyond the one being awaited, oldest first, in a ring allocated once.
/// A consumer working through a backlog finds holes far faster than one round trip each: the
/// later ones are asked for as soon as they are found, so their answers are held by the time
/// the earlier holes are filled.
final class OutstandingRequests {
    let capacity: Int
    private let entries: UnsafeMutablePointer<OutstandingRequest>
    private var start = 0
    private(set) var count = 0

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        entries = .allocate(capacity: capacity)
        entries.initialize(repeating: OutstandingRequest(), count: capacity)
    }

    deinit {
        entries.deinitialize(count: capacity)
        entries.deallocate()
    }

    var isFull: Bool { count == capacity }

    /// The request `offset` places after the oldest.
    subscript(offset: Int) -> OutstandingRequest {
        get { entries[(start &+ offset) % capacity] }
        set { entries[(start &+ offset) % capacity] = newValue }
    }

    func append(_ request: OutstandingRequest) {
        precondition(!isFull)
        entries[(start &+ count) % capacity] = request
        count &+= 1
    }

    /// Drops the requests whose ranges end at or before `sequence` (all their packets came);
    /// how many.
    func removeAnswered(before sequence: UInt64) -> Int {
        var removed = 0
        while count > 0 && entries[start].end <= sequence {
            dropFirst()
            removed &+= 1
        }
        return removed
    }

    /// Takes out the oldest request if its range holds `sequence`.
    func removeFirst(covering sequence: UInt64) -> OutstandingRequest? {
        guard count > 0 && entries[start].first <= sequence && sequence < entries[start].end else { return nil }
        defer { dropFirst() }
        return entries[start]
    }

    private func dropFirst() {
        start = (start &+ 1) % capacity
        count &-= 1
    }

    func removeAll() {
        start = 0
        count = 0
    }
}
