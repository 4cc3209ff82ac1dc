#ifndef GANTRY_CMALLOC_SHIM_H
#define GANTRY_CMALLOC_SHIM_H
/* glibc's malloc_trim, which the Glibc module does not declare. */
#include <malloc.h>
#endif
