/*  dlb_web: the dashboard server of dlb-web (see main.c and README.md,
    "Dashboard and metrics").

    A poller (the caller's thread, in dlb_web_run) asks every attached
    node for its `status` and its `events` every DLB_WEB_PERIOD through the
    node's control socket (dlb_client), keeps a bounded history and event
    list, and publishes one "tick" per round. libmicrohttpd's threads serve
    the page, /api/status, /api/stream (Server-Sent Events), /metrics and
    the POST commands, which go to the nodes through their own control
    sockets. The poller and the HTTP threads share one state guarded by
    one mutex (libmicrohttpd calls back in its own threads, so the house
    rule of messages between threads would need a socket per connection
    here; the lock is held only to copy or swap snapshots, never across a
    request to a node).                                                  */
#ifndef DLB_WEB_H_INCLUDED
#define DLB_WEB_H_INCLUDED

#include "dlb_client.h"

#define DLB_WEB_PERIOD         500   //  msecs between polls of every node
#define DLB_WEB_TIMEOUT        5.0   //  secs, default wait for each node's answer
#define DLB_WEB_SOURCES_MAX    32    //  --node options
#define DLB_WEB_NODES_MAX      64    //  nodes in the view (metrics, history)
#define DLB_WEB_HISTORY        720   //  samples kept (6 min at DLB_WEB_PERIOD)
#define DLB_WEB_EVENTS         10000 //  events kept
#define DLB_WEB_EVENTS_PAGE    2000  //  events a page gets when it connects
#define DLB_WEB_EVENTS_ASK     500   //  events asked of a node per poll
#define DLB_WEB_EVENTS_RETRY   10000 //  msecs before asking again a node without `events`
#define DLB_WEB_BODY_MAX       8192  //  bytes of a POST body
#define DLB_WEB_CONNECTIONS    64    //  HTTP connections at once
#define DLB_WEB_IDLE           30    //  secs before an idle connection is closed
#define DLB_WEB_KEEPALIVE      10000 //  msecs between SSE comments when nothing changes
#define DLB_WEB_TOKEN_BYTES    24    //  random bytes of a generated token
#define DLB_WEB_TOKEN_MAX      256   //  bytes of a token with NUL
#define DLB_WEB_DEFAULT_LISTEN "127.0.0.1:7180"

typedef struct dlb_web_t dlb_web_t;

typedef struct {
    dlb_client_t *nodes; //  the --node clients, ready; the first is attached
    size_t node_count;
    const char *listen; //  ADDR:PORT
    const char *token;  //  required login token, or NULL
    double timeout;     //  secs per request to a node
} dlb_web_options_t;

//  Starts the HTTP server on options->listen and prints the address it
//  bound ("dlb-web: serving http://ADDR:PORT/"). Returns the server, or
//  NULL with the reason in err (the address is bad or taken).
dlb_web_t *dlb_web_new (const dlb_web_options_t *options, char *err, size_t size);

//  Polls the nodes until *stop is set (by a signal handler). Cannot fail.
void dlb_web_run (dlb_web_t *self, volatile int *stop);

//  Stops the server, ends its streams, frees it and nulls *self_p.
void dlb_web_destroy (dlb_web_t **self_p);

//  True if text names a loopback address (127.0.0.0/8, ::1, localhost).
bool dlb_web_is_loopback (const char *host);

//  Compares two tokens in time that depends only on their lengths.
bool dlb_web_token_equal (const char *a, const char *b);

#endif
