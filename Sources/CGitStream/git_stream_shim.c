#include "git_stream_shim.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/stream.h>

typedef struct {
    git_stream parent;
    char *host;
    char *port;
    int fd;
} nodelay_stream;

static int fail(const char *what, const char *host, const char *port, const char *why) {
    char message[512];
    snprintf(message, sizeof message, "%s %s:%s: %s", what, host, port, why);
    git_error_set_str(GIT_ERROR_NET, message);
    return -1;
}

/* Acknowledges what arrives from now on at once. The server (git
   upload-pack behind git daemon) writes its answer in small pieces; with
   Nagle on at its end, each piece after the first waits for our ACK of the
   one before, and Linux delays that ACK by up to 40 ms. The kernel falls
   back to delayed ACKs on its own, so this is set again after every read. */
static void quickack(int fd) {
#ifdef TCP_QUICKACK
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#else
    (void)fd;
#endif
}

static int stream_connect(git_stream *s) {
    nodelay_stream *st = (nodelay_stream *)s;
    struct addrinfo hints, *info = NULL, *p;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(st->host, st->port, &hints, &info);
    if (rc != 0) return fail("cannot resolve", st->host, st->port, gai_strerror(rc));

    int fd = -1, error = 0;
    for (p = info; p != NULL; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
        if (fd < 0) { error = errno; continue; }
        int r;
        do { r = connect(fd, p->ai_addr, p->ai_addrlen); } while (r < 0 && errno == EINTR);
        if (r == 0) break;
        error = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(info);
    if (fd < 0) return fail("cannot connect to", st->host, st->port, strerror(error ? error : ECONNREFUSED));

    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    quickack(fd);
    st->fd = fd;
    return 0;
}

static ssize_t stream_read(git_stream *s, void *data, size_t len) {
    nodelay_stream *st = (nodelay_stream *)s;
    ssize_t n;
    do { n = recv(st->fd, data, len, 0); } while (n < 0 && errno == EINTR);
    if (n < 0) {
        fail("cannot read from", st->host, st->port, strerror(errno));
        return n;
    }
    quickack(st->fd);
    return n;
}

static ssize_t stream_write(git_stream *s, const char *data, size_t len, int flags) {
    nodelay_stream *st = (nodelay_stream *)s;
    (void)flags;
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(st->fd, data + sent, len - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("cannot write to", st->host, st->port, strerror(errno));
            return -1;
        }
        sent += (size_t)n;
    }
    return (ssize_t)sent;
}

static int stream_close(git_stream *s) {
    nodelay_stream *st = (nodelay_stream *)s;
    if (st->fd >= 0) close(st->fd);
    st->fd = -1;
    return 0;
}

static void stream_free(git_stream *s) {
    nodelay_stream *st = (nodelay_stream *)s;
    stream_close(s);
    free(st->host);
    free(st->port);
    free(st);
}

static int stream_init(git_stream **out, const char *host, const char *port) {
    nodelay_stream *st = calloc(1, sizeof *st);
    if (st == NULL) return -1;
    st->host = strdup(host);
    st->port = strdup(port);
    if (st->host == NULL || st->port == NULL) {
        free(st->host);
        free(st->port);
        free(st);
        return -1;
    }
    st->fd = -1;
    st->parent.version = GIT_STREAM_VERSION;
    st->parent.connect = stream_connect;
    st->parent.read = stream_read;
    st->parent.write = stream_write;
    st->parent.close = stream_close;
    st->parent.free = stream_free;
    *out = &st->parent;
    return 0;
}

int gantry_git_register_nodelay_stream(void) {
    git_stream_registration registration;
    memset(&registration, 0, sizeof registration);
    registration.version = GIT_STREAM_VERSION;
    registration.init = stream_init;
    return git_stream_register(GIT_STREAM_STANDARD, &registration);
}

int gantry_git_nodelay_probe(const char *host, const char *port) {
    git_stream *s = NULL;
    git_libgit2_init();  /* errors live in libgit2's thread state */
    if (stream_init(&s, host, port) < 0) return -1;
    int rc = s->connect(s);
    if (rc < 0) {
        s->free(s);
        return rc;
    }
    int value = 0;
    socklen_t size = sizeof value;
    getsockopt(((nodelay_stream *)s)->fd, IPPROTO_TCP, TCP_NODELAY, &value, &size);
    s->free(s);
    return value != 0;
}
