#ifndef GANTRY_CCURL_SHIM_H
#define GANTRY_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic; Swift imports neither.
   One typed wrapper per argument type. */
static inline CURLcode gantry_curl_setopt_long(CURL *h, CURLoption o, long v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode gantry_curl_setopt_string(CURL *h, CURLoption o, const char *v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode gantry_curl_setopt_pointer(CURL *h, CURLoption o, void *v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode gantry_curl_setopt_off_t(CURL *h, CURLoption o, curl_off_t v) {
    return curl_easy_setopt(h, o, v);
}
typedef size_t (*gantry_curl_data_callback)(char *, size_t, size_t, void *);
static inline CURLcode gantry_curl_setopt_write_function(CURL *h, gantry_curl_data_callback f) {
    return curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, f);
}
static inline CURLcode gantry_curl_setopt_header_function(CURL *h, gantry_curl_data_callback f) {
    return curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, f);
}
static inline CURLcode gantry_curl_setopt_read_function(CURL *h, gantry_curl_data_callback f) {
    return curl_easy_setopt(h, CURLOPT_READFUNCTION, f);
}
static inline CURLcode gantry_curl_getinfo_long(CURL *h, CURLINFO i, long *v) {
    return curl_easy_getinfo(h, i, v);
}
static inline CURLcode gantry_curl_getinfo_double(CURL *h, CURLINFO i, double *v) {
    return curl_easy_getinfo(h, i, v);
}
static inline CURLcode gantry_curl_global_init(void) {
    return curl_global_init(CURL_GLOBAL_ALL);
}
static inline curl_version_info_data *gantry_curl_version_info(void) {
    return curl_version_info(CURLVERSION_NOW);
}
#endif
