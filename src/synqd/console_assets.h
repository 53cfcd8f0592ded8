/*
 * console_assets: the console page's files, compiled into synqd. console_assets.c is generated
 * at build time from src/synqd/console/ by cmake/embed-files.cmake (a C array per file), so the
 * binary serves the page with nothing to install and nothing fetched at run time.
 */
#ifndef SYNQ_SYNQD_CONSOLE_ASSETS_H
#define SYNQ_SYNQD_CONSOLE_ASSETS_H

#include <stddef.h>

typedef struct console_asset {
    const char *path;         /* "/index.html", "/console.js", ... */
    const char *content_type; /* from the file's extension */
    const unsigned char *data;
    size_t len;
} console_asset;

extern const console_asset console_assets[];
extern const size_t console_asset_count;

#endif
