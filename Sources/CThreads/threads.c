#define _GNU_SOURCE
#include "threads.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

/* Linux places a new thread on its creator's CPU. While the creator keeps
 * that CPU busy (a command parsing its arguments), the thread waits there
 * for the scheduler's next tick to move it, 2 to 3 ms on the machines
 * Gantry is measured on (250 Hz), even with another CPU idle. A thread
 * allowed only the other CPUs starts on one of them within 0.1 ms; it then
 * takes back the process's whole CPU set. */

struct start {
    void *(*body)(void *);
    void *argument;
    cpu_set_t allowed;
};

static void *run(void *raw) {
    struct start start = *(struct start *)raw;
    free(raw);
    sched_setaffinity(0, sizeof start.allowed, &start.allowed);
    return start.body(start.argument);
}

int gantry_thread_start_elsewhere(void *(*body)(void *), void *argument) {
    struct start *start = malloc(sizeof *start);
    if (start == NULL) return ENOMEM;
    start->body = body;
    start->argument = argument;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    int here = sched_getcpu();
    if (sched_getaffinity(0, sizeof start->allowed, &start->allowed) == 0 && here >= 0 && CPU_COUNT(&start->allowed) > 1) {
        cpu_set_t elsewhere = start->allowed;
        CPU_CLR(here, &elsewhere);
        pthread_attr_setaffinity_np(&attributes, sizeof elsewhere, &elsewhere);
    } else {
        sched_getaffinity(0, sizeof start->allowed, &start->allowed);
    }
    pthread_t thread;
    int error = pthread_create(&thread, &attributes, run, start);
    pthread_attr_destroy(&attributes);
    if (error != 0) free(start);
    return error;
}
