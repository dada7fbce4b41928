// simdjson On-Demand side of the JSON head-to-head (scripts/bench-peers.sh `json` section).
// Parses the same Binance combined-stream depth diffs as Tickwire's adapter and extracts the
// same fields into the same fixed-point integers: stream, data.e, E, T, s, U, u, pu (when
// present), and every bid/ask price and quantity as an exact int64 at the instrument's scale
// (digits beyond the scale must be zeros, as in Tickwire; no double anywhere). It also checks
// the venue's continuity (spot U == prev u + 1, USD-M pu == prev u) like the adapter does.
//
// Input: one frame per line. Prints `name value` lines:
//   ns_per_msg  mean over the timed passes
//   messages    frames per pass
//   bytes       frame bytes per pass
//   checksum    sum of u, E*1e6 and every price+qty mantissa (must equal the Swift side's)
//
// Usage: json_peer FILE spot|usdm [min_seconds]
#include <simdjson.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string_view>
#include <vector>

using namespace simdjson;

namespace {

[[noreturn]] void fail(const char *what) {
    std::fprintf(stderr, "json_peer: %s\n", what);
    std::exit(1);
}

const uint64_t kPowers[19] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull,
                              1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull,
                              100000000000000ull, 1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
                              1000000000000000000ull};

// A quoted decimal's characters (from raw_json_string: the byte after the opening quote) to
// an exact mantissa at `scale`. Same rules as Tickwire: no rounding, overflow refused.
inline int64_t fixed_point(const char *p, int scale) {
    uint64_t integer = 0;
    const char *start = p;
    while (unsigned(*p - '0') < 10) integer = integer * 10 + unsigned(*p++ - '0');
    if (p == start || p - start > 18) fail("bad decimal");
    uint64_t fraction = 0;
    int digits = 0;
    if (*p == '.') {
        ++p;
        const char *fraction_start = p;
        while (unsigned(*p - '0') < 10) {
            if (digits < scale) {
                fraction = fraction * 10 + unsigned(*p - '0');
                ++digits;
            } else if (*p != '0') {
                fail("inexact decimal");
            }
            ++p;
        }
        if (p == fraction_start) fail("bad decimal");
    }
    if (*p != '"') fail("bad decimal");
    for (; digits < scale; ++digits) fraction *= 10;
    uint64_t scaled;
    if (__builtin_mul_overflow(integer, kPowers[scale], &scaled) || scaled + fraction > uint64_t(INT64_MAX)) fail("decimal overflow");
    return int64_t(scaled + fraction);
}

struct Totals {
    uint64_t checksum = 0;
    uint64_t local = 0;
};

inline void levels(ondemand::value value, int price_scale, int quantity_scale, uint64_t &checksum) {
    for (ondemand::array level : value.get_array()) {
        auto it = level.begin();
        int64_t price = fixed_point((*it).get_raw_json_string().value().raw(), price_scale);
        ++it;
        int64_t quantity = fixed_point((*it).get_raw_json_string().value().raw(), quantity_scale);
        if (price <= 0 || quantity < 0) fail("bad level");
        checksum += uint64_t(price) + uint64_t(quantity);
    }
}

inline void depth(ondemand::parser &parser, const char *frame, size_t length, bool spot, Totals &totals) {
    ondemand::document doc = parser.iterate(padded_string_view(frame, length, length + SIMDJSON_PADDING));
    uint64_t first = 0, last = 0, previous = 0, event_time = 0, transaction_time = 0;
    bool has_previous = false;
    std::string_view stream, symbol, event;
    for (auto field : doc.get_object()) {
        std::string_view key = field.unescaped_key();
        if (key == "stream") {
            stream = field.value().get_string();
        } else if (key == "data") {
            for (auto member : field.value().get_object()) {
                std::string_view name = member.unescaped_key();
                ondemand::value value = member.value();
                if (name.size() == 1) {
                    switch (name[0]) {
                    case 'e': event = value.get_string(); break;
                    case 'E': event_time = value.get_uint64(); break;
                    case 'T': transaction_time = value.get_uint64(); break;
                    case 's': symbol = value.get_string(); break;
                    case 'U': first = value.get_uint64(); break;
                    case 'u': last = value.get_uint64(); break;
                    case 'b': levels(value, 2, spot ? 8 : 3, totals.checksum); break;
                    case 'a': levels(value, 2, spot ? 8 : 3, totals.checksum); break;
                    default: break;
                    }
                } else if (name == "pu") {
                    previous = value.get_uint64();
                    has_previous = true;
                }
            }
        }
    }
    if (event != "depthUpdate" || symbol != "ETHUSDT" || stream.empty()) fail("not an ETHUSDT depth update");
    // The venue's continuity rule, as the adapter applies it.
    bool chained = spot ? (first <= totals.local + 1 && last >= totals.local) : (has_previous && previous == totals.local);
    if (!chained) fail("sequence gap");
    totals.local = last;
    totals.checksum += last + event_time * 1000000ull + (transaction_time & 0);
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 3) fail("usage: json_peer FILE spot|usdm [min_seconds]");
    bool spot = std::strcmp(argv[2], "spot") == 0;
    double min_seconds = argc > 3 ? std::atof(argv[3]) : 0.5;

    std::ifstream file(argv[1], std::ios::binary | std::ios::ate);
    if (!file) fail("cannot open input");
    size_t size = size_t(file.tellg());
    std::vector<char> buffer(size + SIMDJSON_PADDING, 0);
    file.seekg(0);
    file.read(buffer.data(), std::streamsize(size));
    std::vector<std::pair<size_t, size_t>> frames;  // offset, length
    size_t bytes = 0;
    for (size_t start = 0; start < size;) {
        size_t end = start;
        while (end < size && buffer[end] != '\n') ++end;
        if (end > start) {
            frames.emplace_back(start, end - start);
            bytes += end - start;
        }
        start = end + 1;
    }
    if (frames.empty()) fail("no frames");

    // The book's id before the first frame: spot U - 1, USD-M pu (as the Swift side assumes).
    ondemand::parser parser;
    uint64_t start_id;
    {
        std::string first(buffer.data() + frames[0].first, frames[0].second);
        padded_string padded(first);
        ondemand::document doc = parser.iterate(padded);
        ondemand::object data = doc["data"].get_object();
        start_id = spot ? uint64_t(data["U"].get_uint64()) - 1 : uint64_t(data["pu"].get_uint64());
    }

    auto pass = [&](Totals &totals) {
        totals.local = start_id;
        for (auto [offset, length] : frames) depth(parser, buffer.data() + offset, length, spot, totals);
    };
    Totals warm;
    pass(warm);  // untimed: page-in, parser buffers sized, caches warm

    using clock = std::chrono::steady_clock;
    uint64_t passes = 0;
    Totals totals;
    auto begin = clock::now();
    double elapsed = 0;
    do {
        pass(totals);
        ++passes;
        elapsed = std::chrono::duration<double>(clock::now() - begin).count();
    } while (elapsed < min_seconds);
    std::printf("ns_per_msg %.2f\n", elapsed * 1e9 / double(passes * frames.size()));
    std::printf("messages %zu\n", frames.size());
    std::printf("bytes %zu\n", bytes);
    std::printf("checksum %llu\n", (unsigned long long)warm.checksum);
    return 0;
}
