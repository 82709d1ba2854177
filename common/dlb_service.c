/*  dlb_service: the shared main, socket helpers and bad-input warnings.  */
#include "dlb_service.h"

#include <assert.h>
#include <time.h>

#define S_WARN_BURST 20   //  malformed messages logged in full
#define S_WARN_EVERY 1000 //  then one in this many

static size_t s_malformed = 0;

double dlb_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

zactor_t *dlb_service_start (zactor_fn *actor, dlb_config_t *cfg)
{
    zactor_t *self = zactor_new (actor, cfg);
    //  A started actor answers a ping; one that failed to start has ended
    //  and its pipe is gone.
    zsock_set_sndtimeo (self, 1000);
    if (zstr_send (self, "PING") == 0) {
        zsock_set_rcvtimeo (self, 5000);
        char *pong = zstr_recv (self);
        bool alive = pong && streq (pong, "PONG");
        zstr_free (&pong);
        zsock_set_rcvtimeo (self, -1);
        zsock_set_sndtimeo (self, -1);
        if (alive)
            return self;
    }
    zactor_destroy (&self);
    return NULL;
}

int dlb_service_main (int argc, char *argv[], const char *service, const char *summary,
                      zactor_fn *actor)
{
    char program[64];
    snprintf (program, sizeof program, "dlb-%s", service);
    dlb_config_t cfg;
    int rc = dlb_config_parse (&cfg, argc, argv, program, summary);
    if (rc)
        return rc == 1 ? 0 : 2;
    dlb_log_init (cfg.node, service);
    zsys_init ();
    zsys_handler_set (NULL); //  we watch zsys_interrupted ourselves
    zsys_catch_interrupts ();
    zactor_t *self = dlb_service_start (actor, &cfg);
    if (!self) {
        dlb_error ("could not start; see the messages above");
        return 1;
    }
    dlb_info ("started (pid %d, base port %d)", getpid (), cfg.port);
    zpoller_t *poller = zpoller_new (self, NULL);
    int exit_code = 0;
    while (!zsys_interrupted) {
        void *which = zpoller_wait (poller, 200);
        if (which == self) { //  the actor ended on its own: a fatal error
            dlb_error ("service ended unexpectedly");
            exit_code = 1;
            break;
        }
    }
    zpoller_destroy (&poller);
    dlb_info ("stopping");
    zactor_destroy (&self);
    return exit_code;
}

static zsock_t *s_socket (const dlb_config_t *cfg, int type, int offset, bool bind)
{
    char endpoint[256];
    if (bind)
        dlb_config_bind (cfg, offset, endpoint, sizeof endpoint);
    else
        dlb_config_local (cfg, offset, endpoint, sizeof endpoint);
    zsock_t *sock = zsock_new (type);
    assert (sock);
    zsock_set_linger (sock, 0);
    if (type == ZMQ_SUB)
        zsock_set_subscribe (sock, "");
    int rc =
        bind ? zsock_bind (sock, "%s", endpoint) : zsock_connect (sock, "%s", endpoint);
    if (rc < 0) {
        dlb_error ("cannot %s %s: %s", bind ? "bind" : "connect", endpoint,
                   zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
    }
    return sock;
}

int dlb_service_pipe (zloop_t *loop, zsock_t *pipe, void *arg)
{
    (void) loop;
    (void) arg;
    char *command = zstr_recv (pipe);
    if (!command)
        return -1;
    int rc = 0;
    if (streq (command, "$TERM"))
        rc = -1;
    else if (streq (command, "PING"))
        zstr_send (pipe, "PONG");
    zstr_free (&command);
    return rc;
}

zsock_t *dlb_service_bind (const dlb_config_t *cfg, int type, int offset)
{
    return s_socket (cfg, type, offset, true);
}

zsock_t *dlb_service_connect (const dlb_config_t *cfg, int type, int offset)
{
    return s_socket (cfg, type, offset, false);
}

zsock_t *dlb_service_sub (const dlb_config_t *cfg, int service)
{
    return s_socket (cfg, ZMQ_SUB, DLB_PORT_BUS (service), false);
}

int dlb_service_recv (zsock_t *socket, const char *what, dlb_msg_t *msg)
{
    zmsg_t *zmsg = zmsg_recv (socket);
    if (!zmsg)
        return -1;
    char reason[256] = "";
    int rc = -2;
    zframe_t *frame = zmsg_first (zmsg);
    if (zmsg_size (zmsg) != 1)
        snprintf (reason, sizeof reason, "%zu frames, expected 1", zmsg_size (zmsg));
    else if (zframe_size (frame) > DLB_MSG_MAX_SIZE)
        snprintf (reason, sizeof reason, "%zu bytes, over the limit",
                  zframe_size (frame));
    else
        rc = dlb_msg_decode (zframe_data (frame), zframe_size (frame), msg, reason,
                             sizeof reason);
    if (rc == -2) {
        s_malformed++;
        if (s_malformed <= S_WARN_BURST || s_malformed % S_WARN_EVERY == 0) {
            const char *peer = frame ? zframe_meta (frame, "Peer-Address") : NULL;
            dlb_warn ("dropped a malformed message on %s from %s: %s (%zu so far)", what,
                      peer ? peer : "a local socket", reason, s_malformed);
        }
    }
    else //  the body points into the frame: the message keeps it
        msg->frame = zmsg_pop (zmsg);
    zmsg_destroy (&zmsg);
    return rc;
}

//  An actor that cannot start: returns without signalling ready.
static void s_failing_actor (zsock_t *pipe, void *args)
{
    (void) pipe;
    (void) args;
}

void dlb_service_test (bool verbose)
{
    if (!verbose)
        dlb_log_set_level (DLB_LOG_ERROR);
    dlb_config_t cfg;
    char *args[] = {"t", "--port", "17400"};
    assert (dlb_config_parse (&cfg, 3, args, "t", "test") == 0);
    //  A service that cannot start is reported, not hung on.
    assert (dlb_service_start (s_failing_actor, &cfg) == NULL);

    //  Malformed messages are dropped with -2; good ones decoded.
    zsock_t *pull = dlb_service_bind (&cfg, ZMQ_PULL, DLB_PORT_INBOX (0));
    zsock_t *push = dlb_service_connect (&cfg, ZMQ_PUSH, DLB_PORT_INBOX (0));
    assert (pull && push);
    //  Binding the same port twice fails cleanly.
    assert (dlb_service_bind (&cfg, ZMQ_PULL, DLB_PORT_INBOX (0)) == NULL);
    zstr_send (push, "garbage");
    zsock_send (push, "ss", "two", "frames");
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_ACK);
    msgpack_pack_map (&w.pk, 1);
    dlb_writer_u64 (&w, "batch", 3);
    dlb_writer_send (&w, push);
    dlb_msg_t msg;
    assert (dlb_service_recv (pull, "test", &msg) == -2);
    assert (dlb_service_recv (pull, "test", &msg) == -2);
    assert (dlb_service_recv (pull, "test", &msg) == 0 && msg.type == DLB_MSG_ACK);
    dlb_msg_release (&msg);
    zsock_destroy (&pull);
    zsock_destroy (&push);
    dlb_log_set_level (DLB_LOG_INFO);
}
