#ifndef GANTRY_GIT_STREAM_SHIM_H
#define GANTRY_GIT_STREAM_SHIM_H

/*
 * A plain TCP stream for libgit2 (git://, and the socket under http:// and
 * https://) that turns Nagle's algorithm off.
 *
 * libgit2's own socket stream leaves it on. A fetch writes its wants and
 * haves in more than one small segment before it reads; with Nagle on, the
 * second segment waits for the server's acknowledgement of the first, which
 * the server delays by up to 40 ms (delayed ACK). On loopback or a LAN that
 * stall is most of a fetch.
 */

/* Registers the stream for GIT_STREAM_STANDARD. Call once, after
   git_libgit2_init. Returns 0, or libgit2's error code. */
int gantry_git_register_nodelay_stream(void);

/* For tests: connects a stream of this kind to host:port, then reports
   whether the socket has TCP_NODELAY set (1), has it off (0), or could not
   connect (a negative libgit2 error code; git_error_last says why). */
int gantry_git_nodelay_probe(const char *host, const char *port);

#endif
