/*
 * The floor for decoding manifests: libyaml's parser run over every .yaml
 * file under a directory, each event fetched and dropped, nothing built.
 * Any YAML decoder built on libyaml does at least this much work.
 *
 *   yaml_events DIR   prints: seconds documents events files
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

static long documents, events, files;

static int is_manifest(const char *path) {
    size_t n = strlen(path);
    return (n > 5 && strcmp(path + n - 5, ".yaml") == 0) || (n > 4 && strcmp(path + n - 4, ".yml") == 0);
}

static int hidden(const char *path, int base) { return path[base] == '.' && base > 0; }

static int parse_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return -1; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buffer = malloc(size > 0 ? size : 1);
    if (fread(buffer, 1, size, f) != (size_t)size) { perror(path); fclose(f); free(buffer); return -1; }
    fclose(f);

    yaml_parser_t parser;
    yaml_event_t event;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, buffer, size);
    int done = 0, ok = 0;
    while (!done) {
        if (!yaml_parser_parse(&parser, &event)) {
            fprintf(stderr, "%s: %s\n", path, parser.problem ? parser.problem : "parse error");
            ok = -1;
            break;
        }
        events++;
        if (event.type == YAML_DOCUMENT_START_EVENT) documents++;
        done = event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    free(buffer);
    files++;
    return ok;
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    if (type == FTW_D && hidden(path, ftw->base)) return FTW_SKIP_SUBTREE;
    if (type == FTW_F && is_manifest(path)) return parse_file(path) == 0 ? FTW_CONTINUE : FTW_STOP;
    return FTW_CONTINUE;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s DIR\n", argv[0]); return 2; }
    struct timespec t0, t1, c0, c1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    if (nftw(argv[1], visit, 32, FTW_PHYS | FTW_ACTIONRETVAL) != 0) return 1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* wall seconds, documents, events, files, CPU seconds */
    printf("%.6f %ld %ld %ld %.6f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, documents, events, files,
           (c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) / 1e9);
    return 0;
}
