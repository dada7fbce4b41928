// The reference AF_XDP sender for `bench-peers.sh senders`: a minimal libxdp TX loop in the
// style of xdpsock's txonly mode. Every UMEM frame is filled once with the same complete
// Ethernet/IPv4/UDP frame (checksums computed once), so the loop only moves descriptors:
// reserve BATCH, submit, kick (copy mode answers EAGAIN while frames remain), reap completions.
// Usage: xdp_tx_peer IFNAME QUEUE DEST_MAC DEST_IP PORT PAYLOAD_BYTES BATCH SECONDS
// Prints "packets_per_second N" and "mode copy|zero-copy".
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xdp/xsk.h>

#define FRAME_COUNT 4096
#define FRAME_SIZE 2048
#define RING_SIZE 2048

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint16_t checksum(const uint8_t *bytes, size_t length, uint32_t sum) {
    for (size_t i = 0; i + 1 < length; i += 2) sum += (uint32_t)bytes[i] << 8 | bytes[i + 1];
    if (length & 1) sum += (uint32_t)bytes[length - 1] << 8;
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)~sum;
}

static size_t build_frame(uint8_t *frame, const char *ifname, const uint8_t destination_mac[6],
                          uint32_t destination_ip, uint16_t port, size_t payload_bytes) {
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    strncpy(request.ifr_name, ifname, IFNAMSIZ - 1);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (ioctl(fd, SIOCGIFHWADDR, &request) != 0) { perror("SIOCGIFHWADDR"); exit(1); }
    memcpy(frame, destination_mac, 6);
    memcpy(frame + 6, request.ifr_hwaddr.sa_data, 6);
    if (ioctl(fd, SIOCGIFADDR, &request) != 0) { perror("SIOCGIFADDR"); exit(1); }
    close(fd);
    uint32_t source_ip = ((struct sockaddr_in *)&request.ifr_addr)->sin_addr.s_addr;
    frame[12] = 0x08; frame[13] = 0x00;
    uint8_t *ip = frame + 14, *udp = ip + 20;
    size_t udp_length = 8 + payload_bytes;
    memset(ip, 0, 20);
    ip[0] = 0x45; ip[2] = (uint8_t)((20 + udp_length) >> 8); ip[3] = (uint8_t)(20 + udp_length);
    ip[6] = 0x40; ip[8] = 64; ip[9] = 17;
    memcpy(ip + 12, &source_ip, 4);
    memcpy(ip + 16, &destination_ip, 4);
    uint16_t ip_checksum = checksum(ip, 20, 0);
    ip[10] = (uint8_t)(ip_checksum >> 8); ip[11] = (uint8_t)ip_checksum;
    udp[0] = (uint8_t)(port >> 8); udp[1] = (uint8_t)port; udp[2] = (uint8_t)(port >> 8); udp[3] = (uint8_t)port;
    udp[4] = (uint8_t)(udp_length >> 8); udp[5] = (uint8_t)udp_length; udp[6] = 0; udp[7] = 0;
    memset(udp + 8, 0xA5, payload_bytes);
    uint32_t pseudo = 0;
    for (int i = 12; i < 20; i += 2) pseudo += (uint32_t)ip[i] << 8 | ip[i + 1];
    pseudo += 17 + (uint32_t)udp_length;
    uint16_t udp_checksum = checksum(udp, udp_length, pseudo);
    if (udp_checksum == 0) udp_checksum = 0xFFFF;
    udp[6] = (uint8_t)(udp_checksum >> 8); udp[7] = (uint8_t)udp_checksum;
    return 14 + 20 + udp_length;
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: %s IFNAME QUEUE DEST_MAC DEST_IP PORT PAYLOAD_BYTES BATCH SECONDS\n", argv[0]);
        return 2;
    }
    const char *ifname = argv[1];
    uint32_t queue = (uint32_t)atoi(argv[2]);
    uint8_t destination_mac[6];
    if (sscanf(argv[3], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &destination_mac[0], &destination_mac[1], &destination_mac[2],
               &destination_mac[3], &destination_mac[4], &destination_mac[5]) != 6) { fprintf(stderr, "bad MAC\n"); return 2; }
    struct in_addr destination_ip;
    if (inet_pton(AF_INET, argv[4], &destination_ip) != 1) { fprintf(stderr, "bad address\n"); return 2; }
    uint16_t port = (uint16_t)atoi(argv[5]);
    size_t payload_bytes = (size_t)atoi(argv[6]);
    uint32_t batch = (uint32_t)atoi(argv[7]);
    double seconds = atof(argv[8]);

    void *area = mmap(NULL, (size_t)FRAME_COUNT * FRAME_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) { perror("mmap"); return 1; }
    uint8_t frame[FRAME_SIZE];
    size_t frame_length = build_frame(frame, ifname, destination_mac, destination_ip.s_addr, port, payload_bytes);
    for (int i = 0; i < FRAME_COUNT; i++) memcpy((uint8_t *)area + (size_t)i * FRAME_SIZE, frame, frame_length);

    struct xsk_ring_prod fill, tx;
    struct xsk_ring_cons completion;
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    struct xsk_umem_config umem_config = {.fill_size = 64, .comp_size = RING_SIZE, .frame_size = FRAME_SIZE};
    struct xsk_socket_config config = {
        .tx_size = RING_SIZE, .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
        .bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP,
    };
    // The queue stays busy (EBUSY) briefly after the previous sender closed its socket; a
    // failed bind leaves the UMEM registration unusable, so each attempt makes a fresh one.
    for (int attempt = 0;; attempt++) {
        int rc = xsk_umem__create(&umem, area, (uint64_t)FRAME_COUNT * FRAME_SIZE, &fill, &completion, &umem_config);
        if (rc) { fprintf(stderr, "xsk_umem__create: %s\n", strerror(-rc)); return 1; }
        rc = xsk_socket__create(&xsk, ifname, queue, umem, NULL, &tx, &config);
        if (rc == 0) break;
        xsk_umem__delete(umem);
        if (rc != -EBUSY || attempt == 100) { fprintf(stderr, "xsk_socket__create: %s\n", strerror(-rc)); return 1; }
        usleep(5000);
    }
    int fd = xsk_socket__fd(xsk);

    uint64_t free_frames[FRAME_COUNT];
    uint32_t free_count = FRAME_COUNT;
    for (uint32_t i = 0; i < FRAME_COUNT; i++) free_frames[i] = (uint64_t)i * FRAME_SIZE;

    uint64_t sent = 0;
    double start = now(), elapsed = 0;
    while (elapsed < seconds) {
        uint32_t index;
        uint32_t done = xsk_ring_cons__peek(&completion, RING_SIZE, &index);
        for (uint32_t i = 0; i < done; i++) free_frames[free_count++] = *xsk_ring_cons__comp_addr(&completion, index + i);
        if (done) xsk_ring_cons__release(&completion, done);

        uint32_t want = batch < free_count ? batch : free_count;
        uint32_t reserved = want ? xsk_ring_prod__reserve(&tx, want, &index) : 0;
        for (uint32_t i = 0; i < reserved; i++) {
            struct xdp_desc *descriptor = xsk_ring_prod__tx_desc(&tx, index + i);
            descriptor->addr = free_frames[--free_count];
            descriptor->len = (uint32_t)frame_length;
        }
        if (reserved) xsk_ring_prod__submit(&tx, reserved);
        sent += reserved;
        for (int kick = 0; kick < 8; kick++) {
            if (sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0) break;
            if (errno != EAGAIN && errno != EBUSY && errno != ENOBUFS) break;
        }
        elapsed = now() - start;
    }
    printf("packets_per_second %.0f\nmode copy\n", (double)sent / elapsed);
    xsk_socket__delete(xsk);
    xsk_umem__delete(umem);
    return 0;
}
