// CTickwireHost: what `tickwire doctor` asks the kernel about the host and its NIC, through
// structs and netlink messages Swift cannot build directly. Implemented in host.c.
// Calls return 0 or -1 with errno set, like the calls they wrap.
#ifndef CTICKWIRE_HOST_H
#define CTICKWIRE_HOST_H

#include <stdbool.h>
#include <stdint.h>

/// The /proc/cpuinfo names of the x86 instruction-set extensions this C code was compiled
/// for (its predefined macros: __SSE4_2__, __AVX2__, …), space separated. A build with
/// -march/-mavx2 etc. passed to C turns them on; the CPU must have every one of them.
const char *ctw_host_built_cpu_flags(void);

/// RLIMIT_MEMLOCK of this process in bytes; UINT64_MAX for RLIM_INFINITY.
int ctw_host_memlock_limit(uint64_t *soft, uint64_t *hard);

// XDP feature bits of the netdev generic-netlink family (enum netdev_xdp_act in
// linux/netdev.h, kernel 6.3+; this system's headers predate it).
#define CTW_XDP_ACT_BASIC (1U << 0)
#define CTW_XDP_ACT_REDIRECT (1U << 1)
#define CTW_XDP_ACT_NDO_XMIT (1U << 2)
#define CTW_XDP_ACT_XSK_ZEROCOPY (1U << 3)
#define CTW_XDP_ACT_HW_OFFLOAD (1U << 4)
#define CTW_XDP_ACT_RX_SG (1U << 5)
#define CTW_XDP_ACT_NDO_XMIT_SG (1U << 6)

/// The driver's XDP features of interface `ifindex`, in the calling thread's network
/// namespace: NETDEV_CMD_DEV_GET of the "netdev" generic-netlink family. errno ENOENT when
/// the kernel has no such family (before 6.3); ENODEV for an unknown ifindex.
int ctw_host_xdp_features(uint32_t ifindex, uint64_t *features);

/// ETHTOOL_GCHANNELS: the NIC's queue (channel) counts, current and maximum.
struct ctw_host_channels {
    uint32_t rx, tx, other, combined;
    uint32_t max_rx, max_tx, max_other, max_combined;
};
int ctw_host_ethtool_channels(const char *name, struct ctw_host_channels *channels);

/// ETHTOOL_GET_TS_INFO: which timestamps the NIC and driver can take, and its PTP clock.
struct ctw_host_timestamp_info {
    bool hardware_transmit, hardware_receive, hardware_raw_clock;
    bool software_transmit, software_receive;
    /// /dev/ptpN of the NIC's hardware clock, -1 without one.
    int32_t phc_index;
};
int ctw_host_ethtool_timestamp_info(const char *name, struct ctw_host_timestamp_info *info);

/// SIOCGHWTSTAMP: the hardware timestamping configured now (hwtstamp_config tx_type, rx_filter).
int ctw_host_hardware_timestamp_config(const char *name, int32_t *transmit_type, int32_t *receive_filter);

#endif
