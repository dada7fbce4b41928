import CTickwire
import TickwireCore
import TickwireVenues

#if canImport(Glibc)
import Glibc
#endif

/// What one recorded venue connection left behind.
public struct RecordedConnection: Sendable {
    public var venue: String
    public var files: [String]
    public var frames: UInt64
    public var bytesWritten: UInt64
    public var counters: FeedCounters
    /// Why recording stopped early (a write failure), if it did.
    public var failure: String?
}

/// Records venue connections (`tickwire record`): each connects and syncs exactly as in `run`
/// (same `VenueFeed`, its books kept by a `BookKeeper`, so resyncs and REST snapshot fetches
/// happen as the daemon's would) and every raw frame goes to its own `FrameRecorder`, one
/// file series per connection named after its venue file. Nothing is published. The
/// connections take turns on the calling thread until `shouldStop` or (with `runOnce`) until
/// every connection has ended.
public func recordVenues(
    _ configs: [VenueConfig], settings: RecordingSettings, runOnce: Bool,
    shouldStop: () -> Bool, log: @escaping @Sendable (String) -> Void
) throws -> [RecordedConnection] {
    var feeds: [RecordingFeed] = []
    var names: Set<String> = []
    defer { for feed in feeds { feed.shutDown() } }
    for config in configs {
        var name = recordingName(config)
        if names.contains(name) { name += "-\(feeds.count + 1)" }
        names.insert(name)
        let recorder: FrameRecorder
        do throws(RecordingError) { recorder = try FrameRecorder(name: name, settings: settings) } catch {
            throw FeedSetupError("\(config.file): \(error)")
        }
        log("\(config.venue.name): recording to \(recorder.currentFile ?? settings.directory)")
        feeds.append(try config.withAdapter(RecordingFeedBuilder(
            config: config, recorder: recorder, options: FeedOptions(runOnce: runOnce, log: log))))
    }
    var ended = [Bool](repeating: false, count: feeds.count)
    while !shouldStop() && ended.contains(false) {
        var work = 0
        for index in feeds.indices where !ended[index] {
            work &+= feeds[index].poll()
            if feeds[index].finished() { ended[index] = true }
        }
        if work == 0 {
            for feed in feeds { feed.recorder.flushIfDue() }
            usleep(100)
        }
    }
    return feeds.map { feed in
        feed.recorder.close()
        return RecordedConnection(venue: feed.venue, files: feed.recorder.files, frames: feed.recorder.frames,
                                  bytesWritten: feed.recorder.bytesWritten, counters: feed.counters(), failure: feed.recorder.failure)
    }
}

/// The venue file's name without `.toml` (`config/binance-spot.toml` → `binance-spot`): one
/// name per connection, even with two connections to one venue.
func recordingName(_ config: VenueConfig) -> String {
    var base = config.file.split(separator: "/").last.map(String.init) ?? config.venue.name
    if base.hasSuffix(".toml") { base.removeLast(5) }
    return base.isEmpty ? config.venue.name : base
}

/// Books are kept (the keeper judges them, so resyncs happen as live) but nothing is published.
struct DiscardingObserver: BookObserver {
    func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) {}
    func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {}
}

/// A recording feed, its adapter type erased by closures made where it is concrete.
private final class RecordingFeed {
    let venue: String
    let recorder: FrameRecorder
    let poll: () -> Int
    let finished: () -> Bool
    let shutDown: () -> Void
    let counters: () -> FeedCounters

    init<Adapter: VenueAdapter>(_ feed: VenueFeed<Adapter, BookKeeper<DiscardingObserver>, RecordingTap>, recorder: FrameRecorder) {
        let box = RecordingFeedBox(feed)
        venue = feed.config.venue.name
        self.recorder = recorder
        poll = { box.feed.poll() }
        finished = { box.feed.finished != nil }
        shutDown = { box.feed.shutDown() }
        counters = { box.feed.counters }
    }
}

private final class RecordingFeedBox<Adapter: VenueAdapter> {
    var feed: VenueFeed<Adapter, BookKeeper<DiscardingObserver>, RecordingTap>
    init(_ feed: VenueFeed<Adapter, BookKeeper<DiscardingObserver>, RecordingTap>) { self.feed = feed }
}

private struct RecordingFeedBuilder: VenueAdapterConsumer {
    let config: VenueConfig
    let recorder: FrameRecorder
    let options: FeedOptions
    func consume<Adapter: VenueAdapter>(_ adapter: Adapter, books: FeedBooks) throws -> RecordingFeed {
        let keeper = BookKeeper(books: books.books, instruments: books.instruments, observer: DiscardingObserver())
        let feed = try VenueFeed(config: config, adapter: adapter, symbols: books.symbols, sink: keeper,
                                 tap: RecordingTap(recorder), options: options)
        return RecordingFeed(feed, recorder: recorder)
    }
}
