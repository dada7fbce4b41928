// Network-interface ioctls, IP_MULTICAST_IF by index and setns (declared in CTickwireNet.h).
#define _GNU_SOURCE
#include "CTickwireNet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

_Static_assert(CTW_XDP_FLAGS_SKB_MODE == XDP_FLAGS_SKB_MODE, "XDP_FLAGS_SKB_MODE");
_Static_assert(CTW_XDP_FLAGS_DRV_MODE == XDP_FLAGS_DRV_MODE, "XDP_FLAGS_DRV_MODE");
_Static_assert(CTW_XDP_BIND_COPY == XDP_COPY, "XDP_COPY");
_Static_assert(CTW_XDP_BIND_ZEROCOPY == XDP_ZEROCOPY, "XDP_ZEROCOPY");
_Static_assert(CTW_XDP_BIND_USE_NEED_WAKEUP == XDP_USE_NEED_WAKEUP, "XDP_USE_NEED_WAKEUP");

int ctw_setns_network(int fd) { return setns(fd, CLONE_NEWNET); }

// One interface ioctl on a throwaway UDP socket (in the calling thread's namespace).
static int interface_ioctl(const char *name, unsigned long request, struct ifreq *request_data) {
    if (strlen(name) >= IFNAMSIZ) { errno = ENAMETOOLONG; return -1; }
    memset(request_data, 0, sizeof(*request_data));
    strncpy(request_data->ifr_name, name, IFNAMSIZ - 1);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int rc = ioctl(fd, request, request_data);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int ctw_interface_mac(const char *name, uint8_t *mac) {
    struct ifreq request;
    if (interface_ioctl(name, SIOCGIFHWADDR, &request) != 0) return -1;
    memcpy(mac, request.ifr_hwaddr.sa_data, 6);
    return 0;
}

int ctw_interface_ipv4(const char *name, uint32_t *address, uint32_t *netmask) {
    struct ifreq request;
    if (interface_ioctl(name, SIOCGIFADDR, &request) != 0) return -1;
    *address = ntohl(((struct sockaddr_in *)&request.ifr_addr)->sin_addr.s_addr);
    if (interface_ioctl(name, SIOCGIFNETMASK, &request) != 0) return -1;
    *netmask = ntohl(((struct sockaddr_in *)&request.ifr_netmask)->sin_addr.s_addr);
    return 0;
}

int ctw_interface_mtu(const char *name, int *mtu) {
    struct ifreq request;
    if (interface_ioctl(name, SIOCGIFMTU, &request) != 0) return -1;
    *mtu = request.ifr_mtu;
    return 0;
}

int ctw_set_multicast_interface(int fd, int ifindex) {
    struct ip_mreqn request;
    memset(&request, 0, sizeof(request));
    request.imr_ifindex = ifindex;
    return setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &request, sizeof(request));
}
