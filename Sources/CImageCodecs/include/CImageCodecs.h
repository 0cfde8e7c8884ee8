#pragma once
#include <stddef.h>

/* Image and gzip codecs for the Datasets module: libpng, libjpeg and zlib behind plain return codes.
 *
 * Why a C target: libpng and libjpeg report errors by longjmp-ing out of the failing call, and
 * libjpeg's default handler calls exit(). Swift cannot call setjmp, so every call into those
 * libraries happens here, under a setjmp that turns the error into a return code and a message.
 *
 * Conventions, for every function below:
 *   - return 0 on success, nonzero on failure; on failure `err` (capacity `errlen`) holds a
 *     NUL-terminated message and no output buffer is left allocated;
 *   - on success `*out` is malloc'ed and owned by the caller (release with cimg_free);
 *   - pixels are interleaved, row-major: height x width x channels (HWC), 8 bits per sample. */

#ifdef __cplusplus
extern "C" {
#endif

/* Decoders. `channels` is the requested output: 1 = grey, 3 = RGB, 0 = the file's own
 * (1 for grey files, 3 for colour ones). The channel count produced is stored in *out_channels.
 * Colour to grey uses ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B), which is what libjpeg
 * does, so PNG and JPEG files of one dataset agree. Alpha is dropped; 16-bit samples keep
 * their high byte; palettes and 1/2/4-bit greys are expanded. */
int cimg_decode_png(const unsigned char *data, size_t len, int channels,
                    unsigned char **out, int *width, int *height, int *out_channels,
                    char *err, size_t errlen);
int cimg_decode_jpeg(const unsigned char *data, size_t len, int channels,
                     unsigned char **out, int *width, int *height, int *out_channels,
                     char *err, size_t errlen);

/* Encoders: 8-bit grey (channels 1) or RGB (channels 3). */
int cimg_encode_png(const unsigned char *pixels, int width, int height, int channels,
                    unsigned char **out, size_t *outlen, char *err, size_t errlen);
int cimg_encode_jpeg(const unsigned char *pixels, int width, int height, int channels,
                     int quality, unsigned char **out, size_t *outlen, char *err, size_t errlen);

/* gzip (RFC 1952) through zlib. Concatenated members are decompressed one after another.
 * Decompression refuses to produce more than `max_out` bytes, so a hostile file cannot
 * exhaust memory. */
int cimg_gunzip(const unsigned char *data, size_t len, size_t max_out,
                unsigned char **out, size_t *outlen, char *err, size_t errlen);
int cimg_gzip(const unsigned char *data, size_t len, int level,
              unsigned char **out, size_t *outlen, char *err, size_t errlen);

/* Releases a buffer returned by any function above. */
void cimg_free(void *p);

#ifdef __cplusplus
}
#endif
