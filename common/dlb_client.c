/*  dlb_client: a client of a node's control socket, shared by dlbctl and
    dlb-web (see dlb_client.h). The texts of its errors are dlbctl's, which
    tests/test_cli.sh and tests/test_auth.sh check.                       */
#include "dlb_client.h"
#include "dlb_keys.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DLB_CLIENT_REASON_MAX 256 //  bytes, a decoder's reason with NUL

//  Parses a port, 1..65535, digits only. Returns 0, or -1.
static int s_parse_port (const char *text)
{
    if (!*text || strlen (text) > 5)
        return -1;
    for (const char *c = text; *c; c++)
        if (*c < '0' || *c > '9')
            return -1;
    long port = strtol (text, NULL, 10);
    return port >= 1 && port <= 65535 ? 0 : -1;
}

int dlb_client_normalise_endpoint (const char *text, char *buf, size_t size)
{
    if (!*text || strpbrk (text, " \t\n"))
        return -1;
    if (strstr (text, "://")) {
        if (strlen (text) >= size)
            return -1;
        snprintf (buf, size, "%s", text);
        return 0;
    }
    const char *colon = strrchr (text, ':');
    if (!colon || colon == text || s_parse_port (colon + 1))
        return -1;
    if (strlen (text) + strlen ("tcp://") >= size)
        return -1;
    snprintf (buf, size, "tcp://%s", text);
    return 0;
}

void dlb_client_path_beside (const char *file, const char *path, char *buf, size_t size)
{
    const char *slash = strrchr (file, '/');
    if (*path == '/' || !slash)
        snprintf (buf, size, "%s", path);
    else
        snprintf (buf, size, "%.*s/%s", (int) (slash - file), file, path);
}

int dlb_client_node_file (dlb_client_t *self, const char *file, char *err, size_t size)
{
    zconfig_t *root = zconfig_load (file);
    const char *control = root ? zconfig_get (root, "node/control", "") : "";
    if (!*control) {
        snprintf (err, size, "%s is not a node file (no node/control in it)", file);
        zconfig_destroy (&root);
        return -1;
    }
    snprintf (self->file_endpoint, sizeof self->file_endpoint, "%s", control);
    self->endpoint_text = self->file_endpoint;
    const char *key = zconfig_get (root, "node/key", "");
    if (*key && !self->node_key_text) {
        dlb_client_path_beside (file, key, self->file_node_key,
                                sizeof self->file_node_key);
        self->node_key_text = self->file_node_key;
    }
    key = zconfig_get (root, "node/client-key", "");
    if (*key && !self->key_text) {
        dlb_client_path_beside (file, key, self->file_client_key,
                                sizeof self->file_client_key);
        self->key_text = self->file_client_key;
    }
    zconfig_destroy (&root);
    return 0;
}

void dlb_client_default_key (char *buf, size_t size)
{
    const char *config = getenv ("XDG_CONFIG_HOME"), *home = getenv ("HOME");
    if (config && *config)
        snprintf (buf, size, "%s/dlb/client.cert", config);
    else
        snprintf (buf, size, "%s/.config/dlb/client.cert", home && *home ? home : ".");
}

//  Loads the node's public key and, with it, this user's pair. Returns 0,
//  or -1 with the reason in err.
static int s_keys (dlb_client_t *self, char *err, size_t size)
{
    if (!self->node_key_text)
        return 0; //  no keys: a node started with --insecure
    zconfig_t *root = zconfig_load (self->node_key_text);
    const char *key = root ? zconfig_get (root, "curve/public-key", "") : "";
    if (strlen (key) == 40)
        snprintf (self->node_key, sizeof self->node_key, "%s", key);
    else if (strlen (self->node_key_text) == 40)
        snprintf (self->node_key, sizeof self->node_key, "%s", self->node_key_text);
    zconfig_destroy (&root);
    if (!*self->node_key) {
        snprintf (err, size, "--node-key '%s': not a node's public cert nor a key",
                  self->node_key_text);
        return -1;
    }
    if (self->key_text)
        snprintf (self->key_path, sizeof self->key_path, "%s", self->key_text);
    else
        dlb_client_default_key (self->key_path, sizeof self->key_path);
    char reason[DLB_TEXT_MAX * 2];
    zcert_t *cert = dlb_keys_load_secret (self->key_path, reason, sizeof reason);
    if (!cert) {
        snprintf (err, size,
                  "%s\n(the node takes commands only from trusted keys: make "
                  "yours with `dlbctl keygen --client`, then add its .cert to the "
                  "node's trusted keys; or give --key)",
                  reason);
        return -1;
    }
    snprintf (self->public_key, sizeof self->public_key, "%s", zcert_public_txt (cert));
    snprintf (self->secret_key, sizeof self->secret_key, "%s", zcert_secret_txt (cert));
    zcert_destroy (&cert);
    return 0;
}

int dlb_client_ready (dlb_client_t *self, char *err, size_t size)
{
    struct stat st;
    if (!strstr (self->endpoint_text, "://") && stat (self->endpoint_text, &st) == 0 &&
        S_ISREG (st.st_mode)) {
        char reason[DLB_TEXT_MAX * 2];
        snprintf (self->node_file, sizeof self->node_file, "%s", self->endpoint_text);
        if (dlb_client_node_file (self, self->endpoint_text, reason, sizeof reason)) {
            snprintf (err, size, "%s: %s", self->endpoint_source, reason);
            return -1;
        }
    }
    if (dlb_client_normalise_endpoint (self->endpoint_text, self->endpoint,
                                       sizeof self->endpoint)) {
        snprintf (err, size,
                  "%s '%s': expected tcp://HOST:PORT, HOST:PORT or a node file",
                  self->endpoint_source, self->endpoint_text);
        return -1;
    }
    return s_keys (self, err, size) ? -2 : 0;
}

//  Waits up to msecs for the answer on socket, or a failed handshake on
//  watch. Returns what dlb_msg_recv returns, or -3 if the handshake
//  failed (the reason in err).
static int s_receive (const dlb_client_t *self, zsock_t *socket, zsock_t *watch,
                      int msecs, dlb_msg_t *reply, char *reason, size_t reason_size,
                      char *err, size_t size)
{
    zpoller_t *poller = zpoller_new (socket, watch, NULL);
    void *which = zpoller_wait (poller, msecs);
    zpoller_destroy (&poller);
    if (which == socket)
        return dlb_msg_recv (socket, reply, reason, reason_size);
    if (!which) {
        errno = EAGAIN; //  zmq_errno () is errno: "no answer in time"
        return -1;
    }
    zframe_t *event = zframe_recv (watch);
    uint16_t id = 0;
    if (event && zframe_size (event) >= 2)
        memcpy (&id, zframe_data (event), 2);
    zframe_destroy (&event);
    if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        snprintf (err, size,
                  "%s refused the key %s: it is not among the node's trusted keys "
                  "(add %s to the trusted/ directory of the node's keys)",
                  self->endpoint, self->key_path, self->key_path);
    else if (!*self->node_key)
        snprintf (err, size,
                  "%s requires keys: give --node-key (the node's node.cert) and "
                  "--key, or a node file as --node",
                  self->endpoint);
    else
        snprintf (err, size,
                  "handshake with %s failed: the node there does not hold the key "
                  "of %s, or runs without keys (--insecure)",
                  self->endpoint, self->node_key_text);
    return -3;
}

//  Opens conn's REQ socket to the node, and the monitor of its handshake.
//  Returns 0, or -1 with the reason in err.
static int s_open (const dlb_client_t *self, dlb_client_conn_t *conn, char *err,
                   size_t size)
{
    //  Each connection's handshake monitor needs an inproc name of its own:
    //  requests may run in several threads at once (dlb-web).
    static atomic_uint connections;
    conn->socket = zsock_new (ZMQ_REQ);
    if (!conn->socket) {
        snprintf (err, size, "cannot create a socket: %s", zmq_strerror (zmq_errno ()));
        return -1;
    }
    zsock_set_linger (conn->socket, 0);
    if (*self->node_key) {
        zsock_set_curve_serverkey (conn->socket, self->node_key);
        zsock_set_curve_publickey (conn->socket, self->public_key);
        zsock_set_curve_secretkey (conn->socket, self->secret_key);
    }
    //  A refused handshake ends the request at once, with the reason.
    char monitor[96], connect[100];
    snprintf (monitor, sizeof monitor, "inproc://dlb-client-handshake-%d-%u",
              (int) getpid (), atomic_fetch_add (&connections, 1));
    snprintf (connect, sizeof connect, ">%s", monitor);
    if (zmq_socket_monitor (zsock_resolve (conn->socket), monitor,
                            ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) == 0)
        conn->watch = zsock_new_pair (connect);
    if (zsock_connect (conn->socket, "%s", self->endpoint)) {
        snprintf (err, size, "cannot connect to '%s': %s", self->endpoint,
                  zmq_strerror (zmq_errno ()));
        dlb_client_close (conn);
        return -1;
    }
    return 0;
}

void dlb_client_close (dlb_client_conn_t *conn)
{
    zsock_destroy (&conn->watch);
    zsock_destroy (&conn->socket);
}

int dlb_client_request (const dlb_client_t *self, dlb_writer_t *request, dlb_msg_t *reply,
                        char *err, size_t size, char *refusal, size_t refusal_size)
{
    return dlb_client_request_on (self, NULL, request, reply, err, size, refusal,
                                  refusal_size);
}

int dlb_client_request_on (const dlb_client_t *self, dlb_client_conn_t *conn,
                           dlb_writer_t *request, dlb_msg_t *reply, char *err,
                           size_t size, char *refusal, size_t refusal_size)
{
    memset (reply, 0, sizeof *reply);
    if (refusal && refusal_size)
        refusal[0] = 0;
    dlb_client_conn_t once = {NULL, NULL}; //  for a request on no connection
    bool kept = conn != NULL;
    if (!kept)
        conn = &once;
    if (!conn->socket && s_open (self, conn, err, size)) {
        dlb_writer_destroy (request);
        return -1;
    }
    int msecs = (int) ceil (self->timeout * 1000);
    zsock_set_rcvtimeo (conn->socket, msecs);
    zsock_set_sndtimeo (conn->socket, msecs);
    int rc = -1;
    if (dlb_writer_send (request, conn->socket)) {
        snprintf (err, size, "cannot send to %s within %g s: %s", self->endpoint,
                  self->timeout, zmq_strerror (zmq_errno ()));
        goto done;
    }
    char reason[DLB_CLIENT_REASON_MAX] = "";
    int received = s_receive (self, conn->socket, conn->watch, msecs, reply, reason,
                              sizeof reason, err, size);
    if (received == -3)
        goto done;
    if (received == -1) {
        if (zmq_errno () == EAGAIN)
            snprintf (err, size,
                      "no answer from %s within %g s (is the node's dlb-monitor "
                      "running there?)",
                      self->endpoint, self->timeout);
        else
            snprintf (err, size, "receiving from %s: %s", self->endpoint,
                      zmq_strerror (zmq_errno ()));
        goto done;
    }
    if (received == -2) {
        snprintf (err, size, "malformed answer from %s: %s", self->endpoint, reason);
        goto done;
    }
    bool ok;
    if (reply->type != DLB_MSG_REPLY)
        snprintf (err, size, "%s answered with a %s message, expected REPLY",
                  self->endpoint, dlb_msg_type_name (reply->type));
    else if (dlb_obj_bool (reply->body, "ok", &ok))
        snprintf (err, size, "malformed answer from %s: no boolean 'ok'", self->endpoint);
    else if (!ok) {
        char error[DLB_TEXT_MAX];
        if (dlb_obj_str (reply->body, "error", error, sizeof error))
            snprintf (error, sizeof error, "(no reason given)");
        snprintf (err, size, "%s refused: %s", self->endpoint, error);
        if (refusal && refusal_size)
            snprintf (refusal, refusal_size, "%s", error);
        rc = -2;
    }
    else
        rc = 0;
    if (rc)
        dlb_msg_release (reply);
done:
    //  A REQ socket whose answer did not come can send no more: the next
    //  request opens a new one. One that was answered (even ok:false) stays.
    if (rc == -1 || !kept)
        dlb_client_close (conn);
    return rc;
}

//  ---------------------------------------------------------------------
//  msgpack -> JSON

//  Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
//  surrogates, at most U+10FFFF), 0 if it is not one.
static size_t s_utf8_length (const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char low = 0x80, high = 0xBF; //  bounds of the second byte
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            low = 0xA0;
        if (c == 0xED)
            high = 0x9F;
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            low = 0x90;
        if (c == 0xF4)
            high = 0x8F;
    }
    else
        return 0;
    if (n < len || s[1] < low || s[1] > high)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

void dlb_client_json_string (FILE *out, const char *text, size_t size)
{
    const unsigned char *s = (const unsigned char *) text;
    fputc ('"', out);
    for (size_t i = 0; i < size;) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            fputc ('\\', out);
            fputc (c, out);
        }
        else if (c == '\n')
            fputs ("\\n", out);
        else if (c == '\r')
            fputs ("\\r", out);
        else if (c == '\t')
            fputs ("\\t", out);
        else if (c == '\b')
            fputs ("\\b", out);
        else if (c == '\f')
            fputs ("\\f", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf (out, "\\u%04x", c);
        else if (c < 0x80)
            fputc (c, out);
        else {
            size_t len = s_utf8_length (s + i, size - i);
            if (len) {
                fwrite (s + i, 1, len, out);
                i += len;
                continue;
            }
            fputs ("\\ufffd", out);
        }
        i++;
    }
    fputc ('"', out);
}

void dlb_client_json_double (FILE *out, double value)
{
    if (!isfinite (value)) {
        fputs ("null", out);
        return;
    }
    char buf[32];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf (buf, sizeof buf, "%.*g", digits, value);
        if (strtod (buf, NULL) == value)
            break;
    }
    fputs (buf, out);
}

static void s_json_value (FILE *out, const msgpack_object *o, int depth);

//  A map key: strings as they are, other keys as the JSON text of their
//  value, quoted (JSON keys are strings). Cannot fail.
static void s_json_key (FILE *out, const msgpack_object *key, int depth)
{
    if (key->type == MSGPACK_OBJECT_STR) {
        dlb_client_json_string (out, key->via.str.ptr, key->via.str.size);
        return;
    }
    char *text = NULL;
    size_t size = 0;
    FILE *memory = open_memstream (&text, &size);
    if (memory) {
        s_json_value (memory, key, depth);
        fclose (memory);
    }
    if (text)
        dlb_client_json_string (out, text, size);
    else
        fputs ("\"?\"", out);
    free (text);
}

static void s_json_value (FILE *out, const msgpack_object *o, int depth)
{
    if (depth > DLB_CLIENT_JSON_DEPTH) {
        fputs ("null", out);
        return;
    }
    switch (o->type) {
    case MSGPACK_OBJECT_BOOLEAN:
        fputs (o->via.boolean ? "true" : "false", out);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        fprintf (out, "%" PRIu64, o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        fprintf (out, "%" PRId64, o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        dlb_client_json_double (out, o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        dlb_client_json_string (out, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        fputc ('"', out);
        for (uint32_t i = 0; i < o->via.bin.size; i++)
            fprintf (out, "%02x", (unsigned char) o->via.bin.ptr[i]);
        fputc ('"', out);
        break;
    case MSGPACK_OBJECT_ARRAY:
        fputc ('[', out);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                fputc (',', out);
            s_json_value (out, &o->via.array.ptr[i], depth + 1);
        }
        fputc (']', out);
        break;
    case MSGPACK_OBJECT_MAP:
        fputc ('{', out);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            if (i)
                fputc (',', out);
            s_json_key (out, &o->via.map.ptr[i].key, depth + 1);
            fputc (':', out);
            s_json_value (out, &o->via.map.ptr[i].val, depth + 1);
        }
        fputc ('}', out);
        break;
    default: //  nil, extensions
        fputs ("null", out);
        break;
    }
}

void dlb_client_json (FILE *out, const msgpack_object *o)
{
    s_json_value (out, o, 0);
}

//  ---------------------------------------------------------------------
//  Self-test: endpoints, node files, JSON, and requests to a ROUTER that
//  answers garbage, a refusal and a good reply, and to one that never does.

//  The JSON text of o, in buf. Cannot fail (truncates).
static void s_json_text (const msgpack_object *o, char *buf, size_t size)
{
    FILE *out = fmemopen (buf, size, "w");
    assert (out);
    dlb_client_json (out, o);
    fclose (out);
}

//  Answers the first three requests on a ROUTER with garbage, a refusal
//  and a good reply; then reads requests and never answers.
static void s_test_server (zsock_t *pipe, void *args)
{
    (void) args;
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert (router);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    assert (port > 0);
    zsock_signal (pipe, 0);
    zstr_sendf (pipe, "%d", port);
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    for (int served = 0;; served++) {
        void *which = zpoller_wait (poller, -1);
        if (which != router)
            break; //  $TERM or interrupted
        zmsg_t *request = zmsg_recv (router);
        if (!request)
            break;
        zframe_t *identity = zmsg_pop (request);
        zmsg_destroy (&request);
        if (served >= 3) {
            zframe_destroy (&identity);
            continue;
        }
        zmsg_t *answer = zmsg_new ();
        zmsg_append (answer, &identity);
        zmsg_addmem (answer, "", 0);
        if (served == 0)
            zmsg_addstr (answer, "garbage");
        else {
            dlb_writer_t w;
            dlb_writer_init (&w, DLB_MSG_REPLY);
            msgpack_pack_map (&w.pk, 2);
            dlb_writer_bool (&w, "ok", served == 2);
            if (served == 1)
                dlb_writer_str (&w, "error", "nope");
            else
                dlb_writer_str (&w, "node", "t");
            zframe_t *frame = dlb_writer_frame (&w);
            zmsg_append (answer, &frame);
        }
        zmsg_send (&answer, router);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

void dlb_client_test (bool verbose)
{
    char buf[DLB_TEXT_MAX], err[DLB_CLIENT_ERROR_MAX];
    assert (dlb_client_normalise_endpoint ("host:7100", buf, sizeof buf) == 0);
    assert (streq (buf, "tcp://host:7100"));
    assert (dlb_client_normalise_endpoint ("ipc:///x", buf, sizeof buf) == 0);
    assert (streq (buf, "ipc:///x"));
    assert (dlb_client_normalise_endpoint ("host", buf, sizeof buf) == -1);
    assert (dlb_client_normalise_endpoint (":7100", buf, sizeof buf) == -1);
    assert (dlb_client_normalise_endpoint ("host:0", buf, sizeof buf) == -1);
    assert (dlb_client_normalise_endpoint ("host:65536", buf, sizeof buf) == -1);
    assert (dlb_client_normalise_endpoint ("host:+80", buf, sizeof buf) == -1);
    assert (dlb_client_normalise_endpoint ("a b:80", buf, sizeof buf) == -1);
    assert (dlb_client_normalise_endpoint ("", buf, sizeof buf) == -1);
    dlb_client_path_beside ("/d/a.node", "keys/x", buf, sizeof buf);
    assert (streq (buf, "/d/keys/x"));
    dlb_client_path_beside ("a.node", "keys/x", buf, sizeof buf);
    assert (streq (buf, "keys/x"));
    dlb_client_path_beside ("/d/a.node", "/abs", buf, sizeof buf);
    assert (streq (buf, "/abs"));

    //  A node file, and a file that is not one.
    char dir[] = "/tmp/dlb-client-test.XXXXXX";
    assert (mkdtemp (dir));
    char file[DLB_TEXT_MAX];
    snprintf (file, sizeof file, "%s/a.node", dir);
    FILE *f = fopen (file, "w");
    assert (f);
    fprintf (f, "node\n    control = \"tcp://127.0.0.1:9\"\n    key = \"k/node.cert\"\n");
    fclose (f);
    dlb_client_t client = {
        .endpoint_text = file, .endpoint_source = "--node", .timeout = 5};
    assert (dlb_client_ready (&client, err, sizeof err) == -2); //  no such key file
    assert (strstr (err, "--node-key"));
    assert (streq (client.endpoint, "tcp://127.0.0.1:9"));
    assert (streq (client.node_file, file));
    assert (strstr (client.node_key_text, "/k/node.cert"));
    f = fopen (file, "w");
    assert (f);
    fprintf (f, "garbage\n");
    fclose (f);
    client = (dlb_client_t){.endpoint_text = file, .endpoint_source = "--node"};
    assert (dlb_client_ready (&client, err, sizeof err) == -1);
    assert (strstr (err, "is not a node file"));
    client = (dlb_client_t){.endpoint_text = "nowhere", .endpoint_source = "--node"};
    assert (dlb_client_ready (&client, err, sizeof err) == -1);
    assert (strstr (err, "expected tcp://HOST:PORT"));
    remove (file);
    rmdir (dir);

    //  JSON of every kind of value, with bad UTF-8 and control characters.
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3);
    msgpack_pack_str_with_body (&pk, "s", 1);
    msgpack_pack_str_with_body (&pk, "a\"\n\xff\x01", 5);
    msgpack_pack_uint64 (&pk, 7);
    msgpack_pack_array (&pk, 3);
    msgpack_pack_double (&pk, 0.5);
    msgpack_pack_double (&pk, NAN);
    msgpack_pack_int64 (&pk, -3);
    msgpack_pack_str_with_body (&pk, "b", 1);
    msgpack_pack_bin_with_body (&pk, "\x01\xab", 2);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    assert (msgpack_unpack_next (&unpacked, sbuf.data, sbuf.size, NULL) ==
            MSGPACK_UNPACK_SUCCESS);
    char json[256];
    s_json_text (&unpacked.data, json, sizeof json);
    assert (streq (
        json, "{\"s\":\"a\\\"\\n\\ufffd\\u0001\",\"7\":[0.5,null,-3],\"b\":\"01ab\"}"));
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&sbuf);

    //  Requests to a ROUTER on an OS-chosen port, without keys: garbage,
    //  a refusal, a good reply, then silence.
    zactor_t *server = zactor_new (s_test_server, NULL);
    assert (server);
    char *port = zstr_recv (server);
    assert (port);
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "127.0.0.1:%s", port);
    zstr_free (&port);
    client = (dlb_client_t){
        .endpoint_text = endpoint, .endpoint_source = "--node", .timeout = 2};
    assert (dlb_client_ready (&client, err, sizeof err) == 0);
    char refusal[DLB_TEXT_MAX];
    int expected[] = {-1, -2, 0, -1};
    const char *texts[] = {"malformed answer", "refused: nope", "", "no answer from"};
    for (int i = 0; i < 4; i++) {
        if (i == 3)
            client.timeout = 0.2;
        dlb_writer_t request;
        dlb_writer_init (&request, DLB_MSG_COMMAND);
        msgpack_pack_map (&request.pk, 1);
        dlb_writer_str (&request, "cmd", "status");
        dlb_msg_t reply;
        err[0] = 0;
        int rc = dlb_client_request (&client, &request, &reply, err, sizeof err, refusal,
                                     sizeof refusal);
        if (verbose)
            printf ("request %d: %d %s\n", i, rc, err);
        assert (rc == expected[i]);
        assert (strstr (err, texts[i]));
        if (rc == -2)
            assert (streq (refusal, "nope"));
        if (rc == 0) {
            char node[DLB_NAME_MAX];
            assert (dlb_obj_str (reply.body, "node", node, sizeof node) == 0);
            assert (streq (node, "t"));
            dlb_msg_release (&reply);
        }
    }
    zactor_destroy (&server);
}
