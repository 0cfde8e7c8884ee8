/* PNG decode and encode through libpng's classic API.
 * libpng signals errors by calling our error function, which must not return: it longjmps back to
 * the setjmp in the calling function, where we free what was allocated and return a code. */
#include "CImageCodecs.h"
#include "common.h"
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>

/* ---- error plumbing shared by reader and writer ---- */

/* Where the error function writes libpng's message: straight into the caller's buffer. The box is
 * filled before setjmp and never changed afterwards, so it stays valid after the longjmp. */
struct png_errbox { char *err; size_t errlen; };

static void on_png_error(png_structp png, png_const_charp msg) {
    struct png_errbox *box = (struct png_errbox *)png_get_error_ptr(png);
    cimg_set_error(box->err, box->errlen, msg);
    png_longjmp(png, 1);
}

/* Warnings (e.g. "iCCP: known incorrect sRGB profile") are harmless for training data: keep stderr quiet. */
static void on_png_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

/* ---- decoding from memory ---- */

struct png_source { const unsigned char *data; size_t len, pos; };

static void read_from_memory(png_structp png, png_bytep dst, png_size_t n) {
    struct png_source *src = (struct png_source *)png_get_io_ptr(png);
    if (n > src->len - src->pos) png_error(png, "file ends in the middle of the PNG data");
    memcpy(dst, src->data + src->pos, n);
    src->pos += n;
}

int cimg_decode_png(const unsigned char *data, size_t len, int channels,
                    unsigned char **out, int *width, int *height, int *out_channels,
                    char *err, size_t errlen) {
    *out = NULL;
    if (channels != 0 && channels != 1 && channels != 3) {
        cimg_set_error(err, errlen, "requested channel count must be 0, 1 or 3");
        return 1;
    }
    if (len < 8 || png_sig_cmp(data, 0, 8) != 0) {
        cimg_set_error(err, errlen, "not a PNG file (bad signature)");
        return 2;
    }
    cimg_set_error(err, errlen, "libpng failed without a message");
    struct png_errbox box = { err, errlen };
    struct png_source src = { data, len, 0 };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &box, on_png_error, on_png_warning);
    if (png == NULL) { cimg_set_error(err, errlen, "libpng could not allocate a reader"); return 3; }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        cimg_set_error(err, errlen, "libpng could not allocate an info struct");
        return 3;
    }
    /* volatile: assigned after setjmp and read again after a longjmp. */
    unsigned char *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(rows);
        return 4;
    }
    png_set_read_fn(png, &src, read_from_memory);
    png_read_info(png, info);

    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color_type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    int has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    int is_colour = (color_type & PNG_COLOR_MASK_COLOR) != 0;
    int want = channels == 0 ? (is_colour ? 3 : 1) : channels;
    if ((size_t)w * (size_t)h * 3 > CIMG_MAX_SAMPLES) {
        char msg[160];
        cimg_describe_too_large(msg, sizeof msg, w, h);
        png_error(png, msg);   /* before any pixel buffer exists: only the header has been read */
    }

    /* Normalise every flavour to 8-bit grey or RGB without alpha ("strip" semantics: no
     * compositing, no gamma), so a pixel value is what the file stores. */
    if (depth == 16) png_set_strip_16(png);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (has_trns) png_set_tRNS_to_alpha(png);
    if ((color_type & PNG_COLOR_MASK_ALPHA) || has_trns) png_set_strip_alpha(png);
    if (want == 3 && !is_colour) png_set_gray_to_rgb(png);
    /* BT.601 weights in units of 1/100000 (blue is the remainder): the same luma libjpeg uses. */
    if (want == 1 && is_colour) png_set_rgb_to_gray_fixed(png, 1, 29900, 58700);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    size_t stride = png_get_rowbytes(png, info);
    if (stride != (size_t)w * (size_t)want) png_error(png, "unexpected row size after conversion");
    pixels = malloc(stride * h);
    rows = malloc(sizeof(png_bytep) * h);
    if (pixels == NULL || rows == NULL) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = pixels + (size_t)y * stride;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    if (err && errlen) err[0] = '\0';
    *out = pixels;
    *width = (int)w;
    *height = (int)h;
    *out_channels = want;
    return 0;
}

/* ---- encoding into a growing memory buffer ---- */

struct png_sink { unsigned char *data; size_t len, cap; };

static void write_to_memory(png_structp png, png_bytep src, png_size_t n) {
    struct png_sink *sink = (struct png_sink *)png_get_io_ptr(png);
    if (n > sink->cap - sink->len) {
        size_t cap = sink->cap ? sink->cap : 4096;
        while (n > cap - sink->len) cap *= 2;
        unsigned char *grown = realloc(sink->data, cap);
        if (grown == NULL) png_error(png, "out of memory");
        sink->data = grown;
        sink->cap = cap;
    }
    memcpy(sink->data + sink->len, src, n);
    sink->len += n;
}

static void flush_nothing(png_structp png) { (void)png; }

int cimg_encode_png(const unsigned char *pixels, int width, int height, int channels,
                    unsigned char **out, size_t *outlen, char *err, size_t errlen) {
    *out = NULL;
    *outlen = 0;
    if (channels != 1 && channels != 3) { cimg_set_error(err, errlen, "channels must be 1 or 3"); return 1; }
    if (width <= 0 || height <= 0) { cimg_set_error(err, errlen, "width and height must be positive"); return 1; }
    cimg_set_error(err, errlen, "libpng failed without a message");
    struct png_errbox box = { err, errlen };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &box, on_png_error, on_png_warning);
    if (png == NULL) { cimg_set_error(err, errlen, "libpng could not allocate a writer"); return 3; }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        cimg_set_error(err, errlen, "libpng could not allocate an info struct");
        return 3;
    }
    /* On the heap: the sink's fields change while libpng writes, and automatic variables changed
     * between setjmp and longjmp are indeterminate afterwards; this pointer itself never changes. */
    struct png_sink *sink = calloc(1, sizeof *sink);
    if (sink == NULL) {
        png_destroy_write_struct(&png, &info);
        cimg_set_error(err, errlen, "out of memory");
        return 3;
    }
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(sink->data);
        free(sink);
        free(rows);
        return 4;
    }
    png_set_write_fn(png, sink, write_to_memory, flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (rows == NULL) png_error(png, "out of memory");
    size_t stride = (size_t)width * (size_t)channels;
    for (int y = 0; y < height; y++) rows[y] = (png_bytep)(pixels + (size_t)y * stride);
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);

    png_destroy_write_struct(&png, &info);
    free(rows);
    *out = sink->data;
    *outlen = sink->len;
    free(sink);
    if (err && errlen) err[0] = '\0';
    return 0;
}

void cimg_free(void *p) { free(p); }
