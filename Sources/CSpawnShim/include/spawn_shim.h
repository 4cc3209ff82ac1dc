#ifndef SPAWN_SHIM_H
#define SPAWN_SHIM_H

#include <spawn.h>

/* posix_spawn_file_actions_addchdir_np: the child changes directory before exec. */
int spawn_shim_addchdir(posix_spawn_file_actions_t *actions, const char *path);

/* posix_spawn_file_actions_addclosefrom_np: the child closes every fd >= from. */
int spawn_shim_addclosefrom(posix_spawn_file_actions_t *actions, int from);

/* POSIX_SPAWN_SETSID: the child calls setsid() before exec. */
short spawn_shim_setsid_flag(void);

#endif
