#ifndef GANTRY_GIT2_LOADER_H
#define GANTRY_GIT2_LOADER_H
#include <git2.h>

/* libgit2 is loaded on first use, not linked (scripts/generate-git2-loader
 * says why). Loads it once; returns 1 when loaded, 0 when it cannot be,
 * and then gantry_git2_load_error() says why. */
int gantry_git2_load(void);
const char *gantry_git2_load_error(void);

/* git_libgit2_opts is variadic; Swift cannot call it directly. */
int gantry_git_set_owner_validation(int enabled);
int gantry_git_set_cache_max_size(long bytes);
int gantry_git_set_cache_object_limit(git_object_t type, long bytes);
#endif
