#ifndef GANTRY_CCURL_SHIM_H
#define GANTRY_CCURL_SHIM_H
/* libcurl's declarations only: the library itself is loaded on first use
   (see CCurlLoader), so nothing here is linked. */
#include <curl/curl.h>
#endif
