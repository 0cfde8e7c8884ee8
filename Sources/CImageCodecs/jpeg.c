/* JPEG decode and encode through libjpeg (libjpeg-turbo on Debian).
 * libjpeg's default error_exit prints and calls exit(): one corrupt file would end the trainer.
 * Our error manager formats the message into the caller's buffer and longjmps back to the setjmp
 * in the calling function instead. */
#include "CImageCodecs.h"
#include "common.h"
#include <stdio.h>   /* jpeglib.h uses FILE and size_t without including this */
#include <jpeglib.h>
#include <jerror.h>  /* ERREXIT, JERR_OUT_OF_MEMORY */
#include <setjmp.h>
#include <stdlib.h>

struct jpeg_trap {
    struct jpeg_error_mgr mgr;   /* first member: libjpeg hands us a pointer to it */
    jmp_buf escape;
    char *err;
    size_t errlen;
};

static void on_jpeg_error(j_common_ptr cinfo) {
    struct jpeg_trap *trap = (struct jpeg_trap *)cinfo->err;
    char msg[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, msg);
    cimg_set_error(trap->err, trap->errlen, msg);
    longjmp(trap->escape, 1);
}

/* Keeps libjpeg's current message in the caller's buffer (and stderr quiet). As output_message it
 * serves the encoder, for which libjpeg reports the first warning and carries on. */
static void on_jpeg_message(j_common_ptr cinfo) {
    struct jpeg_trap *trap = (struct jpeg_trap *)cinfo->err;
    char msg[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, msg);
    cimg_set_error(trap->err, trap->errlen, msg);
}

/* The decoder's emit_message. libjpeg's warnings (msg_level -1) are all about damaged data
 * ("Premature end of JPEG file", "Corrupt JPEG data: ..."), after which it would fill the missing
 * part with grey and carry on. A training image with a grey hole is wrong data, so the first warning
 * fails the decode, at once: carrying on would decode the rest of a corrupt stream for nothing (a
 * hostile file can make libjpeg pad megapixels of grey after a few bytes of data). Trace messages
 * (levels >= 0) are ignored, as libjpeg's default does at trace_level 0. */
static void on_jpeg_decode_message(j_common_ptr cinfo, int msg_level) {
    if (msg_level >= 0) return;
    on_jpeg_message(cinfo);
    longjmp(((struct jpeg_trap *)cinfo->err)->escape, 1);
}

static struct jpeg_error_mgr *install_trap(struct jpeg_trap *trap, char *err, size_t errlen) {
    struct jpeg_error_mgr *mgr = jpeg_std_error(&trap->mgr);
    trap->mgr.error_exit = on_jpeg_error;
    trap->mgr.output_message = on_jpeg_message;
    trap->err = err;
    trap->errlen = errlen;
    return mgr;
}

int cimg_decode_jpeg(const unsigned char *data, size_t len, int channels,
                     unsigned char **out, int *width, int *height, int *out_channels,
                     char *err, size_t errlen) {
    *out = NULL;
    if (channels != 0 && channels != 1 && channels != 3) {
        cimg_set_error(err, errlen, "requested channel count must be 0, 1 or 3");
        return 1;
    }
    if (len == 0) { cimg_set_error(err, errlen, "empty file"); return 2; }
    struct jpeg_decompress_struct cinfo;
    struct jpeg_trap trap;
    unsigned char *volatile pixels = NULL;   /* assigned after setjmp, freed after a longjmp */
    cinfo.err = install_trap(&trap, err, errlen);
    trap.mgr.emit_message = on_jpeg_decode_message;
    if (setjmp(trap.escape)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return 4;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    int is_grey = cinfo.jpeg_color_space == JCS_GRAYSCALE;
    int want = channels == 0 ? (is_grey ? 1 : 3) : channels;
    /* The size check comes before jpeg_start_decompress, which allocates libjpeg's buffers: for a
     * progressive file, the whole image's DCT coefficients, 2 bytes per sample of every component
     * (the file's components, which can outnumber the channels we produce). */
    size_t w = cinfo.image_width, h = cinfo.image_height;
    size_t per_pixel = (size_t)(cinfo.num_components > want ? cinfo.num_components : want);
    if (w * h * per_pixel > CIMG_MAX_SAMPLES) {
        cimg_describe_too_large(err, errlen, (unsigned long)w, (unsigned long)h);
        jpeg_destroy_decompress(&cinfo);
        return 4;
    }
    /* libjpeg produces grey from colour by keeping the Y of YCbCr: BT.601 luma. */
    cinfo.out_color_space = want == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != want || cinfo.output_width != w || cinfo.output_height != h) {
        cimg_set_error(err, errlen, "libjpeg produced an unexpected size or channel count");
        jpeg_destroy_decompress(&cinfo);
        return 4;
    }
    size_t stride = w * (size_t)want;
    pixels = malloc(stride * h);
    if (pixels == NULL) {
        cimg_set_error(err, errlen, "out of memory");
        jpeg_destroy_decompress(&cinfo);
        return 3;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (err && errlen) err[0] = '\0';
    *out = pixels;
    *width = (int)w;
    *height = (int)h;
    *out_channels = want;
    return 0;
}

/* A destination manager that grows one malloc'ed buffer. Its state lives on the heap so that it
 * is still valid after a longjmp (automatic variables changed after setjmp would not be). */
struct jpeg_sink {
    struct jpeg_destination_mgr mgr;   /* first member: libjpeg hands us a pointer to it */
    unsigned char *data;
    size_t cap;
};

static void sink_init(j_compress_ptr cinfo) {
    struct jpeg_sink *sink = (struct jpeg_sink *)cinfo->dest;
    sink->mgr.next_output_byte = sink->data;
    sink->mgr.free_in_buffer = sink->cap;
}

static boolean sink_grow(j_compress_ptr cinfo) {
    /* Called when the buffer is full: libjpeg has written all `cap` bytes. */
    struct jpeg_sink *sink = (struct jpeg_sink *)cinfo->dest;
    size_t used = sink->cap;
    unsigned char *grown = realloc(sink->data, sink->cap * 2);
    if (grown == NULL) ERREXIT(cinfo, JERR_OUT_OF_MEMORY);
    sink->data = grown;
    sink->cap *= 2;
    sink->mgr.next_output_byte = grown + used;
    sink->mgr.free_in_buffer = sink->cap - used;
    return TRUE;
}

static void sink_term(j_compress_ptr cinfo) { (void)cinfo; }

int cimg_encode_jpeg(const unsigned char *pixels, int width, int height, int channels,
                     int quality, unsigned char **out, size_t *outlen, char *err, size_t errlen) {
    *out = NULL;
    *outlen = 0;
    if (channels != 1 && channels != 3) { cimg_set_error(err, errlen, "channels must be 1 or 3"); return 1; }
    if (width <= 0 || height <= 0) { cimg_set_error(err, errlen, "width and height must be positive"); return 1; }
    if (quality < 1 || quality > 100) { cimg_set_error(err, errlen, "quality must be in 1...100"); return 1; }
    struct jpeg_sink *sink = calloc(1, sizeof *sink);
    if (sink == NULL) { cimg_set_error(err, errlen, "out of memory"); return 3; }
    sink->cap = 16384;
    sink->data = malloc(sink->cap);
    if (sink->data == NULL) { free(sink); cimg_set_error(err, errlen, "out of memory"); return 3; }
    sink->mgr.init_destination = sink_init;
    sink->mgr.empty_output_buffer = sink_grow;
    sink->mgr.term_destination = sink_term;

    struct jpeg_compress_struct cinfo;
    struct jpeg_trap trap;
    cinfo.err = install_trap(&trap, err, errlen);
    if (setjmp(trap.escape)) {
        jpeg_destroy_compress(&cinfo);
        free(sink->data);
        free(sink);
        return 4;
    }
    jpeg_create_compress(&cinfo);
    cinfo.dest = &sink->mgr;
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = channels;
    cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * (size_t)channels;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * stride);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    size_t written = sink->cap - sink->mgr.free_in_buffer;
    jpeg_destroy_compress(&cinfo);
    if (err && errlen) err[0] = '\0';
    *out = sink->data;
    *outlen = written;
    free(sink);
    return 0;
}
