#ifndef GANTRY_CGIT2_SHIM_H
#define GANTRY_CGIT2_SHIM_H
#include <git2.h>

/* git_libgit2_opts is variadic; Swift cannot call it directly. */
static inline int gantry_git_set_owner_validation(int enabled) {
    return git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, enabled);
}
static inline int gantry_git_set_cache_max_size(long bytes) {
    return git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)bytes);
}
static inline int gantry_git_set_cache_object_limit(git_object_t type, long bytes) {
    return git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, type, (size_t)bytes);
}
#endif
