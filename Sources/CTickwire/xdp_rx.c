// The XDP receive program's loader and map updates (declared in CTickwireXdpRx.h).
#define _GNU_SOURCE // setns
#include "CTickwireXdpRx.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <linux/if_xdp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

struct ctw_xdp_program {
    struct xdp_program *program;
    int ifindex;                 ///< 0 while not attached
    enum xdp_attach_mode mode;
    int netns_fd;                ///< the network namespace of `ifindex` (-1 while not attached)
};

static int current_netns_fd(void) { return open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC); }

static int same_file(int a, int b) {
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int ctw_xdp_program_open(ctw_xdp_program **out, const char *path, const char *section) {
    ctw_xdp_program *p = calloc(1, sizeof(*p));
    if (p == NULL) return -ENOMEM;
    p->netns_fd = -1;
    p->program = xdp_program__open_file(path, section, NULL);
    long rc = libxdp_get_error(p->program);
    if (rc != 0) {
        free(p);
        return rc < 0 ? (int)rc : -EINVAL;
    }
    *out = p;
    return 0;
}

int ctw_xdp_program_attach(ctw_xdp_program *program, int ifindex, ctw_xdp_attach_mode mode) {
    if (program->ifindex != 0) return -EALREADY;
    enum xdp_attach_mode xdp_mode = mode == CTW_XDP_ATTACH_NATIVE ? XDP_MODE_NATIVE : XDP_MODE_SKB;
    int rc = xdp_program__attach(program->program, ifindex, xdp_mode, 0);
    if (rc != 0) return rc < 0 ? rc : -EINVAL;
    program->ifindex = ifindex;
    program->mode = xdp_mode;
    program->netns_fd = current_netns_fd();
    return 0;
}

// Interface indexes (and libxdp's netlink socket) belong to the calling thread's network
// namespace: a receiver closed from another thread than the one that attached it may be in
// another namespace, where the same index names a different interface. So the detach runs in
// the namespace the attach ran in, and the thread returns to its own afterwards.
int ctw_xdp_program_detach(ctw_xdp_program *program) {
    if (program->ifindex == 0) return 0;
    int own = current_netns_fd();
    if (own < 0 || program->netns_fd < 0) { if (own >= 0) close(own); return -EBADF; }
    int switched = !same_file(own, program->netns_fd);
    if (switched && setns(program->netns_fd, CLONE_NEWNET) != 0) {
        int error = errno;
        close(own);
        return -error;
    }
    int rc = xdp_program__detach(program->program, program->ifindex, program->mode, 0);
    if (switched) setns(own, CLONE_NEWNET);
    close(own);
    if (rc == 0) {
        program->ifindex = 0;
        close(program->netns_fd);
        program->netns_fd = -1;
    }
    return rc < 0 ? rc : 0;
}

void ctw_xdp_program_close(ctw_xdp_program *program) {
    ctw_xdp_program_detach(program);
    if (program->netns_fd >= 0) close(program->netns_fd);
    xdp_program__close(program->program);
    free(program);
}

int ctw_xdp_program_map_fd(ctw_xdp_program *program, const char *name) {
    struct bpf_object *object = xdp_program__bpf_obj(program->program);
    if (object == NULL) return -ENOENT;
    int fd = bpf_object__find_map_fd_by_name(object, name);
    return fd >= 0 ? fd : -ENOENT;
}

int ctw_xdp_allow_udp_port(int port_map_fd, uint16_t port) {
    uint8_t allowed = 1;
    return bpf_map_update_elem(port_map_fd, &port, &allowed, BPF_ANY) == 0 ? 0 : -errno;
}

int ctw_xdp_register_xsk(int xsk_map_fd, uint32_t queue, int xsk_fd) {
    return bpf_map_update_elem(xsk_map_fd, &queue, &xsk_fd, BPF_ANY) == 0 ? 0 : -errno;
}

int ctw_xdp_unregister_xsk(int xsk_map_fd, uint32_t queue) {
    return bpf_map_delete_elem(xsk_map_fd, &queue) == 0 ? 0 : -errno;
}

int ctw_xsk_read_rx_statistics(int xsk_fd, ctw_xsk_rx_statistics *out) {
    struct xdp_statistics statistics = {0};
    socklen_t length = sizeof(statistics);
    if (getsockopt(xsk_fd, SOL_XDP, XDP_STATISTICS, &statistics, &length) != 0) return -errno;
    out->rx_dropped = statistics.rx_dropped;
    out->rx_invalid_descriptors = statistics.rx_invalid_descs;
    out->rx_ring_full = statistics.rx_ring_full;
    out->rx_fill_ring_empty = statistics.rx_fill_ring_empty_descs;
    return 0;
}

int ctw_xsk_read_tx_statistics(int xsk_fd, ctw_xsk_tx_statistics *out) {
    struct xdp_statistics statistics = {0};
    socklen_t length = sizeof(statistics);
    if (getsockopt(xsk_fd, SOL_XDP, XDP_STATISTICS, &statistics, &length) != 0) return -errno;
    out->tx_invalid_descriptors = statistics.tx_invalid_descs;
    out->tx_ring_empty = statistics.tx_ring_empty_descs;
    return 0;
}

int ctw_xsk_is_zero_copy(int xsk_fd) {
    struct xdp_options options = {0};
    socklen_t length = sizeof(options);
    if (getsockopt(xsk_fd, SOL_XDP, XDP_OPTIONS, &options, &length) != 0) return -errno;
    return (options.flags & XDP_OPTIONS_ZEROCOPY) != 0;
}
