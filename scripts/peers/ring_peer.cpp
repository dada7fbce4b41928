// C++ side of the ring head-to-head (scripts/bench-peers.sh): boost::lockfree::spsc_queue with
// 64-byte items, capacity 8192, producer on core 0, consumer on core 1. The same protocol, item
// and checks as ring_swift/main.swift, so only the rings differ.
//
// Prints one `name value` line per figure:
//   throughput_single  M items/s, push / pop one item at a time
//   throughput_batch   M items/s, push(ptr, n) / pop(ptr, n) 256 items at a time
//   roundtrip          ns, one item through two queues and back
//
// Usage: ring_peer [items] [round_trips]
#include <boost/lockfree/spsc_queue.hpp>

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

namespace {

constexpr size_t kCapacity = 8192;
constexpr size_t kBatchSize = 256;

// 64 bytes; aligned to a cache line like the Swift ring's slots.
struct alignas(64) Item {
    uint64_t sequence;
    uint64_t payload[7];

    Item() = default;
    explicit Item(uint64_t s) : sequence(s) {
        for (auto &field : payload) field = s;
    }
};
static_assert(sizeof(Item) == 64, "Item must be 64 bytes");

// Compile-time capacity: boost's fastest configuration (no runtime size to load).
using Queue = boost::lockfree::spsc_queue<Item, boost::lockfree::capacity<kCapacity>>;

uint64_t items = 30'000'000;
uint64_t round_trips = 1'000'000;
uint64_t warmup_items = 0;
uint64_t warmup_round_trips = 0;

uint64_t monotonic_ns() {
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return uint64_t(now.tv_sec) * 1'000'000'000u + uint64_t(now.tv_nsec);
}

void pin_to_core(int core) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
        std::fprintf(stderr, "pinning to core %d failed\n", core);
        std::abort();
    }
}

[[noreturn]] void out_of_order(uint64_t expected, uint64_t got) {
    std::fprintf(stderr, "queue delivered %" PRIu64 ", expected %" PRIu64 "\n", got, expected);
    std::abort();
}

template <typename Body>
std::thread start_on_core1(Body body) {
    return std::thread([body] {
        pin_to_core(1);
        body();
    });
}

double throughput_single(Queue &queue) {
    const uint64_t total = warmup_items + items;
    auto consumer = start_on_core1([&queue, total] {
        uint64_t expected = 0;
        Item item;
        while (expected < total) {
            if (!queue.pop(item)) continue;
            if (item.sequence != expected) out_of_order(expected, item.sequence);
            ++expected;
        }
    });
    uint64_t start = 0;
    for (uint64_t sequence = 0; sequence < total; ++sequence) {
        if (sequence == warmup_items) start = monotonic_ns();
        const Item item(sequence);
        while (!queue.push(item)) {
        }
    }
    consumer.join();
    return double(items) * 1e3 / double(monotonic_ns() - start);
}

double throughput_batch(Queue &queue) {
    const uint64_t total = warmup_items + items;
    auto consumer = start_on_core1([&queue, total] {
        auto received = std::make_unique<Item[]>(kBatchSize);
        uint64_t expected = 0;
        while (expected < total) {
            const size_t count = queue.pop(received.get(), kBatchSize);
            for (size_t index = 0; index < count; ++index) {
                if (received[index].sequence != expected) out_of_order(expected, received[index].sequence);
                ++expected;
            }
        }
    });
    auto staged = std::make_unique<Item[]>(kBatchSize);
    uint64_t start = 0;
    bool timing = false;
    uint64_t timed_from = 0;
    uint64_t next = 0;
    while (next < total) {
        if (!timing && next >= warmup_items) {
            timing = true;
            timed_from = next;
            start = monotonic_ns();
        }
        const size_t count = size_t(std::min<uint64_t>(kBatchSize, total - next));
        for (size_t index = 0; index < count; ++index) staged[index] = Item(next + index);
        size_t pushed = 0;
        while (pushed < count) pushed += queue.push(staged.get() + pushed, count - pushed);
        next += count;
    }
    consumer.join();
    return double(total - timed_from) * 1e3 / double(monotonic_ns() - start);
}

double round_trip(Queue &outbound, Queue &inbound) {
    const uint64_t total = warmup_round_trips + round_trips;
    auto echo = start_on_core1([&outbound, &inbound, total] {
        Item item;
        for (uint64_t count = 0; count < total; ++count) {
            while (!outbound.pop(item)) {
            }
            while (!inbound.push(item)) {
            }
        }
    });
    uint64_t start = 0;
    Item reply;
    for (uint64_t sequence = 0; sequence < total; ++sequence) {
        if (sequence == warmup_round_trips) start = monotonic_ns();
        while (!outbound.push(Item(sequence))) {
        }
        while (!inbound.pop(reply)) {
        }
        if (reply.sequence != sequence) out_of_order(sequence, reply.sequence);
    }
    const uint64_t elapsed = monotonic_ns() - start;
    echo.join();
    return double(elapsed) / double(round_trips);
}

}  // namespace

int main(int argc, char **argv) {
    if (argc > 1) items = std::strtoull(argv[1], nullptr, 10);
    if (argc > 2) round_trips = std::strtoull(argv[2], nullptr, 10);
    // Untimed lead-in: first-touch, frequency ramp-up and the threads meeting up.
    warmup_items = items / 20;
    warmup_round_trips = round_trips / 20;

    pin_to_core(0);
    {
        auto queue = std::make_unique<Queue>();
        std::printf("throughput_single %f\n", throughput_single(*queue));
    }
    {
        auto queue = std::make_unique<Queue>();
        std::printf("throughput_batch %f\n", throughput_batch(*queue));
    }
    {
        auto outbound = std::make_unique<Queue>();
        auto inbound = std::make_unique<Queue>();
        std::printf("roundtrip %f\n", round_trip(*outbound, *inbound));
    }
    return 0;
}
