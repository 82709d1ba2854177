/*  dlb_service: what the five node services share: a thin main that runs a
    service actor until interrupted, socket helpers, and rate-limited
    warnings for bad input from the network.

    A service actor has the CZMQ actor signature. Its argument is a
    dlb_config_t * that it copies before signalling ready. It binds and
    connects its sockets, then zsock_signal (pipe, 0), then runs until
    "$TERM". If it cannot start it logs why and returns without
    signalling ready; the main notices and exits 1.                      */
#ifndef DLB_SERVICE_H_INCLUDED
#define DLB_SERVICE_H_INCLUDED

#include "dlb_config.h"
#include "dlb_keys.h"
#include "dlb_log.h"
#include "dlb_proto.h"
#include <czmq.h>

//  Parses options, starts the actor, waits for SIGINT/SIGTERM or for the
//  actor to end. Returns the process exit code (0, 1 on failure, 2 usage).
int dlb_service_main (int argc, char *argv[], const char *service, const char *summary,
                      zactor_fn *actor);

//  Starts a service actor in-process (for tests and main). Returns the
//  actor, or NULL if it could not start (the reason is in the log).
zactor_t *dlb_service_start (zactor_fn *actor, dlb_config_t *cfg);

//  New sockets bound or connected to this node's endpoint BASE+offset, or
//  NULL (with an error logged) if the bind fails. Their largest inbound
//  message is DLB_SMALL_MAX_SIZE on the control and state ports,
//  DLB_MSG_MAX_SIZE on the others. A private endpoint's bind makes the run
//  directory (0700) and fails if another process listens there. listen
//  binds an external port as a CURVE server (keys NULL: --insecure) that
//  admits trusted clients on the control port, trusted nodes on the others.
zsock_t *dlb_service_bind (const dlb_config_t *cfg, int type, int offset);
#define DLB_STATUS_KEEPALIVE                                                             \
    1000 //  msecs: a service with nothing new still publishes its STATUS this
         //  often (the monitor lists services heard within 3 s); a change goes
         //  out at once, and a busy worker reports every --state-period
//  Whether a publication made at `last` (zclock_mono) is a keepalive old,
//  as a timer ticking every `tick` msecs sees it: less half a tick, so that
//  a keepalive of N ticks is not N + 1.
bool dlb_keepalive_due (int64_t last, int tick);
#define DLB_CONTROL_HWM  64 //  requests one control connection may queue
#define DLB_TRANSFER_HWM 8  //  messages one peer connection may queue (x 256 MiB)
zsock_t *dlb_service_listen (const dlb_config_t *cfg, dlb_keys_t *keys, int type,
                             int offset);
zsock_t *dlb_service_connect (const dlb_config_t *cfg, int type, int offset);
//  A SUB socket subscribed to the STATUS messages on service k's bus (the
//  publisher filters the rest, such as EVENTs, out before sending).
zsock_t *dlb_service_sub (const dlb_config_t *cfg, int service);
//  Subscribes a SUB socket to the messages of one type as well (its
//  4-byte header as the prefix). Cannot fail.
void dlb_service_subscribe (zsock_t *sub, int type);

//  The node's keys, or NULL: with *failed false under --insecure, with
//  *failed true (the reason logged) when they cannot be used.
dlb_keys_t *dlb_service_keys (const dlb_config_t *cfg, bool *failed);

//  Receives one message; on a malformed one logs a warning naming the
//  sender (its address when the transport tells it) and the reason, and
//  returns -2. Returns 0 with msg filled, or -1 if interrupted. A service
//  that forwards what it received sends msg->frame with ZFRAME_REUSE (the
//  bytes are shared, not copied).
int dlb_service_recv (zsock_t *socket, const char *what, dlb_msg_t *msg);

//  A periodic timer that sleeps while its service is idle: it calls
//  handler every `period` ms; dlb_ticker_sleep (typically from the handler,
//  when it found nothing to do) makes the next call `idle` ms away, and so
//  on until dlb_ticker_wake (on any sign of work) brings the period back at
//  once. An idle node's services then wake for their keepalives only, not
//  every state period each. The handler gets `arg`; the ticker lives as
//  long as the loop (zloop_destroy ends its timer).
typedef struct {
    zloop_t *loop;
    zloop_timer_fn *handler;
    void *arg;
    size_t period, idle;
    int timer; //  zloop's id; -1 while a spent one-shot awaits its successor
    bool asleep;
} dlb_ticker_t;
void dlb_ticker_start (dlb_ticker_t *self, zloop_t *loop, size_t period, size_t idle,
                       zloop_timer_fn *handler, void *arg);
void dlb_ticker_sleep (dlb_ticker_t *self);
void dlb_ticker_wake (dlb_ticker_t *self);

//  The zloop reader of a service actor's pipe: ends the loop on "$TERM"
//  (or a broken pipe) and answers "PING" with "PONG". Pass any arg.
int dlb_service_pipe (zloop_t *loop, zsock_t *pipe, void *arg);

//  Run-time settings (the throttle, the policy) that survive a crash of
//  the service that owns them: kept in <data-dir>/runtime/NAME while the
//  service runs, and removed when it stops cleanly, so that a deliberate
//  restart takes the options again. load returns 0 with the value, or -1
//  if none is kept. save and clear log a failure and cannot fail
//  otherwise; save writes atomically (a temporary file, then rename).
int dlb_service_setting_load (const dlb_config_t *cfg, const char *name, char *value,
                              size_t size);
void dlb_service_setting_save (const dlb_config_t *cfg, const char *name,
                               const char *value);
void dlb_service_setting_clear (const dlb_config_t *cfg, const char *name);

//  Makes a directory and its missing parents (mode 0700). Returns 0 if it
//  exists afterwards, else -1 with errno set.
int dlb_service_mkdirs (const char *path);

//  Seconds since the epoch as a double. Cannot fail.
double dlb_now (void);

//  For tests: a base port such that every port base .. base+span-1 could be
//  bound on 127.0.0.1 just now, so that a test can give a node (whose port
//  map is fixed relative to its base) ports that no other test or process
//  holds. Candidates are drawn at random below the kernel's ephemeral range
//  (/proc/sys/net/ipv4/ip_local_port_range), where no outgoing connection
//  takes a port; each is checked by binding all its ports (without
//  SO_REUSEADDR), and all are closed again before returning. Two nodes ask
//  once for 2 x DLB_PORT_SPAN and take base and base + DLB_PORT_SPAN.
//  Residual race: another process may take one of the ports between this
//  check and the test's own bind; that bind then fails with an error in the
//  log (dlb_service_bind, dlb_service_start return NULL) and the test must
//  fail at once on it rather than wait. Returns the base, or -1 if
//  DLB_FREE_BASE_TRIES candidates all had a port taken (or span < 1).
int dlb_service_free_base (int span);
#define DLB_FREE_BASE_TRIES 50

//  For self-tests: removes path and everything under it, the services'
//  ipc sockets and any links included (links are not followed; zdir_remove
//  leaves sockets, and so the directory). 0, or -1 with errno set.
int dlb_service_remove_tree (const char *path);

void dlb_service_test (bool verbose);

#endif
