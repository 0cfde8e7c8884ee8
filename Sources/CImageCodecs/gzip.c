/* gzip (RFC 1952) decompression and compression through zlib, all in memory. */
#include "CImageCodecs.h"
#include "common.h"
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

/* zlib's avail_in/avail_out are 32-bit: feed and drain at most this much per call. */
#define CHUNK_LIMIT ((size_t)1 << 30)

/* DEFLATE's largest expansion: a 258-byte match coded in 2 bits, i.e. about 1032 output bytes per input byte. */
#define MAX_DEFLATE_RATIO ((size_t)1032)

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

int cimg_gunzip(const unsigned char *data, size_t len, size_t max_out,
                unsigned char **out, size_t *outlen, char *err, size_t errlen) {
    *out = NULL;
    *outlen = 0;
    if (len < 18 || data[0] != 0x1f || data[1] != 0x8b) {
        cimg_set_error(err, errlen, "not gzip data (missing the 1f 8b signature or shorter than a gzip header and trailer)");
        return 1;
    }
    /* The trailer's ISIZE (size mod 2^32 of the last member) is a good first guess for one-member
     * files; it is only a hint, since the buffer grows as needed and never past max_out. A corrupt or
     * hostile trailer can claim 4 GiB on a 20-byte file (found by fuzzing: a 2.3 GB malloc), and
     * DEFLATE expands at most 1032:1, so a hint beyond that bound is ignored. */
    size_t hint = (size_t)data[len - 4] | (size_t)data[len - 3] << 8 | (size_t)data[len - 2] << 16 | (size_t)data[len - 1] << 24;
    size_t most = len > SIZE_MAX / MAX_DEFLATE_RATIO ? SIZE_MAX : len * MAX_DEFLATE_RATIO;
    size_t cap = min_size(hint < 65536 || hint > most ? 65536 : hint + 1, max_out + 1);
    unsigned char *buf = malloc(cap);
    if (buf == NULL) { cimg_set_error(err, errlen, "out of memory"); return 3; }

    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {   /* 16+: expect a gzip wrapper */
        free(buf);
        cimg_set_error(err, errlen, "zlib could not start inflating");
        return 3;
    }
    size_t in_pos = 0, produced = 0;
    int rc = Z_OK;
    for (;;) {
        if (produced == cap) {
            if (cap > max_out) { rc = Z_MEM_ERROR; cimg_set_error(err, errlen, "decompressed data exceeds the size limit"); break; }
            size_t grown_cap = min_size(cap * 2, max_out + 1);
            unsigned char *grown = realloc(buf, grown_cap);
            if (grown == NULL) { rc = Z_MEM_ERROR; cimg_set_error(err, errlen, "out of memory"); break; }
            buf = grown;
            cap = grown_cap;
        }
        size_t in_chunk = min_size(len - in_pos, CHUNK_LIMIT), out_chunk = min_size(cap - produced, CHUNK_LIMIT);
        zs.next_in = (Bytef *)(data + in_pos);
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = buf + produced;
        zs.avail_out = (uInt)out_chunk;
        rc = inflate(&zs, Z_NO_FLUSH);
        in_pos += in_chunk - zs.avail_in;
        produced += out_chunk - zs.avail_out;
        if (rc == Z_STREAM_END) {
            /* Another member follows (as `cat a.gz b.gz` makes): continue into it. */
            if (len - in_pos >= 2 && data[in_pos] == 0x1f && data[in_pos + 1] == 0x8b) {
                inflateReset(&zs);
                continue;
            }
            break;
        }
        if (rc == Z_BUF_ERROR && in_pos == len && zs.avail_out > 0) {
            cimg_set_error(err, errlen, "gzip data ends before the end of the compressed stream (truncated file)");
            break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            cimg_set_error(err, errlen, zs.msg ? zs.msg : "corrupt gzip data");
            break;
        }
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        return 4;
    }
    if (produced > max_out) {
        free(buf);
        cimg_set_error(err, errlen, "decompressed data exceeds the size limit");
        return 4;
    }
    if (err && errlen) err[0] = '\0';
    *out = buf;
    *outlen = produced;
    return 0;
}

int cimg_gzip(const unsigned char *data, size_t len, int level,
              unsigned char **out, size_t *outlen, char *err, size_t errlen) {
    *out = NULL;
    *outlen = 0;
    if (len > CHUNK_LIMIT) { cimg_set_error(err, errlen, "input larger than 1 GiB"); return 1; }
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        cimg_set_error(err, errlen, "zlib could not start deflating (bad level?)");
        return 1;
    }
    size_t cap = deflateBound(&zs, (uLong)len);
    unsigned char *buf = malloc(cap);
    if (buf == NULL) { deflateEnd(&zs); cimg_set_error(err, errlen, "out of memory"); return 3; }
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)len;
    zs.next_out = buf;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);   /* deflateBound guarantees one call suffices */
    size_t produced = cap - zs.avail_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        cimg_set_error(err, errlen, "zlib could not finish deflating");
        return 4;
    }
    if (err && errlen) err[0] = '\0';
    *out = buf;
    *outlen = produced;
    return 0;
}
