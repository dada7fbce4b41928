import CTickwire
import TickwireCore
import TickwireVenues

#if canImport(Glibc)
import Glibc
#endif

/// Where finished lines go.
public protocol LineSink {
    mutating func emit(_ line: UnsafeRawBufferPointer)
}

/// write(2) to a file descriptor, the whole line at once (no stdio buffering: a pipe reader
/// sees each line as soon as it is produced).
public struct FileDescriptorSink: LineSink {
    public let descriptor: Int32
    public private(set) var failures = 0

    public init(descriptor: Int32 = 1) { self.descriptor = descriptor }

    public mutating func emit(_ line: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < line.count {
            let written = write(descriptor, line.baseAddress! + offset, line.count - offset)
            if written > 0 {
                offset += written
            } else if written < 0 && (errno == EINTR || errno == EAGAIN) {
                continue
            } else {
                failures += 1
                return
            }
        }
    }
}

/// `watch --format jsonl`: one JSON line (`BookLineFormatter`) per completed book update, and
/// one per transition to invalid, written to `sink` as it is made.
public struct JSONLinesObserver<Sink: LineSink>: BookObserver {
    public var sink: Sink
    public private(set) var linesWritten: UInt64 = 0
    private var formatter: BookLineFormatter

    public var levels: Int { formatter.levels }

    public init(venue: Venue, instruments: InstrumentTable, levels: Int, sink: Sink) {
        self.sink = sink
        formatter = BookLineFormatter(instrumentCapacity: max(1, instruments.count), levels: levels)
        for definition in instruments.definitions {
            formatter.define(definition.id, venue: venue.name, symbol: definition.symbol,
                             priceScale: definition.priceScale, quantityScale: definition.quantityScale)
        }
    }

    public mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) {
        sink.emit(formatter.updateLine(instrument, book: book, venueUpdateId: venueUpdateId, receiveTime: receiveTime))
        linesWritten &+= 1
    }

    public mutating func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        sink.emit(formatter.invalidLine(instrument, reason: reason, receiveTime: receiveTime))
        linesWritten &+= 1
    }
}
