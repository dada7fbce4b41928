// CTickwire, AF_XDP receive: the XDP program that steers the feed's UDP ports into an
// AF_XDP socket (bpf/tickwire_xdp.c), opened and attached through libxdp, and its maps.
// The xsk socket and rings themselves are the ctw_xsk_* wrappers in CTickwire.h.
#ifndef CTICKWIRE_XDP_RX_H
#define CTICKWIRE_XDP_RX_H

#include <stdint.h>

/// An XDP program object opened from a BPF ELF file, attached to at most one interface.
typedef struct ctw_xdp_program ctw_xdp_program;

typedef enum {
    CTW_XDP_ATTACH_NATIVE = 1,  ///< driver mode (XDP_MODE_NATIVE)
    CTW_XDP_ATTACH_GENERIC = 2, ///< SKB / generic mode (XDP_MODE_SKB)
} ctw_xdp_attach_mode;

/// Opens `path` and selects the program in ELF section `section`. Returns 0 or -errno.
int ctw_xdp_program_open(ctw_xdp_program **out, const char *path, const char *section);
/// Attaches to `ifindex` in `mode` (libxdp; single-program mode when its dispatcher is
/// refused). Returns 0 or -errno; EEXIST/EBUSY when another program holds the interface.
int ctw_xdp_program_attach(ctw_xdp_program *program, int ifindex, ctw_xdp_attach_mode mode);
/// Detaches from the interface it was attached to, inside the network namespace the attach ran
/// in (whatever the calling thread's); no-op when not attached. Returns 0 or -errno.
int ctw_xdp_program_detach(ctw_xdp_program *program);
/// Detaches if needed and frees the program.
void ctw_xdp_program_close(ctw_xdp_program *program);
/// File descriptor of the program's map `name`, or -errno (ENOENT when there is none).
int ctw_xdp_program_map_fd(ctw_xdp_program *program, const char *name);

/// Puts UDP `port` (host order) into the port map. Returns 0 or -errno.
int ctw_xdp_allow_udp_port(int port_map_fd, uint16_t port);
/// Registers the AF_XDP socket `xsk_fd` for receive queue `queue` in the XSKMAP. Returns 0 or -errno.
int ctw_xdp_register_xsk(int xsk_map_fd, uint32_t queue, int xsk_fd);
/// Removes queue `queue` from the XSKMAP. Returns 0 or -errno.
int ctw_xdp_unregister_xsk(int xsk_map_fd, uint32_t queue);


/// The kernel's per-socket receive counters (XDP_STATISTICS): frames it could not deliver.
typedef struct {
    uint64_t rx_dropped;               ///< dropped for other reasons (e.g. frame too large)
    uint64_t rx_invalid_descriptors;   ///< invalid fill-ring addresses
    uint64_t rx_ring_full;             ///< the RX ring was full: the consumer is too slow
    uint64_t rx_fill_ring_empty;       ///< no free frame in the fill ring
} ctw_xsk_rx_statistics;

/// Reads XDP_STATISTICS of AF_XDP socket `xsk_fd`. Returns 0 or -errno.
int ctw_xsk_read_rx_statistics(int xsk_fd, ctw_xsk_rx_statistics *out);
/// The same counters' transmit side: descriptors the kernel refused or found missing.
typedef struct {
    uint64_t tx_invalid_descriptors;   ///< TX descriptors with a bad address or length
    uint64_t tx_ring_empty;            ///< the kernel was kicked but found the TX ring empty
} ctw_xsk_tx_statistics;

/// Reads the TX half of XDP_STATISTICS of AF_XDP socket `xsk_fd`. Returns 0 or -errno.
int ctw_xsk_read_tx_statistics(int xsk_fd, ctw_xsk_tx_statistics *out);
/// 1 when the bound socket runs in zero-copy mode, 0 in copy mode, or -errno (XDP_OPTIONS).
int ctw_xsk_is_zero_copy(int xsk_fd);

#endif
