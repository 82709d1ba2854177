/*  dlb_web_assets: the page's files (tools/web/page/), embedded at build
    time by embed.cmake into the generated dlb_web_assets.c.             */
#ifndef DLB_WEB_ASSETS_H_INCLUDED
#define DLB_WEB_ASSETS_H_INCLUDED

#include <stddef.h>

typedef struct {
    const char *path; //  URL path, "/index.html"
    const char *type; //  Content-Type
    const unsigned char *data;
    size_t size;
} dlb_web_asset_t;

//  Ends with an entry whose path is NULL.
extern const dlb_web_asset_t dlb_web_assets[];

#endif
