// AF_UNIX datagram sockets with systemd-style addresses (declared in CTickwireNotify.h).
#define _GNU_SOURCE
#include "CTickwireNotify.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

// "/path" -> a pathname address; "@name" -> an abstract address (leading NUL, length-delimited,
// not NUL-terminated, as systemd and sd_notify spell it).
static int fill_address(const char *address, struct sockaddr_un *out, socklen_t *length) {
    size_t text_length = strlen(address);
    if (text_length == 0 || (address[0] != '/' && address[0] != '@')) { errno = EINVAL; return -1; }
    if (text_length >= sizeof(out->sun_path)) { errno = ENAMETOOLONG; return -1; }
    memset(out, 0, sizeof(*out));
    out->sun_family = AF_UNIX;
    memcpy(out->sun_path, address, text_length);
    if (address[0] == '@') {
        out->sun_path[0] = '\0';
        *length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + text_length);
    } else {
        *length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + text_length + 1);
    }
    return 0;
}

int ctw_unix_datagram_socket(void) { return socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0); }

int ctw_unix_datagram_bind(int fd, const char *address) {
    struct sockaddr_un socket_address;
    socklen_t length;
    if (fill_address(address, &socket_address, &length) != 0) return -1;
    return bind(fd, (const struct sockaddr *)&socket_address, length);
}

ssize_t ctw_unix_datagram_send(int fd, const char *address, const void *bytes, size_t length) {
    struct sockaddr_un socket_address;
    socklen_t address_length;
    if (fill_address(address, &socket_address, &address_length) != 0) return -1;
    return sendto(fd, bytes, length, MSG_DONTWAIT | MSG_NOSIGNAL,
                  (const struct sockaddr *)&socket_address, address_length);
}
