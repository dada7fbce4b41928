// Host and NIC queries for `tickwire doctor` (declared in CTickwireHost.h).
#define _GNU_SOURCE
#include "CTickwireHost.h"

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/genetlink.h>
#include <linux/net_tstamp.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

const char *ctw_host_built_cpu_flags(void) {
    return ""
#ifdef __SSE2__
        " sse2"
#endif
#ifdef __SSE3__
        " pni"
#endif
#ifdef __SSSE3__
        " ssse3"
#endif
#ifdef __SSE4_1__
        " sse4_1"
#endif
#ifdef __SSE4_2__
        " sse4_2"
#endif
#ifdef __POPCNT__
        " popcnt"
#endif
#ifdef __AVX__
        " avx"
#endif
#ifdef __AVX2__
        " avx2"
#endif
#ifdef __FMA__
        " fma"
#endif
#ifdef __BMI__
        " bmi1"
#endif
#ifdef __BMI2__
        " bmi2"
#endif
#ifdef __LZCNT__
        " abm"
#endif
#ifdef __MOVBE__
        " movbe"
#endif
#ifdef __AVX512F__
        " avx512f"
#endif
#ifdef __AVX512BW__
        " avx512bw"
#endif
#ifdef __AVX512VL__
        " avx512vl"
#endif
#ifdef __AVX512DQ__
        " avx512dq"
#endif
        ;
}

int ctw_host_memlock_limit(uint64_t *soft, uint64_t *hard) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0) return -1;
    *soft = limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)limit.rlim_cur;
    *hard = limit.rlim_max == RLIM_INFINITY ? UINT64_MAX : (uint64_t)limit.rlim_max;
    return 0;
}

// ---- generic netlink: the "netdev" family (linux/netdev.h values, kernel 6.3+) ----------
enum {
    NETDEV_CMD_DEV_GET_ = 1,
    NETDEV_A_DEV_IFINDEX_ = 1,
    NETDEV_A_DEV_XDP_FEATURES_ = 3,
};

struct genl_request {
    struct nlmsghdr header;
    struct genlmsghdr generic;
    char attributes[64];
};

static void add_attribute(struct genl_request *request, uint16_t type, const void *data, uint16_t length) {
    struct nlattr *attribute = (struct nlattr *)((char *)request + NLMSG_ALIGN(request->header.nlmsg_len));
    attribute->nla_type = type;
    attribute->nla_len = NLA_HDRLEN + length;
    memcpy((char *)attribute + NLA_HDRLEN, data, length);
    request->header.nlmsg_len = NLMSG_ALIGN(request->header.nlmsg_len) + NLA_ALIGN(attribute->nla_len);
}

/// Sends `request` and receives its one answer into `answer`; returns the answer's length,
/// or -1 with errno (a netlink error message becomes its errno).
static ssize_t exchange(int fd, struct genl_request *request, char *answer, size_t capacity) {
    if (send(fd, request, request->header.nlmsg_len, 0) < 0) return -1;
    ssize_t length;
    do { length = recv(fd, answer, capacity, 0); } while (length < 0 && errno == EINTR);
    if (length < 0) return -1;
    struct nlmsghdr *header = (struct nlmsghdr *)answer;
    if (!NLMSG_OK(header, (size_t)length)) { errno = EPROTO; return -1; }
    if (header->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *error = NLMSG_DATA(header);
        errno = error->error ? -error->error : EPROTO;
        return -1;
    }
    return length;
}

/// The first attribute of `type` in the generic-netlink message at `answer`, or NULL.
static struct nlattr *find_attribute(char *answer, uint16_t type) {
    struct nlmsghdr *header = (struct nlmsghdr *)answer;
    char *cursor = (char *)NLMSG_DATA(header) + GENL_HDRLEN;
    char *end = answer + header->nlmsg_len;
    while (cursor + NLA_HDRLEN <= end) {
        struct nlattr *attribute = (struct nlattr *)cursor;
        if (attribute->nla_len < NLA_HDRLEN || cursor + attribute->nla_len > end) break;
        if ((attribute->nla_type & NLA_TYPE_MASK) == type) return attribute;
        cursor += NLA_ALIGN(attribute->nla_len);
    }
    return NULL;
}

static void start_request(struct genl_request *request, uint16_t family, uint8_t command, uint8_t version) {
    memset(request, 0, sizeof *request);
    request->header.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
    request->header.nlmsg_type = family;
    request->header.nlmsg_flags = NLM_F_REQUEST;
    request->generic.cmd = command;
    request->generic.version = version;
}

int ctw_host_xdp_features(uint32_t ifindex, uint64_t *features) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
    if (fd < 0) return -1;
    int result = -1;
    char answer[8192];
    struct genl_request request;
    start_request(&request, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
    add_attribute(&request, CTRL_ATTR_FAMILY_NAME, "netdev", sizeof "netdev");
    if (exchange(fd, &request, answer, sizeof answer) < 0) goto out;
    struct nlattr *family = find_attribute(answer, CTRL_ATTR_FAMILY_ID);
    if (!family) { errno = ENOENT; goto out; }
    uint16_t family_id;
    memcpy(&family_id, (char *)family + NLA_HDRLEN, sizeof family_id);

    start_request(&request, family_id, NETDEV_CMD_DEV_GET_, 1);
    add_attribute(&request, NETDEV_A_DEV_IFINDEX_, &ifindex, sizeof ifindex);
    if (exchange(fd, &request, answer, sizeof answer) < 0) goto out;
    struct nlattr *bits = find_attribute(answer, NETDEV_A_DEV_XDP_FEATURES_);
    if (!bits) { errno = EPROTO; goto out; }
    memcpy(features, (char *)bits + NLA_HDRLEN, sizeof *features);
    result = 0;
out:;
    int saved = errno;
    close(fd);
    errno = saved;
    return result;
}

// ---- ethtool and hardware timestamping ioctls --------------------------------------------

/// SIOCETHTOOL (or another interface ioctl) with `data` on an AF_INET datagram socket.
static int interface_ioctl(const char *name, unsigned long request, void *data) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    if (strlen(name) >= IFNAMSIZ) { errno = ENODEV; return -1; }
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    ifr.ifr_data = data;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int rc = ioctl(fd, request, &ifr);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int ctw_host_ethtool_channels(const char *name, struct ctw_host_channels *channels) {
    struct ethtool_channels query = {.cmd = ETHTOOL_GCHANNELS};
    if (interface_ioctl(name, SIOCETHTOOL, &query) != 0) return -1;
    *channels = (struct ctw_host_channels){
        .rx = query.rx_count, .tx = query.tx_count, .other = query.other_count, .combined = query.combined_count,
        .max_rx = query.max_rx, .max_tx = query.max_tx, .max_other = query.max_other, .max_combined = query.max_combined,
    };
    return 0;
}

int ctw_host_ethtool_timestamp_info(const char *name, struct ctw_host_timestamp_info *info) {
    struct ethtool_ts_info query = {.cmd = ETHTOOL_GET_TS_INFO};
    if (interface_ioctl(name, SIOCETHTOOL, &query) != 0) return -1;
    *info = (struct ctw_host_timestamp_info){
        .hardware_transmit = query.so_timestamping & SOF_TIMESTAMPING_TX_HARDWARE,
        .hardware_receive = query.so_timestamping & SOF_TIMESTAMPING_RX_HARDWARE,
        .hardware_raw_clock = query.so_timestamping & SOF_TIMESTAMPING_RAW_HARDWARE,
        .software_transmit = query.so_timestamping & SOF_TIMESTAMPING_TX_SOFTWARE,
        .software_receive = query.so_timestamping & SOF_TIMESTAMPING_RX_SOFTWARE,
        .phc_index = query.phc_index,
    };
    return 0;
}

int ctw_host_hardware_timestamp_config(const char *name, int32_t *transmit_type, int32_t *receive_filter) {
    struct hwtstamp_config config = {0};
    if (interface_ioctl(name, SIOCGHWTSTAMP, &config) != 0) return -1;
    *transmit_type = config.tx_type;
    *receive_filter = config.rx_filter;
    return 0;
}
