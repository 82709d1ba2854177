/*  dlb_client: a client of a node's control socket (proto/README.md 7.3),
    shared by dlbctl and dlb-web.

    A client is the node's endpoint, the node's public key and this user's
    key pair (or no keys, for a node started with --insecure), gathered from
    options, the environment or a node file (what dlb-cluster up writes):
        node
            control = "tcp://HOST:PORT"
            key = "PATH"          the node's public cert
            client-key = "PATH"   the cert of the key to use (optional)
    A request opens a fresh REQ socket (linger 0), sends one COMMAND and
    waits at most `timeout` for the REPLY; a refused CURVE handshake ends it
    at once with a reason that says which of the three refusals happened.
    A client that asks again and again (dlbctl wait, dlb-web) keeps one
    connection instead (dlb_client_request_on): one handshake, not one per
    request, for the node's monitor to pay. Every function is safe to call
    from several threads at once, each with connections of its own.       */
#ifndef DLB_CLIENT_H_INCLUDED
#define DLB_CLIENT_H_INCLUDED

#include "dlb_config.h"
#include "dlb_proto.h"

#include <stdio.h>

#define DLB_CLIENT_KEY_Z85    41 //  bytes of a Z85 CURVE key with NUL
#define DLB_CLIENT_JSON_DEPTH 64 //  nesting deeper than this prints null
#define DLB_CLIENT_STR_(x)    #x
#define DLB_CLIENT_STR(x)     DLB_CLIENT_STR_ (x)
//  Where dlbctl and dlb-web look for a node without --node or DLB_CONTROL.
#define DLB_CLIENT_DEFAULT_ENDPOINT "tcp://127.0.0.1:" DLB_CLIENT_STR (DLB_DEFAULT_PORT)
#define DLB_CLIENT_ERROR_MAX        1280 //  bytes, the reasons requests give, with NUL

typedef struct {
    const char *endpoint_text;   //  as given (--node, DLB_CONTROL or the default)
    const char *endpoint_source; //  where it came from, for messages
    const char *timeout_text;    //  --timeout as given, NULL for the default
    const char *key_text;        //  --key / DLB_KEY: this user's cert, or NULL
    const char *node_key_text;   //  --node-key / DLB_NODE_KEY: the node's cert, or NULL
    char endpoint[DLB_TEXT_MAX]; //  normalised: tcp://HOST:PORT or another URL
    double timeout;              //  secs
    char node_key[DLB_CLIENT_KEY_Z85]; //  the node's public key (Z85), "" for none
    char public_key[DLB_CLIENT_KEY_Z85], secret_key[DLB_CLIENT_KEY_Z85]; //  this user's
    char key_path[DLB_TEXT_MAX];  //  where the pair came from
    char node_file[DLB_TEXT_MAX]; //  the node file --node named, "" if none
    //  Storage for the texts a node file names (endpoint_text, key_text and
    //  node_key_text point here once dlb_client_node_file has read one).
    char file_endpoint[DLB_TEXT_MAX], file_node_key[DLB_TEXT_MAX],
        file_client_key[DLB_TEXT_MAX];
} dlb_client_t;

//  Normalises an endpoint: a URL (anything with "://") is kept, HOST:PORT
//  becomes tcp://HOST:PORT. Returns 0, or -1 if it is neither.
int dlb_client_normalise_endpoint (const char *text, char *buf, size_t size);

//  PATH, relative to the directory of FILE if it is relative. Cannot fail
//  (truncates).
void dlb_client_path_beside (const char *file, const char *path, char *buf, size_t size);

//  Reads a node file into client: its endpoint, and its keys unless the
//  client has them already. Returns 0, or -1 with the reason in err.
int dlb_client_node_file (dlb_client_t *self, const char *file, char *err, size_t size);

//  This user's default key: $XDG_CONFIG_HOME/dlb/client.cert, else
//  ~/.config/dlb/client.cert. Cannot fail (truncates).
void dlb_client_default_key (char *buf, size_t size);

//  Gets the client ready once its texts are set: reads endpoint_text as a
//  node file if it names one, normalises the endpoint, loads the keys.
//  Returns 0; -1 with the reason in err if the endpoint or node file is
//  wrong (a usage error); -2 with the reason in err if the keys cannot be
//  used. The timeout is left to the caller.
int dlb_client_ready (dlb_client_t *self, char *err, size_t size);

//  Sends the request (consumed in every case) and waits for the answer.
//  Returns 0 with a REPLY whose ok is true in *reply (release it with
//  dlb_msg_release); -1 with the reason in err (nothing to release) if
//  there was no answer in time, a refused handshake or a malformed
//  answer; -2 with "ENDPOINT refused: REASON" in err and the node's own
//  reason in refusal (if not NULL) when the node answered ok:false.
int dlb_client_request (const dlb_client_t *self, dlb_writer_t *request, dlb_msg_t *reply,
                        char *err, size_t size, char *refusal, size_t refusal_size);

//  A connection to a node, kept across requests. Zero it before the first.
typedef struct {
    zsock_t *socket; //  REQ, NULL until the first request
    zsock_t *watch;  //  the handshake monitor's PAIR, or NULL
} dlb_client_conn_t;

//  As dlb_client_request, on conn: it is opened by the first request and
//  kept while requests get answers; a request with no answer (-1) closes
//  it, and the next opens it anew. With conn NULL, the request has a
//  connection of its own (dlb_client_request).
int dlb_client_request_on (const dlb_client_t *self, dlb_client_conn_t *conn,
                           dlb_writer_t *request, dlb_msg_t *reply, char *err,
                           size_t size, char *refusal, size_t refusal_size);

//  Closes conn (if open). Cannot fail.
void dlb_client_close (dlb_client_conn_t *conn);

//  Prints a JSON string of the bytes: quotes, backslashes and control
//  characters escaped; invalid UTF-8 becomes U+FFFD. Cannot fail.
void dlb_client_json_string (FILE *out, const char *text, size_t size);

//  Prints a double with the fewest digits that read back the same, null if
//  not finite. Cannot fail.
void dlb_client_json_double (FILE *out, double value);

//  Prints any msgpack object as JSON: bins as hex strings, extensions as
//  null, nesting deeper than DLB_CLIENT_JSON_DEPTH as null. Cannot fail.
void dlb_client_json (FILE *out, const msgpack_object *o);

//  Self-test.
void dlb_client_test (bool verbose);

#endif
