// CTickwireNotify: AF_UNIX datagram sockets addressed the way systemd writes $NOTIFY_SOCKET
// (a filesystem path, or "@name" for the abstract namespace), for the sd_notify protocol
// without libsystemd. struct sockaddr_un is built here because Swift cannot fill its
// fixed-size sun_path conveniently. Implemented in notify.c; all return -1 with errno set
// on failure, like the calls they wrap.
#ifndef CTICKWIRE_NOTIFY_H
#define CTICKWIRE_NOTIFY_H

#include <stddef.h>
#include <sys/types.h>

/// socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0).
int ctw_unix_datagram_socket(void);

/// bind() to `address` ("/path" or "@abstract"); the receiving side (tests, or a supervisor).
int ctw_unix_datagram_bind(int fd, const char *address);

/// One datagram to `address` with MSG_DONTWAIT | MSG_NOSIGNAL: a stalled or vanished
/// supervisor is an error return (EAGAIN, ECONNREFUSED), never a blocked or killed caller.
ssize_t ctw_unix_datagram_send(int fd, const char *address, const void *bytes, size_t length);

#endif
