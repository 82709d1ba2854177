/*  dlb_service: the shared main, socket helpers and bad-input warnings.  */
#include "dlb_service.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

//  Candidate base ports start at S_FREE_LOW, clear of well-known services and
//  of the default base (7100).
#define S_FREE_LOW       10000
#define S_EPHEMERAL_LOW  32768 //  Linux's default ephemeral range, used when
#define S_EPHEMERAL_HIGH 60999 //  /proc/sys/net/ipv4/ip_local_port_range is unreadable

static size_t s_malformed = 0;

#define S_RUNTIME_DIR "runtime" //  under the state directory

static void s_setting_path (const dlb_config_t *cfg, const char *name, char *buf,
                            size_t size)
{
    snprintf (buf, size, "%s/%s/%s", cfg->state_dir, S_RUNTIME_DIR, name);
}

int dlb_service_setting_load (const dlb_config_t *cfg, const char *name, char *value,
                              size_t size)
{
    char path[DLB_TEXT_MAX + 64];
    s_setting_path (cfg, name, path, sizeof path);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    bool ok = fgets (value, (int) size, file) != NULL;
    fclose (file);
    if (ok)
        value[strcspn (value, "\n")] = 0;
    return ok && *value ? 0 : -1;
}

int dlb_service_mkdirs (const char *path)
{
    char buf[DLB_TEXT_MAX + 64];
    if (snprintf (buf, sizeof buf, "%s", path) >= (int) sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir (buf, 0700) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir (buf, 0700) && errno != EEXIST ? -1 : 0;
}

void dlb_service_setting_save (const dlb_config_t *cfg, const char *name,
                               const char *value)
{
    char dir[DLB_TEXT_MAX + 16], path[DLB_TEXT_MAX + 64], tmp[DLB_TEXT_MAX + 72];
    snprintf (dir, sizeof dir, "%s/%s", cfg->state_dir, S_RUNTIME_DIR);
    s_setting_path (cfg, name, path, sizeof path);
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    dlb_service_mkdirs (dir);
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    bool ok = fd >= 0 && dprintf (fd, "%s\n", value) > 0;
    if (fd >= 0)
        ok = close (fd) == 0 && ok;
    if (!ok || rename (tmp, path)) {
        dlb_warn ("cannot keep the %s in %s (a restart after a crash will use the "
                  "option's value): %s",
                  name, path, strerror (errno));
        unlink (tmp);
    }
}

void dlb_service_setting_clear (const dlb_config_t *cfg, const char *name)
{
    char path[DLB_TEXT_MAX + 64];
    s_setting_path (cfg, name, path, sizeof path);
    if (unlink (path) && errno != ENOENT)
        dlb_warn ("cannot remove %s: %s", path, strerror (errno));
}

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
    //  SIGINT and SIGTERM are blocked in every thread (before any is made,
    //  so all inherit it) and read here from a signalfd: this thread sleeps
    //  until a signal or the actor's end, and wakes for nothing else.
    sigset_t stop;
    sigemptyset (&stop);
    sigaddset (&stop, SIGINT);
    sigaddset (&stop, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &stop, NULL);
    int signals = signalfd (-1, &stop, SFD_CLOEXEC);
    if (signals < 0) {
        dlb_error ("cannot read signals (signalfd): %s", strerror (errno));
        return 1;
    }
    zsys_init ();
    zsys_handler_set (NULL); //  no CZMQ handler: the signals come by the signalfd
    zactor_t *self = dlb_service_start (actor, &cfg);
    if (!self) {
        dlb_error ("could not start; see the messages above");
        close (signals);
        return 1;
    }
    dlb_info ("started (pid %d, base port %d, %s)", getpid (), cfg.port,
              cfg.insecure ? "WITHOUT KEYS (--insecure): any local user can control "
                             "this node and pose as a peer; for development only"
                           : "keys in the keys directory");
    zmq_pollitem_t items[] = {{zsock_resolve (self), 0, ZMQ_POLLIN, 0},
                              {NULL, signals, ZMQ_POLLIN, 0}};
    int exit_code = 0, signo = 0;
    while (true) {
        if (zmq_poll (items, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            dlb_error ("waiting for a signal: %s", zmq_strerror (zmq_errno ()));
            exit_code = 1;
            break;
        }
        if (items[1].revents & ZMQ_POLLIN) {
            struct signalfd_siginfo info;
            if (read (signals, &info, sizeof info) == (ssize_t) sizeof info)
                signo = (int) info.ssi_signo;
            break;
        }
        if (items[0].revents & ZMQ_POLLIN) { //  the actor ended on its own: fatal
            dlb_error ("service ended unexpectedly");
            exit_code = 1;
            break;
        }
    }
    close (signals);
    dlb_info ("stopping%s%s", signo ? ": " : "", signo ? strsignal (signo) : "");
    zactor_destroy (&self);
    return exit_code;
}

//  Makes the node's run directory, private to this user (0700), for a
//  private endpoint. Returns 0, or -1 with an error logged.
static int s_private_dir (const dlb_config_t *cfg)
{
    char dir[DLB_TEXT_MAX + 16];
    dlb_config_run_dir (cfg, dir, sizeof dir);
    struct stat st;
    if (dlb_service_mkdirs (dir) || chmod (dir, 0700) || stat (dir, &st)) {
        dlb_error ("cannot make the private directory %s: %s", dir, strerror (errno));
        return -1;
    }
    return 0;
}

//  Whether something listens at ipc://PATH: binding would silently take
//  the path over (libzmq removes the old socket file), so a second copy of
//  a service is refused here as a TCP bind would refuse it.
static bool s_ipc_in_use (const char *endpoint)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf (addr.sun_path, sizeof addr.sun_path, "%s", endpoint + strlen ("ipc://"));
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool used = fd >= 0 && connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0;
    if (fd >= 0)
        close (fd);
    return used;
}

static zsock_t *s_socket (const dlb_config_t *cfg, dlb_keys_t *keys, int type, int offset,
                          bool bind)
{
    char endpoint[DLB_TEXT_MAX + 64];
    if (bind)
        dlb_config_bind (cfg, offset, endpoint, sizeof endpoint);
    else
        dlb_config_local (cfg, offset, endpoint, sizeof endpoint);
    bool private = strncmp (endpoint, "ipc://", 6) == 0;
    if (private && bind && s_private_dir (cfg))
        return NULL;
    if (private && bind && s_ipc_in_use (endpoint)) {
        dlb_error ("cannot bind %s: another process of this node (same --node, --port "
                   "and --data-dir) listens there",
                   endpoint);
        return NULL;
    }
    zsock_t *sock = zsock_new (type);
    assert (sock);
    zsock_set_linger (sock, 0);
    //  Before bind or connect, or libzmq does not apply it: a larger message
    //  drops the connection it came on, unread.
    zsock_set_maxmsgsize (sock, offset == DLB_PORT_CONTROL || offset == DLB_PORT_STATE
                                    ? DLB_SMALL_MAX_SIZE
                                    : DLB_MSG_MAX_SIZE);
    //  What one connection may queue here before libzmq stops reading it:
    //  a bound on memory (with the size limit) whatever a peer sends.
    if (offset == DLB_PORT_CONTROL)
        zsock_set_rcvhwm (sock, DLB_CONTROL_HWM);
    else if (offset == DLB_PORT_TRANSFER)
        zsock_set_rcvhwm (sock, DLB_TRANSFER_HWM);
    if (keys)
        dlb_keys_server (keys, sock, offset == DLB_PORT_CONTROL ? "client" : "node",
                         offset == DLB_PORT_CONTROL ? "control"
                         : offset == DLB_PORT_STATE ? "state"
                                                    : "transfer");
    if (type == ZMQ_SUB)
        dlb_service_subscribe (sock, DLB_MSG_STATUS);
    int rc =
        bind ? zsock_bind (sock, "%s", endpoint) : zsock_connect (sock, "%s", endpoint);
    if (rc < 0) {
        dlb_error ("cannot %s %s: %s", bind ? "bind" : "connect", endpoint,
                   zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
    }
    return sock;
}

//  The kernel's ephemeral (outgoing connection) port range, or Linux's
//  default if it cannot be read. Cannot fail.
static void s_ephemeral_range (int *low, int *high)
{
    FILE *file = fopen ("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (!file || fscanf (file, "%d %d", low, high) != 2 || *low < 1 || *high < *low ||
        *high > 65535) {
        *low = S_EPHEMERAL_LOW;
        *high = S_EPHEMERAL_HIGH;
    }
    if (file)
        fclose (file);
}

//  Whether every port base .. base+span-1 can be bound on 127.0.0.1 now.
//  Holds them all until the last is checked, then closes them all.
static bool s_ports_free (int base, int span)
{
    int fds[span];
    int bound = 0;
    for (; bound < span; bound++) {
        struct sockaddr_in addr = {.sin_family = AF_INET,
                                   .sin_port = htons ((uint16_t) (base + bound)),
                                   .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
        fds[bound] = socket (AF_INET, SOCK_STREAM, 0);
        if (fds[bound] < 0)
            break;
        if (bind (fds[bound], (struct sockaddr *) &addr, sizeof addr)) {
            close (fds[bound]);
            break;
        }
    }
    bool all = bound == span;
    while (bound > 0)
        close (fds[--bound]);
    return all;
}

static int s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) ftw;
    return flag == FTW_DP ? rmdir (path) : unlink (path);
}

int dlb_service_remove_tree (const char *path)
{
    return nftw (path, s_remove, 16, FTW_DEPTH | FTW_PHYS);
}

int dlb_service_free_base (int span)
{
    //  Candidates in [S_FREE_LOW, ephemeral low - span], or above the range
    //  if it leaves no room below (an unusual configuration).
    int ephemeral_low, ephemeral_high;
    s_ephemeral_range (&ephemeral_low, &ephemeral_high);
    int low = S_FREE_LOW, high = ephemeral_low - span;
    if (high < low) {
        low = ephemeral_high + 1;
        high = 65536 - span;
    }
    if (span < 1 || high < low)
        return -1;
    //  Seeded per call from the pid and the clock: concurrent test processes
    //  draw different candidates.
    unsigned seed = (unsigned) getpid () ^ (unsigned) zclock_usecs ();
    for (int attempt = 0; attempt < DLB_FREE_BASE_TRIES; attempt++) {
        int base = low + rand_r (&seed) % (high - low + 1);
        if (s_ports_free (base, span))
            return base;
    }
    return -1;
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

bool dlb_keepalive_due (int64_t last, int tick)
{
    return zclock_mono () - last >= DLB_STATUS_KEEPALIVE - tick / 2;
}

//  Calls the handler; a one-shot (asleep) timer is spent once it fires,
//  so the next is set unless the handler woke the ticker.
static int s_ticker_fire (zloop_t *loop, int timer_id, void *arg)
{
    dlb_ticker_t *self = arg;
    bool was_asleep = self->asleep;
    if (was_asleep)
        self->timer = -1;
    int rc = self->handler (loop, timer_id, self->arg);
    if (was_asleep && self->asleep && self->timer == -1)
        self->timer = zloop_timer (loop, self->idle, 1, s_ticker_fire, self);
    return rc;
}

void dlb_ticker_start (dlb_ticker_t *self, zloop_t *loop, size_t period, size_t idle,
                       zloop_timer_fn *handler, void *arg)
{
    *self = (dlb_ticker_t){.loop = loop,
                           .handler = handler,
                           .arg = arg,
                           .period = period,
                           .idle = idle > period ? idle : period};
    self->timer = zloop_timer (loop, period, 0, s_ticker_fire, self);
}

void dlb_ticker_sleep (dlb_ticker_t *self)
{
    if (self->asleep || !self->loop)
        return;
    zloop_timer_end (self->loop, self->timer);
    self->timer = zloop_timer (self->loop, self->idle, 1, s_ticker_fire, self);
    self->asleep = true;
}

void dlb_ticker_wake (dlb_ticker_t *self)
{
    if (!self->asleep || !self->loop)
        return;
    if (self->timer != -1)
        zloop_timer_end (self->loop, self->timer);
    self->timer = zloop_timer (self->loop, self->period, 0, s_ticker_fire, self);
    self->asleep = false;
}

zsock_t *dlb_service_bind (const dlb_config_t *cfg, int type, int offset)
{
    return s_socket (cfg, NULL, type, offset, true);
}

zsock_t *dlb_service_listen (const dlb_config_t *cfg, dlb_keys_t *keys, int type,
                             int offset)
{
    return s_socket (cfg, keys, type, offset, true);
}

zsock_t *dlb_service_connect (const dlb_config_t *cfg, int type, int offset)
{
    return s_socket (cfg, NULL, type, offset, false);
}

void dlb_service_subscribe (zsock_t *sub, int type)
{
    const char prefix[DLB_PROTO_HEADER + 1] = {
        (char) DLB_PROTO_SIG0, (char) DLB_PROTO_SIG1, DLB_PROTO_VERSION, (char) type, 0};
    zsock_set_subscribe (sub, prefix);
}

zsock_t *dlb_service_sub (const dlb_config_t *cfg, int service)
{
    return s_socket (cfg, NULL, ZMQ_SUB, DLB_PORT_BUS (service), false);
}

dlb_keys_t *dlb_service_keys (const dlb_config_t *cfg, bool *failed)
{
    *failed = false;
    if (cfg->insecure)
        return NULL;
    dlb_keys_t *keys = dlb_keys_new (cfg);
    *failed = keys == NULL;
    return keys;
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
        if (dlb_log_sampled (s_malformed)) {
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
    //  A free base: every port of its span is free, and is ours to bind;
    //  a range with one port taken is not free. (Other processes may bind
    //  in between, so only ports this test holds are asserted taken.)
    assert (dlb_service_free_base (0) == -1);
    assert (dlb_service_free_base (65536) == -1);
    int ephemeral_low, ephemeral_high;
    s_ephemeral_range (&ephemeral_low, &ephemeral_high);
    int base = dlb_service_free_base (DLB_PORT_SPAN);
    assert (base >= S_FREE_LOW);
    assert (base + DLB_PORT_SPAN <= ephemeral_low || base > ephemeral_high);
    zsock_t *holder = zsock_new (ZMQ_PULL);
    assert (zsock_bind (holder, "tcp://127.0.0.1:%d", base + DLB_PORT_SPAN - 1) != -1);
    assert (!s_ports_free (base, DLB_PORT_SPAN));
    assert (!s_ports_free (base + DLB_PORT_SPAN - 1, 1));
    zsock_destroy (&holder);

    dlb_config_t cfg;
    char port[16];
    snprintf (port, sizeof port, "%d", base);
    char *args[] = {"t", "--port", port};
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
