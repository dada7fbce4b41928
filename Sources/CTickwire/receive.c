// Receive-side socket calls (see CTickwireReceive.h). _GNU_SOURCE stays in this file: it
// breaks Swift's debug builds when defined in an imported header.
#define _GNU_SOURCE
#include "CTickwireReceive.h"

#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

int ctw_join_multicast_group(int fd, uint32_t group, int ifindex) {
    struct ip_mreqn request;
    memset(&request, 0, sizeof(request));
    request.imr_multiaddr.s_addr = htonl(group);
    request.imr_address.s_addr = htonl(INADDR_ANY);
    request.imr_ifindex = ifindex;
    return setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof(request));
}

int ctw_enable_nic_rx_timestamps(int fd, const char *ifname) {
    struct hwtstamp_config config;
    memset(&config, 0, sizeof(config));
    config.tx_type = HWTSTAMP_TX_OFF;
    config.rx_filter = HWTSTAMP_FILTER_ALL;
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    strncpy(request.ifr_name, ifname, IFNAMSIZ - 1);
    request.ifr_data = (void *)&config;
    return ioctl(fd, SIOCSHWTSTAMP, &request);
}

#define CTW_RECEIVE_BATCH 64
// Room for SCM_TIMESTAMPING (three timespecs) and SO_RXQ_OVFL (a u32).
#define CTW_RECEIVE_CONTROL (CMSG_SPACE(sizeof(struct scm_timestamping)) + CMSG_SPACE(sizeof(uint32_t)) + 64)

int ctw_recvmmsg_with_drops(int fd, ctw_receive_slot *slots, unsigned int count, int flags, ctw_drop_counter *drops) {
    if (count > CTW_RECEIVE_BATCH) count = CTW_RECEIVE_BATCH;
    struct mmsghdr msgs[CTW_RECEIVE_BATCH];
    struct iovec iovs[CTW_RECEIVE_BATCH];
    union { char bytes[CTW_RECEIVE_CONTROL]; struct cmsghdr align; } controls[CTW_RECEIVE_BATCH];
    memset(msgs, 0, sizeof(struct mmsghdr) * count);
    for (unsigned int i = 0; i < count; i++) {
        iovs[i].iov_base = slots[i].data;
        iovs[i].iov_len = slots[i].capacity;
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &slots[i].source;
        msgs[i].msg_hdr.msg_namelen = sizeof(slots[i].source);
        msgs[i].msg_hdr.msg_control = controls[i].bytes;
        msgs[i].msg_hdr.msg_controllen = sizeof(controls[i].bytes);
    }
    int n = recvmmsg(fd, msgs, count, flags, NULL);
    for (int i = 0; i < n; i++) {
        slots[i].length = msgs[i].msg_len;
        ctw_parse_rx_timestamp(msgs[i].msg_hdr.msg_control, msgs[i].msg_hdr.msg_controllen, &slots[i].stamp);
        if (drops == NULL) continue;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c != NULL; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL && c->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
                memcpy(&drops->dropped, CMSG_DATA(c), sizeof(uint32_t));
                drops->seen = 1;
            }
        }
    }
    return n;
}
