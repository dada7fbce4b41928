/*
 * tickwire_wire.h: the Tickwire wire protocol, version 1, as C structs.
 *
 * docs/PROTOCOL.md is the contract; this header mirrors its tables exactly, and the static
 * assertions below fail the build if a size or offset drifts. C11 or C++11.
 *
 * Byte order: the wire is little-endian. The structs are the wire layout on a little-endian
 * host (x86-64, ARM64), which is all this header supports; big-endian hosts fail to compile
 * here rather than misread silently.
 *
 * Alignment: every field is naturally aligned within its message, so the structs need no
 * packing. The receive buffer may be unaligned, and messages longer than their struct
 * (fields added by newer publishers) are normal: copy a message out with
 *     memcpy(&delta, packet + offset, sizeof delta);
 * after checking that its length is at least tw_message_min_length(type) and that it fits
 * in the packet, then advance by the message's own `length`, never by sizeof.
 * docs/examples/decode.c is a complete, validating decoder built on this header.
 */
#ifndef TICKWIRE_WIRE_H
#define TICKWIRE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tickwire_wire.h: the structs mirror a little-endian wire; byte-swap every field on this host"
#endif

#ifdef __cplusplus
#define TW_STATIC_ASSERT(condition, message) static_assert(condition, message)
extern "C" {
#else
#define TW_STATIC_ASSERT(condition, message) _Static_assert(condition, message)
#endif

/* ---- packet ------------------------------------------------------------------------- */

#define TW_MAGIC 0x5754u /* bytes 54 57, "TW" */
#define TW_VERSION 1u
#define TW_PACKET_HEADER_SIZE 32u
#define TW_MESSAGE_HEADER_SIZE 4u
#define TW_DEFAULT_MAX_PACKET_SIZE 1400u
#define TW_LARGEST_PACKET_SIZE 65507u /* largest UDP payload over IPv4 */

/* Packet header flags. */
#define TW_PACKET_FLAG_UNSEQUENCED 0x01u /* consumes no sequence number; sequence = next expected */

typedef struct tw_packet_header {
    uint16_t magic;          /* TW_MAGIC */
    uint8_t version;         /* TW_VERSION */
    uint8_t flags;           /* TW_PACKET_FLAG_* */
    uint16_t channel_id;
    uint16_t message_count;
    uint64_t sequence;       /* per channel and session, from 1; next expected if UNSEQUENCED */
    uint64_t send_time;      /* ns since the Unix epoch */
    uint64_t session_id;     /* changes when the publisher restarts */
} tw_packet_header;

typedef struct tw_message_header {
    uint16_t length;         /* bytes of the whole message, this header included */
    uint8_t type;            /* tw_message_type */
    uint8_t flags;           /* per type */
} tw_message_header;

/* ---- message types and codes ------------------------------------------------------------ */

typedef enum tw_message_type {
    TW_MSG_HEARTBEAT = 0x01,
    TW_MSG_END_OF_SESSION = 0x02,
    TW_MSG_INSTRUMENT_DEFINITION = 0x03,
    TW_MSG_BOOK_STATUS = 0x04,
    TW_MSG_RETRANSMIT_REQUEST = 0x05,
    TW_MSG_RETRANSMIT_REJECT = 0x06,
    TW_MSG_BOOK_DELTA = 0x10,
    TW_MSG_BOOK_SNAPSHOT = 0x11,
    TW_MSG_BEST_BID_OFFER = 0x12,
    TW_MSG_TRADE = 0x13
} tw_message_type;

/* Message flags, by type. Undefined bits are reserved: ignore them. */
#define TW_DELTA_FLAG_LAST_IN_UPDATE 0x01u   /* last delta of its venue update */
#define TW_SNAPSHOT_FLAG_LAST_CHUNK 0x01u    /* this chunk completes the snapshot */
#define TW_TRADE_FLAG_TRADE_ID_DIGEST 0x01u  /* trade_id is a digest of a non-integer venue id */

typedef enum tw_side {
    TW_SIDE_BID = 0,
    TW_SIDE_ASK = 1
} tw_side;

typedef enum tw_book_state {
    TW_BOOK_VALID = 1,
    TW_BOOK_INVALID = 2,
    TW_BOOK_RESYNCING = 3
} tw_book_state;

/* Book status reasons: an open set, accept codes not listed here. */
typedef enum tw_book_reason {
    TW_REASON_NONE = 0,
    TW_REASON_SEQUENCE_GAP = 1,
    TW_REASON_CHECKSUM_MISMATCH = 2,
    TW_REASON_CROSSED_BOOK = 3,
    TW_REASON_RING_OVERFLOW = 4,
    TW_REASON_STALE = 5,
    TW_REASON_DISCONNECTED = 6,
    TW_REASON_SNAPSHOT_PENDING = 7,
    TW_REASON_VENUE_RESET = 8,
    TW_REASON_MALFORMED_MESSAGE = 9
} tw_book_reason;

/* Venue codes: an open set, accept codes not listed here. */
typedef enum tw_venue {
    TW_VENUE_BINANCE_SPOT = 1,
    TW_VENUE_BINANCE_USDM = 2,
    TW_VENUE_BYBIT_LINEAR = 3,
    TW_VENUE_BYBIT_SPOT = 4,
    TW_VENUE_OKX = 5,
    TW_VENUE_COINBASE = 6,
    TW_VENUE_KRAKEN = 7
} tw_venue;

/* Retransmit reject reasons: an open set, accept codes not listed here. */
typedef enum tw_retransmit_reject_reason {
    TW_REJECT_NOT_AVAILABLE = 1,    /* outside the history window: use the snapshot channel */
    TW_REJECT_RATE_LIMITED = 2,
    TW_REJECT_UNKNOWN_CHANNEL = 3,
    TW_REJECT_SESSION_MISMATCH = 4,
    TW_REJECT_INVALID_REQUEST = 5
} tw_retransmit_reject_reason;

#define TW_RETRANSMIT_MAX_COUNT 1024u /* most packets one request may ask for */

#define TW_MAX_SCALE 18u
#define TW_SYMBOL_CAPACITY 32u

/* ---- messages ----------------------------------------------------------------------------- */

typedef struct tw_heartbeat {
    tw_message_header header;
    uint32_t reserved;
    uint64_t next_sequence;  /* = the packet header's sequence */
} tw_heartbeat;

typedef struct tw_end_of_session {
    tw_message_header header;
    uint32_t reserved;
    uint64_t next_sequence;  /* last sequence number of the session + 1 */
} tw_end_of_session;

typedef struct tw_instrument_definition {
    tw_message_header header;
    uint16_t instrument_id;
    uint8_t venue;           /* tw_venue */
    uint8_t price_scale;     /* decimal places, 0...18 */
    uint8_t quantity_scale;  /* decimal places, 0...18 */
    uint8_t symbol_length;   /* 0...32 */
    uint8_t reserved[6];
    char symbol[TW_SYMBOL_CAPACITY]; /* UTF-8, zero padded, not NUL-terminated when 32 bytes long */
} tw_instrument_definition;

typedef struct tw_book_status {
    tw_message_header header;
    uint16_t instrument_id;
    uint8_t state;           /* tw_book_state */
    uint8_t reason;          /* tw_book_reason */
    uint64_t venue_update_id; /* last venue update applied, 0 if none */
    uint64_t change_time;    /* ns */
} tw_book_status;

/* Sent by a consumer to the retransmission service, alone in an UNSEQUENCED packet whose
 * header carries the incremental channel asked about, sequence 0 and the session followed. */
typedef struct tw_retransmit_request {
    tw_message_header header;
    uint32_t count;          /* packets wanted, 1...TW_RETRANSMIT_MAX_COUNT */
    uint64_t first_sequence;
    uint64_t request_id;     /* chosen by the requester, echoed in any reject */
} tw_retransmit_request;

/* Sent by the service to the requester, alone in an UNSEQUENCED packet of the channel whose
 * sequence field is the channel's next sequence. */
typedef struct tw_retransmit_reject {
    tw_message_header header;
    uint8_t reason;          /* tw_retransmit_reject_reason */
    uint8_t reserved[3];
    uint64_t first_sequence; /* first sequence of the refused part */
    uint32_t count;          /* packets refused */
    uint32_t reserved2;
    uint64_t request_id;
    uint64_t oldest_available; /* first sequence still held, 0 if none */
    uint64_t next_sequence;
} tw_retransmit_reject;

typedef struct tw_book_delta {
    tw_message_header header; /* flags: TW_DELTA_FLAG_LAST_IN_UPDATE */
    uint16_t instrument_id;
    uint8_t side;            /* tw_side */
    uint8_t reserved;
    int64_t price;           /* mantissa, price scale of the instrument */
    int64_t quantity;        /* absolute quantity at the level; 0 deletes it */
    uint64_t venue_update_id; /* 0 if none */
    uint64_t event_time;     /* venue time, ns; 0 if none */
    uint64_t receive_time;   /* publisher receive time, ns */
} tw_book_delta;

typedef struct tw_book_snapshot {
    tw_message_header header; /* flags: TW_SNAPSHOT_FLAG_LAST_CHUNK */
    uint16_t instrument_id;
    uint16_t chunk_index;    /* 0 for the first chunk */
    uint64_t incremental_sequence; /* last incremental packet the snapshot includes */
    uint64_t venue_update_id;
    uint16_t bid_count;      /* bid levels in this chunk, best first */
    uint16_t ask_count;      /* ask levels in this chunk, best first, after the bids */
    uint16_t levels_offset;  /* from the message start: 32 in v1, larger in later versions */
    uint16_t reserved;
} tw_book_snapshot;

typedef struct tw_snapshot_level {
    int64_t price;
    int64_t quantity;
} tw_snapshot_level;

typedef struct tw_best_bid_offer {
    tw_message_header header;
    uint16_t instrument_id;
    uint16_t reserved;
    int64_t bid_price;       /* an empty side has price 0 and quantity 0 */
    int64_t bid_quantity;
    int64_t ask_price;
    int64_t ask_quantity;
    uint64_t venue_update_id;
    uint64_t event_time;
    uint64_t receive_time;
} tw_best_bid_offer;

typedef struct tw_trade {
    tw_message_header header; /* flags: TW_TRADE_FLAG_TRADE_ID_DIGEST */
    uint16_t instrument_id;
    uint8_t aggressor_side;  /* tw_side of the taker: 0 buyer, 1 seller */
    uint8_t reserved;
    int64_t price;
    int64_t quantity;
    uint64_t trade_id;
    uint64_t event_time;
    uint64_t receive_time;
} tw_trade;

/* The v1 length of a message type (for snapshots, without levels): shorter messages are
 * malformed. 0 for a type this header does not know: skip it by its length. */
static inline size_t tw_message_min_length(uint8_t type) {
    switch (type) {
    case TW_MSG_HEARTBEAT: return sizeof(tw_heartbeat);
    case TW_MSG_END_OF_SESSION: return sizeof(tw_end_of_session);
    case TW_MSG_INSTRUMENT_DEFINITION: return sizeof(tw_instrument_definition);
    case TW_MSG_BOOK_STATUS: return sizeof(tw_book_status);
    case TW_MSG_RETRANSMIT_REQUEST: return sizeof(tw_retransmit_request);
    case TW_MSG_RETRANSMIT_REJECT: return sizeof(tw_retransmit_reject);
    case TW_MSG_BOOK_DELTA: return sizeof(tw_book_delta);
    case TW_MSG_BOOK_SNAPSHOT: return sizeof(tw_book_snapshot);
    case TW_MSG_BEST_BID_OFFER: return sizeof(tw_best_bid_offer);
    case TW_MSG_TRADE: return sizeof(tw_trade);
    default: return 0;
    }
}

/* ---- layout checks: sizes and offsets as tabled in PROTOCOL.md ----------------------------- */

#define TW_CHECK_OFFSET(type, field, offset) \
    TW_STATIC_ASSERT(offsetof(type, field) == (offset), #type "." #field " must be at offset " #offset)

TW_STATIC_ASSERT(sizeof(tw_packet_header) == 32, "packet header is 32 bytes");
TW_CHECK_OFFSET(tw_packet_header, magic, 0);
TW_CHECK_OFFSET(tw_packet_header, version, 2);
TW_CHECK_OFFSET(tw_packet_header, flags, 3);
TW_CHECK_OFFSET(tw_packet_header, channel_id, 4);
TW_CHECK_OFFSET(tw_packet_header, message_count, 6);
TW_CHECK_OFFSET(tw_packet_header, sequence, 8);
TW_CHECK_OFFSET(tw_packet_header, send_time, 16);
TW_CHECK_OFFSET(tw_packet_header, session_id, 24);

TW_STATIC_ASSERT(sizeof(tw_message_header) == 4, "message header is 4 bytes");
TW_CHECK_OFFSET(tw_message_header, length, 0);
TW_CHECK_OFFSET(tw_message_header, type, 2);
TW_CHECK_OFFSET(tw_message_header, flags, 3);

TW_STATIC_ASSERT(sizeof(tw_heartbeat) == 16, "heartbeat is 16 bytes");
TW_CHECK_OFFSET(tw_heartbeat, next_sequence, 8);
TW_STATIC_ASSERT(sizeof(tw_end_of_session) == 16, "end of session is 16 bytes");
TW_CHECK_OFFSET(tw_end_of_session, next_sequence, 8);

TW_STATIC_ASSERT(sizeof(tw_instrument_definition) == 48, "instrument definition is 48 bytes");
TW_CHECK_OFFSET(tw_instrument_definition, instrument_id, 4);
TW_CHECK_OFFSET(tw_instrument_definition, venue, 6);
TW_CHECK_OFFSET(tw_instrument_definition, price_scale, 7);
TW_CHECK_OFFSET(tw_instrument_definition, quantity_scale, 8);
TW_CHECK_OFFSET(tw_instrument_definition, symbol_length, 9);
TW_CHECK_OFFSET(tw_instrument_definition, symbol, 16);

TW_STATIC_ASSERT(sizeof(tw_book_status) == 24, "book status is 24 bytes");
TW_CHECK_OFFSET(tw_book_status, instrument_id, 4);
TW_CHECK_OFFSET(tw_book_status, state, 6);
TW_CHECK_OFFSET(tw_book_status, reason, 7);
TW_CHECK_OFFSET(tw_book_status, venue_update_id, 8);
TW_CHECK_OFFSET(tw_book_status, change_time, 16);

TW_STATIC_ASSERT(sizeof(tw_retransmit_request) == 24, "retransmit request is 24 bytes");
TW_CHECK_OFFSET(tw_retransmit_request, count, 4);
TW_CHECK_OFFSET(tw_retransmit_request, first_sequence, 8);
TW_CHECK_OFFSET(tw_retransmit_request, request_id, 16);

TW_STATIC_ASSERT(sizeof(tw_retransmit_reject) == 48, "retransmit reject is 48 bytes");
TW_CHECK_OFFSET(tw_retransmit_reject, reason, 4);
TW_CHECK_OFFSET(tw_retransmit_reject, first_sequence, 8);
TW_CHECK_OFFSET(tw_retransmit_reject, count, 16);
TW_CHECK_OFFSET(tw_retransmit_reject, request_id, 24);
TW_CHECK_OFFSET(tw_retransmit_reject, oldest_available, 32);
TW_CHECK_OFFSET(tw_retransmit_reject, next_sequence, 40);

TW_STATIC_ASSERT(sizeof(tw_book_delta) == 48, "book delta is 48 bytes");
TW_CHECK_OFFSET(tw_book_delta, instrument_id, 4);
TW_CHECK_OFFSET(tw_book_delta, side, 6);
TW_CHECK_OFFSET(tw_book_delta, price, 8);
TW_CHECK_OFFSET(tw_book_delta, quantity, 16);
TW_CHECK_OFFSET(tw_book_delta, venue_update_id, 24);
TW_CHECK_OFFSET(tw_book_delta, event_time, 32);
TW_CHECK_OFFSET(tw_book_delta, receive_time, 40);

TW_STATIC_ASSERT(sizeof(tw_book_snapshot) == 32, "book snapshot fixed part is 32 bytes");
TW_CHECK_OFFSET(tw_book_snapshot, instrument_id, 4);
TW_CHECK_OFFSET(tw_book_snapshot, chunk_index, 6);
TW_CHECK_OFFSET(tw_book_snapshot, incremental_sequence, 8);
TW_CHECK_OFFSET(tw_book_snapshot, venue_update_id, 16);
TW_CHECK_OFFSET(tw_book_snapshot, bid_count, 24);
TW_CHECK_OFFSET(tw_book_snapshot, ask_count, 26);
TW_CHECK_OFFSET(tw_book_snapshot, levels_offset, 28);
TW_STATIC_ASSERT(sizeof(tw_snapshot_level) == 16, "snapshot level is 16 bytes");
TW_CHECK_OFFSET(tw_snapshot_level, price, 0);
TW_CHECK_OFFSET(tw_snapshot_level, quantity, 8);

TW_STATIC_ASSERT(sizeof(tw_best_bid_offer) == 64, "best bid/offer is 64 bytes");
TW_CHECK_OFFSET(tw_best_bid_offer, instrument_id, 4);
TW_CHECK_OFFSET(tw_best_bid_offer, bid_price, 8);
TW_CHECK_OFFSET(tw_best_bid_offer, bid_quantity, 16);
TW_CHECK_OFFSET(tw_best_bid_offer, ask_price, 24);
TW_CHECK_OFFSET(tw_best_bid_offer, ask_quantity, 32);
TW_CHECK_OFFSET(tw_best_bid_offer, venue_update_id, 40);
TW_CHECK_OFFSET(tw_best_bid_offer, event_time, 48);
TW_CHECK_OFFSET(tw_best_bid_offer, receive_time, 56);

TW_STATIC_ASSERT(sizeof(tw_trade) == 48, "trade is 48 bytes");
TW_CHECK_OFFSET(tw_trade, instrument_id, 4);
TW_CHECK_OFFSET(tw_trade, aggressor_side, 6);
TW_CHECK_OFFSET(tw_trade, price, 8);
TW_CHECK_OFFSET(tw_trade, quantity, 16);
TW_CHECK_OFFSET(tw_trade, trade_id, 24);
TW_CHECK_OFFSET(tw_trade, event_time, 32);
TW_CHECK_OFFSET(tw_trade, receive_time, 40);

#ifdef __cplusplus
}
#endif

#endif /* TICKWIRE_WIRE_H */
