/* The floor of a warm data check: read one directory's names, then stat
 * every name relative to the open directory, split over every core. No
 * hashing, no state, no manifests: what any tool that trusts size, mtime
 * and inode must at least do. Prints the number of regular files.
 *
 *   gcc -O2 -pthread -o stat_walk bench/floor/stat_walk.c
 *   ./stat_walk DIR
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char **names;
static size_t count;
static int directory;

struct slice { size_t from, to, regular; };

static void *stat_slice(void *arg) {
    struct slice *s = arg;
    for (size_t i = s->from; i < s->to; i++) {
        struct stat st;
        if (fstatat(directory, names[i], &st, 0) == 0 && S_ISREG(st.st_mode)) s->regular++;
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: stat_walk DIR\n"); return 2; }
    DIR *dir = opendir(argv[1]);
    if (dir == NULL) { perror(argv[1]); return 1; }
    size_t capacity = 1024;
    names = malloc(capacity * sizeof *names);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        if (count == capacity) names = realloc(names, (capacity *= 2) * sizeof *names);
        names[count++] = strdup(entry->d_name);
    }
    directory = dirfd(dir);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1) cores = 1;
    if (cores > 64) cores = 64;
    pthread_t threads[64];
    struct slice slices[64];
    for (long t = 0; t < cores; t++) {
        slices[t] = (struct slice){count * t / cores, count * (t + 1) / cores, 0};
        pthread_create(&threads[t], NULL, stat_slice, &slices[t]);
    }
    size_t regular = 0;
    for (long t = 0; t < cores; t++) {
        pthread_join(threads[t], NULL);
        regular += slices[t].regular;
    }
    printf("%zu\n", regular);
    return 0;
}
