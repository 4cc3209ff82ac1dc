#ifndef GANTRY_THREADS_H
#define GANTRY_THREADS_H

/* Starts `body(argument)` on a new detached thread, first placed on a CPU
 * other than the caller's, then free to run anywhere the process may.
 * Returns 0, or an errno value when no thread could be made. */
int gantry_thread_start_elsewhere(void *(*body)(void *), void *argument);

#endif
