// CTickwireReceive: the receive-side socket calls whose structs (ip_mreqn, hwtstamp_config,
// ifreq, SO_RXQ_OVFL control messages) Swift cannot use directly. Implemented in receive.c.
// All return 0 (or a count) or -1 with errno set, like the calls they wrap.
#ifndef CTICKWIRE_RECEIVE_H
#define CTICKWIRE_RECEIVE_H

#include <stdint.h>
#include "CTickwire.h"

/// IP_ADD_MEMBERSHIP with struct ip_mreqn: joins `group` (host byte order) on interface
/// `ifindex` (0: the kernel picks by route).
int ctw_join_multicast_group(int fd, uint32_t group, int ifindex);

/// SIOCSHWTSTAMP on `ifname`: asks the NIC to stamp every received packet. -1 with errno
/// EOPNOTSUPP (veth, lo, virtio) or EPERM when it cannot.
int ctw_enable_nic_rx_timestamps(int fd, const char *ifname);

/// The kernel's drop counter (SO_RXQ_OVFL): packets dropped on this socket since it was
/// created, as of the newest datagram received.
typedef struct {
    uint32_t dropped;
    int seen;  ///< 1 once any datagram carried the counter
} ctw_drop_counter;

/// recvmmsg into `count` slots (at most 64), parsing each datagram's SCM_TIMESTAMPING into its
/// slot and SO_RXQ_OVFL into `drops` (may be NULL). Returns datagrams received or -1 (errno).
int ctw_recvmmsg_with_drops(int fd, ctw_receive_slot *slots, unsigned int count, int flags, ctw_drop_counter *drops);

#endif
