#ifndef GANTRY_CURL_LOADER_H
#define GANTRY_CURL_LOADER_H
#include <curl/curl.h>

/*
 * libcurl, loaded the first time one of these is called rather than when the
 * process starts. libcurl pulls in some 25 libraries (TLS, Kerberos, LDAP,
 * IDN, compression), and loading them costs a short-lived command such as
 * `gantry data status` several milliseconds it does not need unless it
 * speaks HTTP.
 *
 * When libcurl cannot be loaded, gantry_curl_easy_init returns NULL, the
 * other calls fail with CURLE_FAILED_INIT, and gantry_curl_load_error says
 * why.
 */

/* NULL once libcurl is loaded (loading it if needed), else why it is not. */
const char *gantry_curl_load_error(void);

CURLcode gantry_curl_global_init(void);
CURL *gantry_curl_easy_init(void);
void gantry_curl_easy_cleanup(CURL *h);
void gantry_curl_easy_reset(CURL *h);
CURLcode gantry_curl_easy_perform(CURL *h);
const char *gantry_curl_easy_strerror(CURLcode code);
struct curl_slist *gantry_curl_slist_append(struct curl_slist *list, const char *line);
void gantry_curl_slist_free_all(struct curl_slist *list);
curl_version_info_data *gantry_curl_version_info(void);

/* curl_easy_setopt and curl_easy_getinfo are variadic; Swift imports neither.
   One typed wrapper per argument type. */
typedef size_t (*gantry_curl_data_callback)(char *, size_t, size_t, void *);
CURLcode gantry_curl_setopt_long(CURL *h, CURLoption o, long v);
CURLcode gantry_curl_setopt_string(CURL *h, CURLoption o, const char *v);
CURLcode gantry_curl_setopt_pointer(CURL *h, CURLoption o, void *v);
CURLcode gantry_curl_setopt_off_t(CURL *h, CURLoption o, curl_off_t v);
CURLcode gantry_curl_setopt_write_function(CURL *h, gantry_curl_data_callback f);
CURLcode gantry_curl_setopt_header_function(CURL *h, gantry_curl_data_callback f);
CURLcode gantry_curl_setopt_read_function(CURL *h, gantry_curl_data_callback f);
CURLcode gantry_curl_getinfo_long(CURL *h, CURLINFO i, long *v);
CURLcode gantry_curl_getinfo_double(CURL *h, CURLINFO i, double *v);

#endif
