// CTickwireNet: the network-interface and socket-option calls the UDP senders need whose
// structs (ifreq, ip_mreqn) or _GNU_SOURCE declarations (setns) Swift cannot use directly.
// Implemented in net.c. All return 0 or -1 with errno set, like the calls they wrap.
#ifndef CTICKWIRE_NET_H
#define CTICKWIRE_NET_H

#include <stdint.h>

/// setns(fd, CLONE_NEWNET): moves the calling thread into the network namespace `fd` names.
int ctw_setns_network(int fd);

/// The interface's hardware (MAC) address: SIOCGIFHWADDR into `mac` (6 bytes).
int ctw_interface_mac(const char *name, uint8_t *mac);
/// The interface's primary IPv4 address and netmask (SIOCGIFADDR / SIOCGIFNETMASK), host byte order.
int ctw_interface_ipv4(const char *name, uint32_t *address, uint32_t *netmask);
/// The interface's MTU (SIOCGIFMTU).
int ctw_interface_mtu(const char *name, int *mtu);

/// IP_MULTICAST_IF with struct ip_mreqn: multicast leaves through interface `ifindex`.
int ctw_set_multicast_interface(int fd, int ifindex);

// AF_XDP flag values (linux/if_xdp.h, linux/if_link.h), spelled out because those headers
// clash with glibc's in Swift's importer; net.c checks them against the kernel's.
#define CTW_XDP_FLAGS_SKB_MODE (1U << 1)
#define CTW_XDP_FLAGS_DRV_MODE (1U << 2)
#define CTW_XDP_BIND_COPY (1U << 1)
#define CTW_XDP_BIND_ZEROCOPY (1U << 2)
#define CTW_XDP_BIND_USE_NEED_WAKEUP (1U << 3)

#endif
