#ifndef GANTRY_CGIT2_SHIM_H
#define GANTRY_CGIT2_SHIM_H
/* libgit2's headers only: CGit2Loader loads the library on first use and
 * defines every libgit2 function Gantry calls, and these. */
#include <git2.h>
/* In-memory objects: a planned merge writes nothing to the repository. */
#include <git2/sys/mempack.h>

/* git_libgit2_opts is variadic; Swift cannot call it directly. */
int gantry_git_set_owner_validation(int enabled);
int gantry_git_set_cache_max_size(long bytes);
int gantry_git_set_cache_object_limit(git_object_t type, long bytes);
#endif
