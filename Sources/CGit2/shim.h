#ifndef GANTRY_CGIT2_SHIM_H
#define GANTRY_CGIT2_SHIM_H
/* libgit2's headers only: CGit2Loader loads the library on first use. */
#include <git2.h>
#endif
