/*
 * decode.c: a complete, validating Tickwire v1 decoder built only on docs/tickwire_wire.h.
 *
 * Reads a file of packets, each prefixed by its length as a little-endian u32 (the format
 * the Swift tests write; a live consumer would take datagrams from recvmmsg instead), and
 * prints every packet in the canonical text form the Swift tests compare against. Every
 * length is checked against the packet before a message is copied out, in the same order
 * as the Swift decoder, so both report the same first error.
 *
 *     cc -std=c11 -Wall -Wextra -Wpedantic -I docs -o decode docs/examples/decode.c
 *     ./decode packets.bin
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickwire_wire.h"

/* Prints the message after validating its fields; returns 0, or -1 after printing the error. */
static int print_message(const uint8_t *message, size_t offset, tw_message_header header) {
    switch (header.type) {
    case TW_MSG_HEARTBEAT: {
        tw_heartbeat heartbeat;
        memcpy(&heartbeat, message, sizeof heartbeat);
        printf("heartbeat next_sequence=%" PRIu64 "\n", heartbeat.next_sequence);
        return 0;
    }
    case TW_MSG_END_OF_SESSION: {
        tw_end_of_session end;
        memcpy(&end, message, sizeof end);
        printf("end_of_session next_sequence=%" PRIu64 "\n", end.next_sequence);
        return 0;
    }
    case TW_MSG_INSTRUMENT_DEFINITION: {
        tw_instrument_definition definition;
        memcpy(&definition, message, sizeof definition);
        size_t field = 0;
        unsigned value = 0;
        if (definition.symbol_length > TW_SYMBOL_CAPACITY) {
            field = offsetof(tw_instrument_definition, symbol_length);
            value = definition.symbol_length;
        } else if (definition.price_scale > TW_MAX_SCALE) {
            field = offsetof(tw_instrument_definition, price_scale);
            value = definition.price_scale;
        } else if (definition.quantity_scale > TW_MAX_SCALE) {
            field = offsetof(tw_instrument_definition, quantity_scale);
            value = definition.quantity_scale;
        }
        if (field != 0) {
            printf("error invalidFieldValue offset=%zu type=%u field=%zu value=%u\n", offset, header.type, field, value);
            return -1;
        }
        printf("definition instrument=%u venue=%u price_scale=%u quantity_scale=%u symbol=", definition.instrument_id,
               definition.venue, definition.price_scale, definition.quantity_scale);
        for (unsigned i = 0; i < definition.symbol_length; i++) printf("%02x", (unsigned char)definition.symbol[i]);
        printf("\n");
        return 0;
    }
    case TW_MSG_BOOK_STATUS: {
        tw_book_status status;
        memcpy(&status, message, sizeof status);
        if (status.state < TW_BOOK_VALID || status.state > TW_BOOK_RESYNCING) {
            printf("error invalidFieldValue offset=%zu type=%u field=%zu value=%u\n", offset, header.type,
                   offsetof(tw_book_status, state), status.state);
            return -1;
        }
        printf("status instrument=%u state=%u reason=%u update_id=%" PRIu64 " change_time=%" PRIu64 "\n",
               status.instrument_id, status.state, status.reason, status.venue_update_id, status.change_time);
        return 0;
    }
    case TW_MSG_RETRANSMIT_REQUEST: {
        tw_retransmit_request request;
        memcpy(&request, message, sizeof request);
        printf("retransmit_request count=%" PRIu32 " first_sequence=%" PRIu64 " request_id=%" PRIu64 "\n", request.count,
               request.first_sequence, request.request_id);
        return 0;
    }
    case TW_MSG_RETRANSMIT_REJECT: {
        tw_retransmit_reject reject;
        memcpy(&reject, message, sizeof reject);
        printf("retransmit_reject reason=%u first_sequence=%" PRIu64 " count=%" PRIu32 " request_id=%" PRIu64
               " oldest_available=%" PRIu64 " next_sequence=%" PRIu64 "\n",
               reject.reason, reject.first_sequence, reject.count, reject.request_id, reject.oldest_available,
               reject.next_sequence);
        return 0;
    }
    case TW_MSG_BOOK_DELTA: {
        tw_book_delta delta;
        memcpy(&delta, message, sizeof delta);
        if (delta.side > TW_SIDE_ASK) {
            printf("error invalidFieldValue offset=%zu type=%u field=%zu value=%u\n", offset, header.type,
                   offsetof(tw_book_delta, side), delta.side);
            return -1;
        }
        printf("delta instrument=%u side=%u price=%" PRId64 " quantity=%" PRId64 " update_id=%" PRIu64
               " event_time=%" PRIu64 " receive_time=%" PRIu64 " last=%u\n",
               delta.instrument_id, delta.side, delta.price, delta.quantity, delta.venue_update_id, delta.event_time,
               delta.receive_time, header.flags & TW_DELTA_FLAG_LAST_IN_UPDATE);
        return 0;
    }
    case TW_MSG_BOOK_SNAPSHOT: {
        tw_book_snapshot snapshot;
        memcpy(&snapshot, message, sizeof snapshot);
        size_t levels = (size_t)snapshot.bid_count + snapshot.ask_count;
        if (snapshot.levels_offset < sizeof snapshot ||
            snapshot.levels_offset + levels * sizeof(tw_snapshot_level) > header.length) {
            printf("error snapshotLevelsOverrunMessage offset=%zu\n", offset);
            return -1;
        }
        printf("snapshot instrument=%u chunk=%u last=%u incremental_sequence=%" PRIu64 " update_id=%" PRIu64
               " bids=%u asks=%u\n",
               snapshot.instrument_id, snapshot.chunk_index, header.flags & TW_SNAPSHOT_FLAG_LAST_CHUNK,
               snapshot.incremental_sequence, snapshot.venue_update_id, snapshot.bid_count, snapshot.ask_count);
        for (size_t i = 0; i < levels; i++) {
            tw_snapshot_level level;
            memcpy(&level, message + snapshot.levels_offset + i * sizeof level, sizeof level);
            printf("level side=%s price=%" PRId64 " quantity=%" PRId64 "\n", i < snapshot.bid_count ? "bid" : "ask",
                   level.price, level.quantity);
        }
        return 0;
    }
    case TW_MSG_BEST_BID_OFFER: {
        tw_best_bid_offer quote;
        memcpy(&quote, message, sizeof quote);
        printf("bbo instrument=%u bid_price=%" PRId64 " bid_quantity=%" PRId64 " ask_price=%" PRId64
               " ask_quantity=%" PRId64 " update_id=%" PRIu64 " event_time=%" PRIu64 " receive_time=%" PRIu64 "\n",
               quote.instrument_id, quote.bid_price, quote.bid_quantity, quote.ask_price, quote.ask_quantity,
               quote.venue_update_id, quote.event_time, quote.receive_time);
        return 0;
    }
    case TW_MSG_TRADE: {
        tw_trade trade;
        memcpy(&trade, message, sizeof trade);
        if (trade.aggressor_side > TW_SIDE_ASK) {
            printf("error invalidFieldValue offset=%zu type=%u field=%zu value=%u\n", offset, header.type,
                   offsetof(tw_trade, aggressor_side), trade.aggressor_side);
            return -1;
        }
        printf("trade instrument=%u aggressor=%u price=%" PRId64 " quantity=%" PRId64 " trade_id=%" PRIu64
               " digest=%u event_time=%" PRIu64 " receive_time=%" PRIu64 "\n",
               trade.instrument_id, trade.aggressor_side, trade.price, trade.quantity, trade.trade_id,
               header.flags & TW_TRADE_FLAG_TRADE_ID_DIGEST, trade.event_time, trade.receive_time);
        return 0;
    }
    default:
        printf("unknown type=%u\n", header.type);
        return 0;
    }
}

/* Prints the packet header and its messages; returns 0, or -1 after printing the first error. */
static int print_packet(const uint8_t *packet, size_t size) {
    if (size < TW_PACKET_HEADER_SIZE) {
        printf("error packetTooShort length=%zu\n", size);
        return -1;
    }
    if (size > TW_LARGEST_PACKET_SIZE) {
        printf("error packetTooLong length=%zu\n", size);
        return -1;
    }
    tw_packet_header header;
    memcpy(&header, packet, sizeof header);
    if (header.magic != TW_MAGIC) {
        printf("error badMagic magic=%u\n", header.magic);
        return -1;
    }
    if (header.version != TW_VERSION) {
        printf("error unsupportedVersion version=%u\n", header.version);
        return -1;
    }
    printf("packet channel=%u flags=%u count=%u sequence=%" PRIu64 " send_time=%" PRIu64 " session=%" PRIu64 "\n",
           header.channel_id, header.flags, header.message_count, header.sequence, header.send_time, header.session_id);

    size_t offset = TW_PACKET_HEADER_SIZE;
    for (unsigned decoded = 0;; decoded++) {
        size_t available = size - offset;
        if (decoded == header.message_count) {
            if (available == 0) return 0;
            printf("error trailingBytes offset=%zu count=%zu\n", offset, available);
            return -1;
        }
        if (available < TW_MESSAGE_HEADER_SIZE) {
            if (available == 0)
                printf("error messageCountMismatch declared=%u found=%u\n", header.message_count, decoded);
            else
                printf("error truncatedMessageHeader offset=%zu available=%zu\n", offset, available);
            return -1;
        }
        tw_message_header message;
        memcpy(&message, packet + offset, sizeof message);
        size_t minimum = tw_message_min_length(message.type);
        if (message.length < TW_MESSAGE_HEADER_SIZE) {
            printf("error messageTooShort offset=%zu type=%u length=%u\n", offset, message.type, message.length);
            return -1;
        }
        if (message.length > available) {
            printf("error messageOverrunsPacket offset=%zu length=%u available=%zu\n", offset, message.length, available);
            return -1;
        }
        if (message.length < minimum) {
            printf("error messageTooShort offset=%zu type=%u length=%u\n", offset, message.type, message.length);
            return -1;
        }
        if (print_message(packet + offset, offset, message) != 0) return -1;
        offset += message.length;
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PACKETS_FILE\n", argv[0]);
        return 2;
    }
    FILE *file = fopen(argv[1], "rb");
    if (!file) {
        perror(argv[1]);
        return 2;
    }
    uint8_t prefix[4];
    while (fread(prefix, 1, sizeof prefix, file) == sizeof prefix) {
        size_t size = (size_t)prefix[0] | (size_t)prefix[1] << 8 | (size_t)prefix[2] << 16 | (size_t)prefix[3] << 24;
        uint8_t *packet = malloc(size ? size : 1);
        if (!packet || fread(packet, 1, size, file) != size) {
            fprintf(stderr, "%s: truncated record\n", argv[1]);
            return 2;
        }
        print_packet(packet, size);
        free(packet);
    }
    fclose(file);
    return 0;
}
