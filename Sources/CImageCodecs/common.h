#pragma once
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Copies `msg` into the caller's error buffer, truncating and always NUL-terminating. */
static inline void cimg_set_error(char *err, size_t errlen, const char *msg) {
    if (err == NULL || errlen == 0) return;
    size_t n = strlen(msg);
    if (n >= errlen) n = errlen - 1;
    memcpy(err, msg, n);
    err[n] = '\0';
}

/* Largest image accepted by the decoders, in samples (width * height * channels): 2^28 = 256 MiB.
 * A corrupt header can claim 10^6 x 10^6 pixels; refusing it before malloc keeps a bad file a
 * clean error instead of an out-of-memory kill. */
#define CIMG_MAX_SAMPLES ((size_t)1 << 28)

/* The message for an image over CIMG_MAX_SAMPLES, naming its size. */
static inline void cimg_describe_too_large(char *msg, size_t len, unsigned long width, unsigned long height) {
    snprintf(msg, len, "image dimensions %lux%lu are too large (the limit is %lu samples, width x height x channels)",
             width, height, (unsigned long)CIMG_MAX_SAMPLES);
}
