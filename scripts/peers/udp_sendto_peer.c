// The baseline sender for `bench-peers.sh senders`: one sendto() per datagram on a plain
// UDP socket (8 MiB SO_SNDBUF), to DEST_IP:PORT for SECONDS, clock checked every BATCH sends.
// Usage: udp_sendto_peer DEST_IP PORT PAYLOAD_BYTES BATCH SECONDS
// Prints "packets_per_second N" and "errors N".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s DEST_IP PORT PAYLOAD_BYTES BATCH SECONDS\n", argv[0]);
        return 2;
    }
    struct sockaddr_in destination = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &destination.sin_addr) != 1) { fprintf(stderr, "bad address\n"); return 2; }
    size_t payload_bytes = (size_t)atoi(argv[3]);
    int batch = atoi(argv[4]);
    double seconds = atof(argv[5]);

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int buffer = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof(buffer));
    char payload[2048];
    memset(payload, 0xA5, sizeof(payload));

    uint64_t sent = 0, errors = 0;
    double start = now(), elapsed = 0;
    while (elapsed < seconds) {
        for (int i = 0; i < batch; i++) {
            if (sendto(fd, payload, payload_bytes, 0, (struct sockaddr *)&destination, sizeof(destination)) < 0) errors++;
            else sent++;
        }
        elapsed = now() - start;
    }
    printf("packets_per_second %.0f\nerrors %llu\n", (double)sent / elapsed, (unsigned long long)errors);
    return 0;
}
