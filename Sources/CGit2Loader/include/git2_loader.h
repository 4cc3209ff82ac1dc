#ifndef GANTRY_GIT2_LOADER_H
#define GANTRY_GIT2_LOADER_H

/* libgit2 is loaded on first use, not linked (scripts/generate-git2-loader
 * says why). Loads it once; returns 1 when loaded, 0 when it cannot be,
 * and then gantry_git2_load_error() says why.
 *
 * No libgit2 header is included here: its declarations belong to the CGit2
 * module, which also declares the gantry_git_set_* functions defined in
 * git2_loader.c. */
int gantry_git2_load(void);
const char *gantry_git2_load_error(void);
#endif
