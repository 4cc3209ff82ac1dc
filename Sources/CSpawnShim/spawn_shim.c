#define _GNU_SOURCE
#include "spawn_shim.h"

int spawn_shim_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

int spawn_shim_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

short spawn_shim_setsid_flag(void) {
    return POSIX_SPAWN_SETSID;
}
