#ifndef GANTRY_FILES_H
#define GANTRY_FILES_H

#include <sys/types.h>

/* copy_file_range(2) from the current offsets of `in` to `out`: blocks
 * shared (a reflink) where the file system can, a copy in the kernel
 * otherwise. Returns the bytes copied, 0 at the end of `in`, or -1 with
 * errno set (EXDEV, ENOSYS, EINVAL: the caller copies by hand). Glibc
 * declares it only with _GNU_SOURCE, which Swift's import does not set. */
ssize_t gantry_copy_file_range(int in, int out, size_t length);

#endif
