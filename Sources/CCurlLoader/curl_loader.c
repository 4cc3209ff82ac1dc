#include "curl_loader.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

/* The soname of libcurl's current ABI (libcurl4 on Debian). */
#define LIBCURL "libcurl.so.4"

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    CURLcode (*easy_perform)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    curl_version_info_data *(*version_info)(CURLversion);
} api;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char error[512];
static int loaded;

static void load(void) {
    void *lib = dlopen(LIBCURL, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        snprintf(error, sizeof error, "cannot load %s: %s", LIBCURL, dlerror());
        return;
    }
#define BIND(field, symbol)                                                          \
    do {                                                                             \
        *(void **)(&api.field) = dlsym(lib, symbol);                                 \
        if (api.field == NULL) {                                                     \
            snprintf(error, sizeof error, "%s has no %s", LIBCURL, symbol);          \
            return;                                                                  \
        }                                                                            \
    } while (0)
    BIND(global_init, "curl_global_init");
    BIND(easy_init, "curl_easy_init");
    BIND(easy_cleanup, "curl_easy_cleanup");
    BIND(easy_reset, "curl_easy_reset");
    BIND(easy_perform, "curl_easy_perform");
    BIND(easy_strerror, "curl_easy_strerror");
    BIND(easy_setopt, "curl_easy_setopt");
    BIND(easy_getinfo, "curl_easy_getinfo");
    BIND(slist_append, "curl_slist_append");
    BIND(slist_free_all, "curl_slist_free_all");
    BIND(version_info, "curl_version_info");
#undef BIND
    loaded = 1;
}

static int ready(void) {
    pthread_once(&once, load);
    return loaded;
}

const char *gantry_curl_load_error(void) { return ready() ? NULL : error; }

CURLcode gantry_curl_global_init(void) { return ready() ? api.global_init(CURL_GLOBAL_ALL) : CURLE_FAILED_INIT; }
CURL *gantry_curl_easy_init(void) { return ready() ? api.easy_init() : NULL; }
void gantry_curl_easy_cleanup(CURL *h) { if (ready()) api.easy_cleanup(h); }
void gantry_curl_easy_reset(CURL *h) { if (ready()) api.easy_reset(h); }
CURLcode gantry_curl_easy_perform(CURL *h) { return ready() ? api.easy_perform(h) : CURLE_FAILED_INIT; }
const char *gantry_curl_easy_strerror(CURLcode code) { return ready() ? api.easy_strerror(code) : error; }
struct curl_slist *gantry_curl_slist_append(struct curl_slist *list, const char *line) {
    return ready() ? api.slist_append(list, line) : NULL;
}
void gantry_curl_slist_free_all(struct curl_slist *list) { if (ready()) api.slist_free_all(list); }
curl_version_info_data *gantry_curl_version_info(void) { return ready() ? api.version_info(CURLVERSION_NOW) : NULL; }

CURLcode gantry_curl_setopt_long(CURL *h, CURLoption o, long v) { return ready() ? api.easy_setopt(h, o, v) : CURLE_FAILED_INIT; }
CURLcode gantry_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return ready() ? api.easy_setopt(h, o, v) : CURLE_FAILED_INIT; }
CURLcode gantry_curl_setopt_pointer(CURL *h, CURLoption o, void *v) { return ready() ? api.easy_setopt(h, o, v) : CURLE_FAILED_INIT; }
CURLcode gantry_curl_setopt_off_t(CURL *h, CURLoption o, curl_off_t v) { return ready() ? api.easy_setopt(h, o, v) : CURLE_FAILED_INIT; }
CURLcode gantry_curl_setopt_write_function(CURL *h, gantry_curl_data_callback f) {
    return ready() ? api.easy_setopt(h, CURLOPT_WRITEFUNCTION, f) : CURLE_FAILED_INIT;
}
CURLcode gantry_curl_setopt_header_function(CURL *h, gantry_curl_data_callback f) {
    return ready() ? api.easy_setopt(h, CURLOPT_HEADERFUNCTION, f) : CURLE_FAILED_INIT;
}
CURLcode gantry_curl_setopt_read_function(CURL *h, gantry_curl_data_callback f) {
    return ready() ? api.easy_setopt(h, CURLOPT_READFUNCTION, f) : CURLE_FAILED_INIT;
}
CURLcode gantry_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return ready() ? api.easy_getinfo(h, i, v) : CURLE_FAILED_INIT; }
CURLcode gantry_curl_getinfo_double(CURL *h, CURLINFO i, double *v) { return ready() ? api.easy_getinfo(h, i, v) : CURLE_FAILED_INIT; }
