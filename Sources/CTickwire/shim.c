// Out-of-line parts of the shim: everything that needs _GNU_SOURCE (cpu_set_t, mmsghdr,
// SCM_TIMESTAMPING structs) or libxdp's inline ring helpers stays in this file.
#define _GNU_SOURCE
#include "CTickwire.h"
#include "CTickwireReceive.h"

#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <net/if.h>
#include <numa.h>
#include <numaif.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <xdp/xsk.h>

// ---- libnuma ---------------------------------------------------------------
int ctw_numa_available(void) { return numa_available(); }
int ctw_numa_max_node(void) { return numa_max_node(); }
void *ctw_numa_alloc_onnode(size_t size, int node) { return numa_alloc_onnode(size, node); }
void ctw_numa_free(void *start, size_t size) { numa_free(start, size); }
int ctw_numa_bind_range(void *addr, size_t length, int node) {
    if (node < 0 || node >= (int)(sizeof(unsigned long) * 8)) { errno = EINVAL; return -1; }
    unsigned long mask = 1ul << node;
    return (int)mbind(addr, length, MPOL_BIND, &mask, sizeof(mask) * 8, 0);
}

// ---- CPU affinity -------------------------------------------------------------
int ctw_sched_setaffinity(pid_t tid, const int *cpus, int count) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < count; i++) {
        if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) { errno = EINVAL; return -1; }
        CPU_SET(cpus[i], &set);
    }
    return sched_setaffinity(tid, sizeof(set), &set);
}

int ctw_sched_getaffinity(pid_t tid, int *cpus, int capacity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(tid, sizeof(set), &set) != 0) return -1;
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && n < capacity; cpu++) {
        if (CPU_ISSET(cpu, &set)) cpus[n++] = cpu;
    }
    return n;
}

int ctw_sched_getcpu(void) { return sched_getcpu(); }

int ctw_set_thread_name(const char *name) {
    char truncated[16];
    strncpy(truncated, name, sizeof(truncated) - 1);
    truncated[sizeof(truncated) - 1] = 0;
    return pthread_setname_np(pthread_self(), truncated);
}

int ctw_set_fifo_priority(int priority) {
    struct sched_param param = { .sched_priority = priority };
    return sched_setscheduler(0, SCHED_FIFO, &param);
}
int ctw_set_timer_slack_ns(unsigned long nanoseconds) { return prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0); }

pid_t ctw_gettid(void) { return (pid_t)syscall(SYS_gettid); }

// ---- receive timestamps ---------------------------------------------------------
int ctw_enable_rx_timestamping(int fd, int hardware) {
    int flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
    if (hardware) flags |= SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_RAW_HARDWARE;
    return setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof(flags));
}

void ctw_parse_rx_timestamp(const void *control, size_t control_length, ctw_rx_timestamp *stamp) {
    stamp->nanoseconds = 0;
    stamp->kind = CTW_RX_TIMESTAMP_NONE;
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_control = (void *)control;
    msg.msg_controllen = control_length;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPING) continue;
        if (c->cmsg_len < CMSG_LEN(sizeof(struct scm_timestamping))) continue;
        struct scm_timestamping ts;
        memcpy(&ts, CMSG_DATA(c), sizeof(ts));
        // ts[2] is the raw hardware stamp, ts[0] the software one; prefer hardware.
        if (ts.ts[2].tv_sec != 0 || ts.ts[2].tv_nsec != 0) {
            stamp->nanoseconds = (uint64_t)ts.ts[2].tv_sec * 1000000000ull + (uint64_t)ts.ts[2].tv_nsec;
            stamp->kind = CTW_RX_TIMESTAMP_HARDWARE;
        } else if (ts.ts[0].tv_sec != 0 || ts.ts[0].tv_nsec != 0) {
            stamp->nanoseconds = (uint64_t)ts.ts[0].tv_sec * 1000000000ull + (uint64_t)ts.ts[0].tv_nsec;
            stamp->kind = CTW_RX_TIMESTAMP_SOFTWARE;
        }
    }
}

#define CTW_CONTROL_SPACE CMSG_SPACE(sizeof(struct scm_timestamping) * 2)

ssize_t ctw_recv_timestamped(int fd, void *buffer, size_t length, int flags,
                             struct sockaddr *source, socklen_t *source_length,
                             ctw_rx_timestamp *stamp) {
    union { char bytes[CTW_CONTROL_SPACE]; struct cmsghdr align; } control;
    struct iovec iov = { .iov_base = buffer, .iov_len = length };
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof(control.bytes);
    if (source != NULL && source_length != NULL) {
        msg.msg_name = source;
        msg.msg_namelen = *source_length;
    }
    ssize_t n = recvmsg(fd, &msg, flags);
    if (n < 0) return n;
    if (source_length != NULL) *source_length = msg.msg_namelen;
    ctw_parse_rx_timestamp(msg.msg_control, msg.msg_controllen, stamp);
    return n;
}

// ---- batched datagrams -------------------------------------------------------------
#define CTW_MAX_BATCH 64

int ctw_sendmmsg(int fd, const ctw_datagram *datagrams, unsigned int count, int flags) {
    if (count > CTW_MAX_BATCH) count = CTW_MAX_BATCH;
    struct mmsghdr msgs[CTW_MAX_BATCH];
    struct iovec iovs[CTW_MAX_BATCH];
    memset(msgs, 0, sizeof(struct mmsghdr) * count);
    for (unsigned int i = 0; i < count; i++) {
        iovs[i].iov_base = datagrams[i].data;
        iovs[i].iov_len = datagrams[i].length;
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = (void *)datagrams[i].address;
        msgs[i].msg_hdr.msg_namelen = datagrams[i].address_length;
    }
    return sendmmsg(fd, msgs, count, flags);
}

int ctw_recvmmsg(int fd, ctw_receive_slot *slots, unsigned int count, int flags) {
    return ctw_recvmmsg_with_drops(fd, slots, count, flags, NULL);
}

// ---- AF_XDP -----------------------------------------------------------------------------
struct ctw_xsk_umem {
    struct xsk_umem *umem;
    struct xsk_ring_prod fill;
    struct xsk_ring_cons comp;
};

struct ctw_xsk_socket {
    struct xsk_socket *xsk;
    struct xsk_ring_cons rx;
    struct xsk_ring_prod tx;
    ctw_xsk_umem *umem;
};

int ctw_xsk_umem_create(ctw_xsk_umem **out, void *area, uint64_t size, const ctw_xsk_umem_config *config) {
    ctw_xsk_umem *u = calloc(1, sizeof(*u));
    if (u == NULL) return -ENOMEM;
    struct xsk_umem_config cfg = {
        .fill_size = config->fill_size,
        .comp_size = config->comp_size,
        .frame_size = config->frame_size,
        .frame_headroom = config->frame_headroom,
        .flags = 0,
    };
    int rc = xsk_umem__create(&u->umem, area, size, &u->fill, &u->comp, &cfg);
    if (rc != 0) { free(u); return rc; }
    *out = u;
    return 0;
}

int ctw_xsk_umem_delete(ctw_xsk_umem *umem) {
    int rc = xsk_umem__delete(umem->umem);
    if (rc == 0) free(umem);
    return rc;
}

int ctw_xsk_socket_create(ctw_xsk_socket **out, const char *ifname, uint32_t queue,
                          ctw_xsk_umem *umem, const ctw_xsk_socket_config *config) {
    ctw_xsk_socket *s = calloc(1, sizeof(*s));
    if (s == NULL) return -ENOMEM;
    struct xsk_socket_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.rx_size = config->rx_size;
    cfg.tx_size = config->tx_size;
    cfg.libxdp_flags = config->inhibit_prog_load ? XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD : 0;
    cfg.xdp_flags = config->xdp_flags;
    cfg.bind_flags = (uint16_t)config->bind_flags;
    int rc = xsk_socket__create(&s->xsk, ifname, queue, umem->umem,
                                config->rx_size ? &s->rx : NULL,
                                config->tx_size ? &s->tx : NULL, &cfg);
    if (rc != 0) { free(s); return rc; }
    s->umem = umem;
    *out = s;
    return 0;
}

void ctw_xsk_socket_delete(ctw_xsk_socket *socket) {
    xsk_socket__delete(socket->xsk);
    free(socket);
}

int ctw_xsk_socket_fd(const ctw_xsk_socket *socket) { return xsk_socket__fd(socket->xsk); }
int ctw_xsk_umem_fd(const ctw_xsk_umem *umem) { return xsk_umem__fd(umem->umem); }

uint32_t ctw_xsk_tx_reserve(ctw_xsk_socket *socket, uint32_t count, uint32_t *first_index) {
    return xsk_ring_prod__reserve(&socket->tx, count, first_index);
}

void ctw_xsk_tx_set(ctw_xsk_socket *socket, uint32_t index, uint64_t address, uint32_t length) {
    struct xdp_desc *d = xsk_ring_prod__tx_desc(&socket->tx, index);
    d->addr = address;
    d->len = length;
    d->options = 0;
}

void ctw_xsk_tx_submit(ctw_xsk_socket *socket, uint32_t count) { xsk_ring_prod__submit(&socket->tx, count); }
int ctw_xsk_tx_needs_wakeup(const ctw_xsk_socket *socket) { return xsk_ring_prod__needs_wakeup(&socket->tx); }

int ctw_xsk_kick_tx(const ctw_xsk_socket *socket) {
    if (sendto(xsk_socket__fd(socket->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0) return 0;
    return -errno;
}

uint32_t ctw_xsk_complete(ctw_xsk_socket *socket, uint32_t count, uint64_t *addresses) {
    uint32_t index = 0;
    uint32_t n = xsk_ring_cons__peek(&socket->umem->comp, count, &index);
    for (uint32_t i = 0; i < n; i++) addresses[i] = *xsk_ring_cons__comp_addr(&socket->umem->comp, index + i);
    if (n > 0) xsk_ring_cons__release(&socket->umem->comp, n);
    return n;
}

uint32_t ctw_xsk_fill(ctw_xsk_socket *socket, const uint64_t *addresses, uint32_t count) {
    uint32_t index = 0;
    uint32_t n = xsk_ring_prod__reserve(&socket->umem->fill, count, &index);
    for (uint32_t i = 0; i < n; i++) *xsk_ring_prod__fill_addr(&socket->umem->fill, index + i) = addresses[i];
    if (n > 0) xsk_ring_prod__submit(&socket->umem->fill, n);
    return n;
}

uint32_t ctw_xsk_receive(ctw_xsk_socket *socket, uint32_t count, uint64_t *addresses, uint32_t *lengths) {
    uint32_t index = 0;
    uint32_t n = xsk_ring_cons__peek(&socket->rx, count, &index);
    for (uint32_t i = 0; i < n; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&socket->rx, index + i);
        addresses[i] = d->addr;
        lengths[i] = d->len;
    }
    if (n > 0) xsk_ring_cons__release(&socket->rx, n);
    return n;
}
