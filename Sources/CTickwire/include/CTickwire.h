// CTickwire: thin wrappers over the Linux, libnuma and libxdp/libbpf calls Tickwire needs.
// Header-only static inline where Swift's importer can see the declarations directly;
// functions needing _GNU_SOURCE (cpu_set_t, mmsghdr) live in shim.c, because defining
// _GNU_SOURCE in a header Swift imports breaks debug builds (fd_set clash).
#ifndef CTICKWIRE_H
#define CTICKWIRE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

// ---- errno ---------------------------------------------------------------
static inline int ctw_errno(void) { return errno; }
static inline void ctw_set_errno(int value) { errno = value; }

// ---- memory: mmap / hugetlb / THP / mlock --------------------------------
// MAP_HUGE_* encodings, spelled out because <linux/mman.h> clashes with <sys/mman.h>.
#define CTW_MAP_HUGE_SHIFT 26
#define CTW_MAP_HUGE_2MB (21 << CTW_MAP_HUGE_SHIFT)
#define CTW_MAP_HUGE_1GB (30 << CTW_MAP_HUGE_SHIFT)

/// Anonymous private mapping; `huge_page_shift` 0 means normal pages, 21 = 2 MiB, 30 = 1 GiB.
/// Returns NULL (not MAP_FAILED, which Swift cannot import) and leaves errno set on failure.
static inline void *ctw_mmap_anonymous(size_t length, int huge_page_shift) {
    int flags = MAP_PRIVATE | MAP_ANONYMOUS;
    if (huge_page_shift > 0) {
        flags |= MAP_HUGETLB | (huge_page_shift << CTW_MAP_HUGE_SHIFT);
    }
    void *p = mmap(NULL, length, PROT_READ | PROT_WRITE, flags, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
static inline int ctw_munmap(void *addr, size_t length) { return munmap(addr, length); }
static inline int ctw_madvise_hugepage(void *addr, size_t length) {
    return madvise(addr, length, MADV_HUGEPAGE);
}
static inline int ctw_mlockall_current_future(void) { return mlockall(MCL_CURRENT | MCL_FUTURE); }
static inline int ctw_munlockall(void) { return munlockall(); }

// ---- libnuma ------------------------------------------------------------
int ctw_numa_available(void);
int ctw_numa_max_node(void);
void *ctw_numa_alloc_onnode(size_t size, int node);
void ctw_numa_free(void *start, size_t size);
/// Binds [addr, addr+len) to `node` (mbind MPOL_BIND); used after mmap so huge pages land locally.
int ctw_numa_bind_range(void *addr, size_t length, int node);

// ---- CPU affinity (cpu_set_t needs _GNU_SOURCE: implemented in shim.c) ---
/// tid 0 = calling thread. `cpus` lists CPU numbers.
int ctw_sched_setaffinity(pid_t tid, const int *cpus, int count);
/// Fills `cpus` with up to `capacity` CPU numbers; returns how many (or -1, errno set).
int ctw_sched_getaffinity(pid_t tid, int *cpus, int capacity);
int ctw_sched_getcpu(void);
pid_t ctw_gettid(void);
/// Names the calling thread (at most 15 bytes are kept); 0 or an errno value.
int ctw_set_thread_name(const char *name);
/// SCHED_FIFO at `priority` for the calling thread; 0, or -1 with errno set.
int ctw_set_fifo_priority(int priority);
/// How late the kernel may wake the calling thread from a timed sleep (PR_SET_TIMERSLACK;
/// the default is 50 µs); 0, or -1 with errno set.
int ctw_set_timer_slack_ns(unsigned long nanoseconds);

// ---- prefetch -----------------------------------------------------------
static inline void ctw_prefetch_read(const void *p) { __builtin_prefetch(p, 0, 3); }
static inline void ctw_prefetch_write(const void *p) { __builtin_prefetch(p, 1, 3); }

// ---- clocks ---------------------------------------------------------------
static inline uint64_t ctw_clock_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static inline uint64_t ctw_realtime_ns(void) { return ctw_clock_ns(CLOCK_REALTIME); }
static inline uint64_t ctw_monotonic_ns(void) { return ctw_clock_ns(CLOCK_MONOTONIC); }

// ---- receive timestamps (SO_TIMESTAMPING) ----------------------------------
/// Which clock a receive timestamp came from.
typedef enum {
    CTW_RX_TIMESTAMP_NONE = 0,      ///< no control message: caller falls back to CLOCK_REALTIME
    CTW_RX_TIMESTAMP_SOFTWARE = 1,  ///< kernel software RX stamp (ts[0])
    CTW_RX_TIMESTAMP_HARDWARE = 2,  ///< raw hardware stamp (ts[2])
} ctw_rx_timestamp_kind;

typedef struct {
    uint64_t nanoseconds;
    ctw_rx_timestamp_kind kind;
} ctw_rx_timestamp;

/// Asks the kernel for software (and, if `hardware`, raw hardware) RX timestamps.
int ctw_enable_rx_timestamping(int fd, int hardware);
/// recvmsg into `buffer`, parsing SCM_TIMESTAMPING into `stamp`. Returns bytes or -1 (errno).
/// `source`/`source_length` may be NULL; on input *source_length is the capacity.
ssize_t ctw_recv_timestamped(int fd, void *buffer, size_t length, int flags,
                             struct sockaddr *source, socklen_t *source_length,
                             ctw_rx_timestamp *stamp);
/// Parses an SCM_TIMESTAMPING control buffer produced by recvmsg/recvmmsg.
void ctw_parse_rx_timestamp(const void *control, size_t control_length, ctw_rx_timestamp *stamp);

// ---- batched datagrams (mmsghdr needs _GNU_SOURCE: implemented in shim.c) ---
/// One datagram in a batch: caller-owned buffer, optional peer address.
typedef struct {
    void *data;
    size_t length;
    const struct sockaddr *address;   ///< NULL when the socket is connected
    socklen_t address_length;
} ctw_datagram;

/// sendmmsg over `count` datagrams. Returns datagrams sent or -1 (errno).
int ctw_sendmmsg(int fd, const ctw_datagram *datagrams, unsigned int count, int flags);

/// Receive slot: caller-owned buffer in; length and timestamp out.
typedef struct {
    void *data;
    size_t capacity;
    size_t length;
    ctw_rx_timestamp stamp;
    struct sockaddr_storage source;
} ctw_receive_slot;

/// recvmmsg into `count` slots (control buffers are internal, on the stack).
/// Returns datagrams received or -1 (errno). Capped at 64 per call.
int ctw_recvmmsg(int fd, ctw_receive_slot *slots, unsigned int count, int flags);

// ---- AF_XDP (libxdp xsk API) --------------------------------------------------
// Opaque handles so Swift never touches libxdp's structs directly.
typedef struct ctw_xsk_umem ctw_xsk_umem;
typedef struct ctw_xsk_socket ctw_xsk_socket;

typedef struct {
    uint32_t fill_size;
    uint32_t comp_size;
    uint32_t frame_size;
    uint32_t frame_headroom;
} ctw_xsk_umem_config;

typedef struct {
    uint32_t rx_size;
    uint32_t tx_size;
    uint32_t bind_flags;        ///< XDP_COPY / XDP_ZEROCOPY / XDP_USE_NEED_WAKEUP
    uint32_t xdp_flags;         ///< XDP_FLAGS_SKB_MODE / XDP_FLAGS_DRV_MODE
    uint32_t inhibit_prog_load; ///< 1: caller attaches its own XDP program
} ctw_xsk_socket_config;

/// Returns 0 or a negative errno (libxdp convention).
int ctw_xsk_umem_create(ctw_xsk_umem **out, void *area, uint64_t size, const ctw_xsk_umem_config *config);
int ctw_xsk_umem_delete(ctw_xsk_umem *umem);
int ctw_xsk_socket_create(ctw_xsk_socket **out, const char *ifname, uint32_t queue,
                          ctw_xsk_umem *umem, const ctw_xsk_socket_config *config);
void ctw_xsk_socket_delete(ctw_xsk_socket *socket);
int ctw_xsk_socket_fd(const ctw_xsk_socket *socket);
int ctw_xsk_umem_fd(const ctw_xsk_umem *umem);

/// TX ring: reserve up to `count` descriptors, fill them, submit. Returns reserved count.
uint32_t ctw_xsk_tx_reserve(ctw_xsk_socket *socket, uint32_t count, uint32_t *first_index);
void ctw_xsk_tx_set(ctw_xsk_socket *socket, uint32_t index, uint64_t address, uint32_t length);
void ctw_xsk_tx_submit(ctw_xsk_socket *socket, uint32_t count);
int ctw_xsk_tx_needs_wakeup(const ctw_xsk_socket *socket);
/// sendto(MSG_DONTWAIT) kick; returns 0 or -errno (EAGAIN/EBUSY/ENOBUFS are not fatal).
int ctw_xsk_kick_tx(const ctw_xsk_socket *socket);
/// Completion ring: peek up to `count` completed frame addresses into `addresses`, release them.
uint32_t ctw_xsk_complete(ctw_xsk_socket *socket, uint32_t count, uint64_t *addresses);
/// Fill ring: give `count` frame addresses to the kernel for RX. Returns how many were queued.
uint32_t ctw_xsk_fill(ctw_xsk_socket *socket, const uint64_t *addresses, uint32_t count);
/// RX ring: peek up to `count` received descriptors, copy (address, length) out, release them.
uint32_t ctw_xsk_receive(ctw_xsk_socket *socket, uint32_t count, uint64_t *addresses, uint32_t *lengths);

#endif
