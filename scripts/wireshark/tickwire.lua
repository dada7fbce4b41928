-- Wireshark / tshark dissector for the Tickwire wire protocol, version 1 (docs/PROTOCOL.md).
--
-- Use:   tshark -X lua_script:scripts/wireshark/tickwire.lua -r capture.pcap -V
--        wireshark -X lua_script:scripts/wireshark/tickwire.lua
--   or copy the file into ~/.local/lib/wireshark/plugins/.
-- Found two ways: UDP ports in the "Tickwire ports" preference (default 30001-30010; set it with
-- `-o tickwire.ports:30001,31000-31010`), and heuristically on any UDP datagram that starts with
-- the magic "TW" (54 57) and version 1 (the heuristic is on by default).
-- Display filter examples: tickwire.sequence == 42, tickwire.msg.type == 0x10,
-- tickwire.delta.instrument == 7, tickwire.malformed.
--
-- Every field of the packet header and of every v1 message (0x01-0x06, 0x10-0x13) is shown;
-- unknown types are skipped by their length, as consumers do. Checks follow PROTOCOL.md
-- "Validating a packet": a length or value a consumer would reject is flagged as an expert
-- error (filter: tickwire.malformed). Prices and quantities are shown as their i64 mantissas
-- and, once the capture held the instrument's definition (0x03) for that session and channel,
-- also as decimals.
--
-- Captures with AF_XDP receive (XdpUdpReceiver, `--backend xdp`): the XDP program runs before
-- the kernel's capture tap, so tcpdump/Wireshark on the receiving interface do NOT show the feed
-- datagrams it redirects to the AF_XDP socket; they do show everything it passes (ARP, SSH, other
-- ports). Measured on veth in native mode by WiresharkDissectorTests
-- (onTheXdpReceiversInterfaceACaptureShowsThePassedTrafficButNotTheRedirectedFeed); generic
-- (SKB) mode also runs XDP before the tap. To see the feed with bypass on: capture on the
-- sending side or the peer of the link (a veth peer, a switch mirror/SPAN port), or switch the
-- listener to the socket backend for the session being debugged. (xdpdump, which hooks the XDP
-- program itself, failed here with EPERM: xdp-tools 1.3.1 on kernel 6.18 without CAP_SYS_RESOURCE.)

local tickwire = Proto("tickwire", "Tickwire market data (wire protocol v1)")

local MAGIC = 0x5754
local HEADER_SIZE = 32

local message_types = {
    [0x01] = "Heartbeat", [0x02] = "End of session", [0x03] = "Instrument definition",
    [0x04] = "Book status", [0x05] = "Retransmit request", [0x06] = "Retransmit reject",
    [0x10] = "Book delta", [0x11] = "Book snapshot", [0x12] = "Best bid/offer", [0x13] = "Trade",
}
-- v1 length of each type (snapshot: without levels); shorter messages are malformed.
local minimum_lengths = {
    [0x01] = 16, [0x02] = 16, [0x03] = 48, [0x04] = 24, [0x05] = 24, [0x06] = 48,
    [0x10] = 48, [0x11] = 32, [0x12] = 64, [0x13] = 48,
}
local venues = {
    [1] = "binance-spot", [2] = "binance-usdm", [3] = "bybit-linear", [4] = "bybit-spot",
    [5] = "okx", [6] = "coinbase", [7] = "kraken",
}
local sides = { [0] = "bid", [1] = "ask" }
local aggressors = { [0] = "buyer (lifted an ask)", [1] = "seller (hit a bid)" }
local book_states = { [1] = "valid", [2] = "invalid", [3] = "resyncing" }
local status_reasons = {
    [0] = "none", [1] = "sequenceGap", [2] = "checksumMismatch", [3] = "crossedBook",
    [4] = "ringOverflow", [5] = "stale", [6] = "disconnected", [7] = "snapshotPending",
    [8] = "venueReset", [9] = "malformedMessage",
}
local reject_reasons = {
    [1] = "notAvailable", [2] = "rateLimited", [3] = "unknownChannel",
    [4] = "sessionMismatch", [5] = "invalidRequest",
}

local F = ProtoField
local f = {
    magic = F.uint16("tickwire.magic", "Magic", base.HEX),
    version = F.uint8("tickwire.version", "Version", base.DEC),
    flags = F.uint8("tickwire.flags", "Flags", base.HEX),
    unsequenced = F.bool("tickwire.flags.unsequenced", "UNSEQUENCED", 8, nil, 0x01),
    channel = F.uint16("tickwire.channel", "Channel", base.DEC),
    message_count = F.uint16("tickwire.message_count", "Message count", base.DEC),
    sequence = F.uint64("tickwire.sequence", "Sequence", base.DEC),
    send_time = F.uint64("tickwire.send_time", "Send time (ns)", base.DEC),
    send_time_utc = F.absolute_time("tickwire.send_time_utc", "Send time", base.UTC),
    session = F.uint64("tickwire.session", "Session id", base.HEX),

    msg_length = F.uint16("tickwire.msg.length", "Length", base.DEC),
    msg_type = F.uint8("tickwire.msg.type", "Type", base.HEX, message_types),
    msg_flags = F.uint8("tickwire.msg.flags", "Flags", base.HEX),
    msg_extra = F.bytes("tickwire.msg.extension", "Fields added after v1 (not decoded)"),
    msg_unknown = F.bytes("tickwire.msg.unknown", "Body of an unknown message type (skipped)"),

    next_sequence = F.uint64("tickwire.next_sequence", "Next sequence", base.DEC),

    def_instrument = F.uint16("tickwire.definition.instrument", "Instrument id", base.DEC),
    def_venue = F.uint8("tickwire.definition.venue", "Venue", base.DEC, venues),
    def_price_scale = F.uint8("tickwire.definition.price_scale", "Price scale", base.DEC),
    def_quantity_scale = F.uint8("tickwire.definition.quantity_scale", "Quantity scale", base.DEC),
    def_symbol_length = F.uint8("tickwire.definition.symbol_length", "Symbol length", base.DEC),
    def_symbol = F.string("tickwire.definition.symbol", "Symbol"),

    status_instrument = F.uint16("tickwire.status.instrument", "Instrument id", base.DEC),
    status_state = F.uint8("tickwire.status.state", "State", base.DEC, book_states),
    status_reason = F.uint8("tickwire.status.reason", "Reason", base.DEC, status_reasons),
    status_venue_update_id = F.uint64("tickwire.status.venue_update_id", "Venue update id", base.DEC),
    status_change_time = F.uint64("tickwire.status.change_time", "Change time (ns)", base.DEC),

    request_count = F.uint32("tickwire.retransmit_request.count", "Count", base.DEC),
    request_first = F.uint64("tickwire.retransmit_request.first_sequence", "First sequence", base.DEC),
    request_id = F.uint64("tickwire.retransmit_request.request_id", "Request id", base.DEC),

    reject_reason = F.uint8("tickwire.retransmit_reject.reason", "Reason", base.DEC, reject_reasons),
    reject_first = F.uint64("tickwire.retransmit_reject.first_sequence", "First sequence", base.DEC),
    reject_count = F.uint32("tickwire.retransmit_reject.count", "Count", base.DEC),
    reject_request_id = F.uint64("tickwire.retransmit_reject.request_id", "Request id", base.DEC),
    reject_oldest = F.uint64("tickwire.retransmit_reject.oldest_available", "Oldest available", base.DEC),
    reject_next = F.uint64("tickwire.retransmit_reject.next_sequence", "Next sequence", base.DEC),

    delta_last = F.bool("tickwire.delta.last_in_update", "LAST_IN_UPDATE", 8, nil, 0x01),
    delta_instrument = F.uint16("tickwire.delta.instrument", "Instrument id", base.DEC),
    delta_side = F.uint8("tickwire.delta.side", "Side", base.DEC, sides),
    delta_price = F.int64("tickwire.delta.price", "Price", base.DEC),
    delta_quantity = F.int64("tickwire.delta.quantity", "Quantity", base.DEC),
    delta_venue_update_id = F.uint64("tickwire.delta.venue_update_id", "Venue update id", base.DEC),
    delta_event_time = F.uint64("tickwire.delta.event_time", "Event time (ns)", base.DEC),
    delta_receive_time = F.uint64("tickwire.delta.receive_time", "Receive time (ns)", base.DEC),

    snap_last = F.bool("tickwire.snapshot.last_chunk", "LAST_CHUNK", 8, nil, 0x01),
    snap_instrument = F.uint16("tickwire.snapshot.instrument", "Instrument id", base.DEC),
    snap_chunk = F.uint16("tickwire.snapshot.chunk_index", "Chunk index", base.DEC),
    snap_incremental = F.uint64("tickwire.snapshot.incremental_sequence", "Incremental sequence", base.DEC),
    snap_venue_update_id = F.uint64("tickwire.snapshot.venue_update_id", "Venue update id", base.DEC),
    snap_bids = F.uint16("tickwire.snapshot.bid_count", "Bid count", base.DEC),
    snap_asks = F.uint16("tickwire.snapshot.ask_count", "Ask count", base.DEC),
    snap_levels_offset = F.uint16("tickwire.snapshot.levels_offset", "Levels offset", base.DEC),
    level_side = F.uint8("tickwire.level.side", "Side", base.DEC, sides),
    level_price = F.int64("tickwire.level.price", "Price", base.DEC),
    level_quantity = F.int64("tickwire.level.quantity", "Quantity", base.DEC),

    bbo_instrument = F.uint16("tickwire.bbo.instrument", "Instrument id", base.DEC),
    bbo_bid_price = F.int64("tickwire.bbo.bid_price", "Bid price", base.DEC),
    bbo_bid_quantity = F.int64("tickwire.bbo.bid_quantity", "Bid quantity", base.DEC),
    bbo_ask_price = F.int64("tickwire.bbo.ask_price", "Ask price", base.DEC),
    bbo_ask_quantity = F.int64("tickwire.bbo.ask_quantity", "Ask quantity", base.DEC),
    bbo_venue_update_id = F.uint64("tickwire.bbo.venue_update_id", "Venue update id", base.DEC),
    bbo_event_time = F.uint64("tickwire.bbo.event_time", "Event time (ns)", base.DEC),
    bbo_receive_time = F.uint64("tickwire.bbo.receive_time", "Receive time (ns)", base.DEC),

    trade_digest = F.bool("tickwire.trade.trade_id_digest", "TRADE_ID_DIGEST", 8, nil, 0x01),
    trade_instrument = F.uint16("tickwire.trade.instrument", "Instrument id", base.DEC),
    trade_aggressor = F.uint8("tickwire.trade.aggressor", "Aggressor side", base.DEC, aggressors),
    trade_price = F.int64("tickwire.trade.price", "Price", base.DEC),
    trade_quantity = F.int64("tickwire.trade.quantity", "Quantity", base.DEC),
    trade_id = F.uint64("tickwire.trade.trade_id", "Trade id", base.DEC),
    trade_event_time = F.uint64("tickwire.trade.event_time", "Event time (ns)", base.DEC),
    trade_receive_time = F.uint64("tickwire.trade.receive_time", "Receive time (ns)", base.DEC),

    malformed = F.string("tickwire.malformed", "Malformed"),
}
local field_list = {}
for _, field in pairs(f) do field_list[#field_list + 1] = field end
tickwire.fields = field_list

local malformed_expert = ProtoExpert.new("tickwire.malformed.expert", "Malformed Tickwire packet",
    expert.group.MALFORMED, expert.severity.ERROR)
local unknown_type_expert = ProtoExpert.new("tickwire.unknown_type", "Message type unknown to this dissector (skipped by length)",
    expert.group.UNDECODED, expert.severity.NOTE)
tickwire.experts = { malformed_expert, unknown_type_expert }

tickwire.prefs.ports = Pref.range("Tickwire ports", "30001-30010", "UDP ports decoded as Tickwire", 65535)
tickwire.prefs.heuristic = Pref.bool("Find Tickwire on any UDP port", true,
    "Decode any UDP datagram starting with the Tickwire magic and version 1")

-- Instrument scales learnt from definitions: key "session/channel/instrument" -> {price, quantity}.
local scales = {}

local function scale_key(session, channel, instrument)
    return tostring(session) .. "/" .. channel .. "/" .. instrument
end

-- "61837.63" for mantissa 6183763 at scale 2 (exact: string arithmetic on the Int64).
local function decimal(mantissa, scale)
    local text = tostring(mantissa)
    local negative = text:sub(1, 1) == "-"
    if negative then text = text:sub(2) end
    if scale > 0 then
        if #text <= scale then text = string.rep("0", scale - #text + 1) .. text end
        text = text:sub(1, #text - scale) .. "." .. text:sub(#text - scale + 1)
    end
    return (negative and "-" or "") .. text
end

local function flag_malformed(tree, pinfo, range, text)
    local item = tree:add(f.malformed, range, text)
    item:add_proto_expert_info(malformed_expert, text)
    pinfo.cols.info:append(" [MALFORMED: " .. text .. "]")
end

-- The fixed fields of each message type: {field, offset, size, check}, where check is
-- "price" / "quantity" (an i64 mantissa, shown as a decimal too once the instrument's scale is
-- known) or {names, what} (a value v1 restricts to `names`; anything else is malformed).
local side_check = { sides, "side" }
local layouts = {
    [0x01] = { { f.next_sequence, 8, 8 } },
    [0x02] = { { f.next_sequence, 8, 8 } },
    [0x03] = {
        { f.def_instrument, 4, 2 }, { f.def_venue, 6, 1 }, { f.def_price_scale, 7, 1 },
        { f.def_quantity_scale, 8, 1 }, { f.def_symbol_length, 9, 1 },
    },
    [0x04] = {
        { f.status_instrument, 4, 2 }, { f.status_state, 6, 1, { book_states, "book state" } },
        { f.status_reason, 7, 1 }, { f.status_venue_update_id, 8, 8 }, { f.status_change_time, 16, 8 },
    },
    [0x05] = { { f.request_count, 4, 4 }, { f.request_first, 8, 8 }, { f.request_id, 16, 8 } },
    [0x06] = {
        { f.reject_reason, 4, 1 }, { f.reject_first, 8, 8 }, { f.reject_count, 16, 4 },
        { f.reject_request_id, 24, 8 }, { f.reject_oldest, 32, 8 }, { f.reject_next, 40, 8 },
    },
    [0x10] = {
        { f.delta_last, 3, 1 }, { f.delta_instrument, 4, 2 }, { f.delta_side, 6, 1, side_check },
        { f.delta_price, 8, 8, "price" }, { f.delta_quantity, 16, 8, "quantity" },
        { f.delta_venue_update_id, 24, 8 }, { f.delta_event_time, 32, 8 }, { f.delta_receive_time, 40, 8 },
    },
    [0x11] = {
        { f.snap_last, 3, 1 }, { f.snap_instrument, 4, 2 }, { f.snap_chunk, 6, 2 }, { f.snap_incremental, 8, 8 },
        { f.snap_venue_update_id, 16, 8 }, { f.snap_bids, 24, 2 }, { f.snap_asks, 26, 2 }, { f.snap_levels_offset, 28, 2 },
    },
    [0x12] = {
        { f.bbo_instrument, 4, 2 }, { f.bbo_bid_price, 8, 8, "price" }, { f.bbo_bid_quantity, 16, 8, "quantity" },
        { f.bbo_ask_price, 24, 8, "price" }, { f.bbo_ask_quantity, 32, 8, "quantity" },
        { f.bbo_venue_update_id, 40, 8 }, { f.bbo_event_time, 48, 8 }, { f.bbo_receive_time, 56, 8 },
    },
    [0x13] = {
        { f.trade_digest, 3, 1 }, { f.trade_instrument, 4, 2 }, { f.trade_aggressor, 6, 1, { aggressors, "aggressor side" } },
        { f.trade_price, 8, 8, "price" }, { f.trade_quantity, 16, 8, "quantity" }, { f.trade_id, 24, 8 },
        { f.trade_event_time, 32, 8 }, { f.trade_receive_time, 40, 8 },
    },
}
-- Types whose offset 4 holds an instrument id (its scales apply to their prices and quantities).
local has_instrument = { [0x03] = true, [0x04] = true, [0x10] = true, [0x11] = true, [0x12] = true, [0x13] = true }

local function add_field(tree, pinfo, range, field, check, scale)
    local item = tree:add_le(field, range)
    if check == "price" or check == "quantity" then
        local digits = scale[check == "price" and 1 or 2]
        if digits ~= nil then item:append_text(" (" .. decimal(range:le_int64(), digits) .. ")") end
    elseif check ~= nil and check[1][range:le_uint()] == nil then
        flag_malformed(tree, pinfo, range, check[2] .. " " .. range:le_uint() .. " is not valid in v1")
    end
end

-- What goes beyond the fixed fields: the definition's symbol and scales, the snapshot's levels.
local dissect_rest = {}

dissect_rest[0x03] = function(m, tree, pinfo, context, instrument)
    local price_scale, quantity_scale, symbol_length = m(7, 1):uint(), m(8, 1):uint(), m(9, 1):uint()
    if symbol_length > 32 then
        flag_malformed(tree, pinfo, m(9, 1), "symbol length " .. symbol_length .. " > 32")
        symbol_length = 32
    end
    if price_scale > 18 then flag_malformed(tree, pinfo, m(7, 1), "price scale " .. price_scale .. " > 18") end
    if quantity_scale > 18 then flag_malformed(tree, pinfo, m(8, 1), "quantity scale " .. quantity_scale .. " > 18") end
    if symbol_length > 0 then tree:add(f.def_symbol, m(16, symbol_length)) end
    if price_scale <= 18 and quantity_scale <= 18 then
        scales[scale_key(context.session, context.channel, instrument)] = { price_scale, quantity_scale }
    end
    return symbol_length > 0 and m(16, symbol_length):string() or ""
end

dissect_rest[0x11] = function(m, tree, pinfo, context, instrument, length, scale)
    local bids, asks, offset = m(24, 2):le_uint(), m(26, 2):le_uint(), m(28, 2):le_uint()
    if offset < 32 or offset + 16 * (bids + asks) > length then
        flag_malformed(tree, pinfo, m(24, 6), "snapshot levels outside the message")
        return "(bad levels)"
    end
    for index = 0, bids + asks - 1 do
        local level = m(offset + 16 * index, 16)
        local side = index < bids and 0 or 1
        local level_tree = tree:add(tickwire, level, (side == 0 and "Bid " or "Ask ") .. (index < bids and index or index - bids))
        level_tree:add(f.level_side, side):set_generated()
        add_field(level_tree, pinfo, level(0, 8), f.level_price, "price", scale)
        add_field(level_tree, pinfo, level(8, 8), f.level_quantity, "quantity", scale)
    end
    return "chunk " .. m(6, 2):le_uint()
end

-- Adds the fields of a message of a known type (`m`: its `length` bytes); returns a summary
-- for the Info column, e.g. "Trade #7" or "Heartbeat".
local function dissect_message(type_code, m, tree, pinfo, context, length)
    local instrument = has_instrument[type_code] and m(4, 2):le_uint() or nil
    local scale = instrument and scales[scale_key(context.session, context.channel, instrument)] or {}
    for _, spec in ipairs(layouts[type_code]) do
        add_field(tree, pinfo, m(spec[2], spec[3]), spec[1], spec[4], scale)
    end
    local summary = message_types[type_code] .. (instrument and (" #" .. instrument) or "")
    local rest = dissect_rest[type_code]
    if rest then summary = summary .. " " .. rest(m, tree, pinfo, context, instrument, length, scale) end
    return summary
end

local function looks_like_tickwire(tvb)
    return tvb:len() >= HEADER_SIZE and tvb(0, 2):le_uint() == MAGIC and tvb(2, 1):uint() == 1
end

function tickwire.dissector(tvb, pinfo, tree)
    if tvb:len() < 4 or tvb(0, 2):le_uint() ~= MAGIC then return 0 end
    pinfo.cols.protocol = "Tickwire"
    local root = tree:add(tickwire, tvb(), "Tickwire")
    if tvb:len() < HEADER_SIZE then
        flag_malformed(root, pinfo, tvb(), "datagram of " .. tvb:len() .. " bytes is shorter than the 32-byte header")
        return tvb:len()
    end
    local header = root:add(tickwire, tvb(0, HEADER_SIZE), "Packet header")
    header:add_le(f.magic, tvb(0, 2))
    header:add(f.version, tvb(2, 1))
    local flags = header:add(f.flags, tvb(3, 1))
    flags:add(f.unsequenced, tvb(3, 1))
    header:add_le(f.channel, tvb(4, 2))
    header:add_le(f.message_count, tvb(6, 2))
    header:add_le(f.sequence, tvb(8, 8))
    local send_time = tvb(16, 8):le_uint64()
    header:add_le(f.send_time, tvb(16, 8))
    local seconds = (send_time / 1000000000):tonumber()
    local nanoseconds = (send_time % 1000000000):tonumber()
    header:add(f.send_time_utc, tvb(16, 8), NSTime.new(seconds, nanoseconds))
    header:add_le(f.session, tvb(24, 8))

    local version = tvb(2, 1):uint()
    if version ~= 1 then
        flag_malformed(root, pinfo, tvb(2, 1), "unsupported version " .. version)
        return tvb:len()
    end
    local unsequenced = bit.band(tvb(3, 1):uint(), 1) ~= 0
    local context = { session = tvb(24, 8):le_uint64(), channel = tvb(4, 2):le_uint() }
    local declared = tvb(6, 2):le_uint()
    local sequence = tvb(8, 8):le_uint64()
    root:append_text(", Ch " .. context.channel .. (unsequenced and ", Next " or ", Seq ") .. tostring(sequence)
        .. ", " .. declared .. (declared == 1 and " message" or " messages"))

    local summaries = {}
    local offset = HEADER_SIZE
    local found = 0
    while found < declared do
        local available = tvb:len() - offset
        if available == 0 then
            flag_malformed(root, pinfo, tvb(offset - 1, 1), "packet declares " .. declared .. " messages but holds " .. found)
            break
        end
        if available < 4 then
            flag_malformed(root, pinfo, tvb(offset, available), "message header at " .. offset .. " truncated: " .. available .. " bytes left")
            break
        end
        local length = tvb(offset, 2):le_uint()
        local type_code = tvb(offset + 2, 1):uint()
        local name = message_types[type_code] or string.format("Unknown type 0x%02x", type_code)
        local shown = math.min(math.max(length, 4), available)
        local message_tree = root:add(tickwire, tvb(offset, shown), name)
        message_tree:add_le(f.msg_length, tvb(offset, 2))
        message_tree:add(f.msg_type, tvb(offset + 2, 1))
        message_tree:add(f.msg_flags, tvb(offset + 3, 1))
        local minimum = minimum_lengths[type_code] or 4
        if length < minimum then
            flag_malformed(message_tree, pinfo, tvb(offset, 2), "message at " .. offset .. " of type " .. string.format("0x%02x", type_code) .. " is too short: " .. length .. " bytes")
            break
        end
        if length > available then
            flag_malformed(message_tree, pinfo, tvb(offset, 2), "message at " .. offset .. " of " .. length .. " bytes overruns the packet: " .. available .. " bytes left")
            break
        end
        if layouts[type_code] then
            summaries[#summaries + 1] = dissect_message(type_code, tvb(offset, length), message_tree, pinfo, context, length)
            -- Fields appended by later add-only revisions: shown raw, not decoded.
            if type_code ~= 0x11 and length > minimum then message_tree:add(f.msg_extra, tvb(offset + minimum, length - minimum)) end
        else
            message_tree:add_proto_expert_info(unknown_type_expert)
            if length > 4 then message_tree:add(f.msg_unknown, tvb(offset + 4, length - 4)) end
            summaries[#summaries + 1] = name
        end
        offset = offset + length
        found = found + 1
    end
    if found == declared and offset < tvb:len() then
        flag_malformed(root, pinfo, tvb(offset), (tvb:len() - offset) .. " bytes after the last message at " .. offset)
    end
    pinfo.cols.info:set(string.format("Ch %d %s %s: %s", context.channel, unsequenced and "next" or "seq",
        tostring(sequence), table.concat(summaries, ", ")))
    return tvb:len()
end

local registered_ports = nil

local function register_ports()
    local udp_port = DissectorTable.get("udp.port")
    if registered_ports ~= nil then udp_port:remove(registered_ports, tickwire) end
    registered_ports = tickwire.prefs.ports
    udp_port:add(registered_ports, tickwire)
end

function tickwire.prefs_changed() register_ports() end
register_ports()

tickwire:register_heuristic("udp", function(tvb, pinfo, tree)
    if not tickwire.prefs.heuristic or not looks_like_tickwire(tvb) then return false end
    tickwire.dissector(tvb, pinfo, tree)
    return true
end)
