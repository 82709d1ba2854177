/*  dlb_keys: the node's CURVE identity, its allow-list and the ZAP
    handler that applies it.                                             */
#include "dlb_keys.h"
#include "dlb_log.h"
#include "dlb_service.h"

#include <arpa/inet.h>
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_KEY_TXT     41 //  a Z85 key with NUL
#define S_ROLE_MAX    16
#define S_DOMAINS_MAX 64 //  (allow-list, role) pairs one process serves
#define S_ZAP         "inproc://zeromq.zap.01"
#define S_FDS_MAX     1024 //  accepted connections whose address is remembered
#define S_DRAIN_MSECS 1000 //  longest wait at exit for watched sockets to close

//  One trusted cert.
typedef struct {
    char key[S_KEY_TXT];
    char name[DLB_NAME_MAX];
    char role[S_ROLE_MAX];
    char address[DLB_ADDR_MAX];
} s_entry_t;

//  An allow-list directory, read again when its modification time changes.
typedef struct {
    char dir[DLB_TEXT_MAX + 32];
    struct timespec mtime;
    bool loaded;
    s_entry_t *entries;
    size_t count;
} s_trust_t;

struct _dlb_keys_t {
    char public_key[S_KEY_TXT], secret_key[S_KEY_TXT];
    s_trust_t trust;
};

//  ---------------------------------------------------------------------
//  Cert files

//  Reads FILE's keys and metadata. secret may be NULL. Returns 0, or -1.
static int s_read_cert (const char *path, s_entry_t *entry, char *secret)
{
    zconfig_t *root = zconfig_load (path);
    if (!root)
        return -1;
    const char *public_key = zconfig_get (root, "curve/public-key", "");
    const char *secret_key = zconfig_get (root, "curve/secret-key", "");
    int rc = -1;
    if (strlen (public_key) == S_KEY_TXT - 1 &&
        (!secret || strlen (secret_key) == S_KEY_TXT - 1)) {
        snprintf (entry->key, sizeof entry->key, "%s", public_key);
        snprintf (entry->name, sizeof entry->name, "%s",
                  zconfig_get (root, "metadata/name", ""));
        snprintf (entry->role, sizeof entry->role, "%s",
                  zconfig_get (root, "metadata/role", ""));
        snprintf (entry->address, sizeof entry->address, "%s",
                  zconfig_get (root, "metadata/address", ""));
        if (secret)
            snprintf (secret, S_KEY_TXT, "%s", secret_key);
        rc = 0;
    }
    zconfig_destroy (&root);
    return rc;
}

static int s_check_secret_mode (const char *path, char *err, size_t size)
{
    struct stat st;
    if (stat (path, &st)) {
        snprintf (err, size, "cannot read the key %s: %s", path, strerror (errno));
        return -1;
    }
    if (st.st_uid != geteuid () || (st.st_mode & 077)) {
        snprintf (err, size,
                  "the secret key %s is open to other users (owner uid %u, mode %03o): "
                  "it must belong to uid %u with mode 600 (chmod 600 %s)",
                  path, (unsigned) st.st_uid, (unsigned) (st.st_mode & 0777),
                  (unsigned) geteuid (), path);
        return -1;
    }
    return 0;
}

zcert_t *dlb_keys_load_secret (const char *path, char *err, size_t size)
{
    char secret_path[DLB_TEXT_MAX + 16];
    snprintf (secret_path, sizeof secret_path, "%s_secret", path);
    if (s_check_secret_mode (secret_path, err, size))
        return NULL;
    s_entry_t entry;
    char secret[S_KEY_TXT];
    if (s_read_cert (secret_path, &entry, secret)) {
        snprintf (err, size, "%s is not a key pair made by dlbctl keygen", secret_path);
        return NULL;
    }
    uint8_t public_bin[32], secret_bin[32];
    zmq_z85_decode (public_bin, entry.key);
    zmq_z85_decode (secret_bin, secret);
    zcert_t *cert = zcert_new_from (public_bin, secret_bin);
    zcert_set_meta (cert, "name", "%s", entry.name);
    return cert;
}

//  Writes TEXT to a new file PATH (mode MODE), atomically: it appears
//  whole or not at all; an existing PATH is left alone (-1, EEXIST).
static int s_write_new (const char *path, const char *text, mode_t mode)
{
    char tmp[DLB_TEXT_MAX + 32];
    snprintf (tmp, sizeof tmp, "%s.XXXXXX", path);
    int fd = mkstemp (tmp);
    if (fd < 0)
        return -1;
    size_t len = strlen (text);
    bool ok = fchmod (fd, mode) == 0 && write (fd, text, len) == (ssize_t) len &&
              fsync (fd) == 0;
    ok = close (fd) == 0 && ok;
    int saved = errno;
    ok = ok && link (tmp, path) == 0;
    saved = ok ? 0 : errno ? errno : saved;
    unlink (tmp);
    errno = saved;
    return ok ? 0 : -1;
}

int dlb_keys_generate (const char *path, const char *name, const char *role,
                       const char *address, char *err, size_t size)
{
    const char *values[] = {name, role, address ? address : ""};
    for (int i = 0; i < 3; i++)
        if (strpbrk (values[i], "\"\n\r\\") || strlen (values[i]) >= DLB_NAME_MAX * 2) {
            snprintf (err, size, "'%s' cannot go in a key file", values[i]);
            return -1;
        }
    char public_key[S_KEY_TXT], secret_key[S_KEY_TXT];
    if (zmq_curve_keypair (public_key, secret_key)) {
        snprintf (err, size, "cannot make a key pair: %s (libzmq without CURVE?)",
                  zmq_strerror (zmq_errno ()));
        return -1;
    }
    char meta[512];
    snprintf (meta, sizeof meta,
              "#   dlb %s key of %s: give %s (never the _secret) to the nodes that\n"
              "#   should trust it, in their keys directory's trusted/.\n"
              "metadata\n    name = \"%s\"\n    role = \"%s\"\n",
              role, name, "this file", name, role);
    if (address && *address)
        snprintf (meta + strlen (meta), sizeof meta - strlen (meta),
                  "    address = \"%s\"\n", address);
    char public_text[1024], secret_text[1024], secret_path[DLB_TEXT_MAX + 16];
    snprintf (public_text, sizeof public_text, "%scurve\n    public-key = \"%s\"\n", meta,
              public_key);
    snprintf (secret_text, sizeof secret_text,
              "%scurve\n    public-key = \"%s\"\n    secret-key = \"%s\"\n", meta,
              public_key, secret_key);
    snprintf (secret_path, sizeof secret_path, "%s_secret", path);
    //  The secret first: whoever creates it owns the pair, so two
    //  generators racing (containers starting together) make one pair.
    if (s_write_new (secret_path, secret_text, 0600)) {
        snprintf (err, size, "cannot write %s: %s", secret_path, strerror (errno));
        return -1;
    }
    unlink (path); //  a public file left from an earlier pair is stale
    if (s_write_new (path, public_text, 0644)) {
        snprintf (err, size, "cannot write %s: %s", path, strerror (errno));
        return -1;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  The allow-list

static void s_trust_refresh (s_trust_t *self)
{
    struct stat st;
    if (stat (self->dir, &st)) {
        self->count = 0; //  no directory: nobody is trusted
        self->loaded = false;
        return;
    }
    if (self->loaded && st.st_mtim.tv_sec == self->mtime.tv_sec &&
        st.st_mtim.tv_nsec == self->mtime.tv_nsec)
        return;
    self->mtime = st.st_mtim;
    self->loaded = true;
    self->count = 0;
    DIR *dir = opendir (self->dir);
    if (!dir)
        return;
    size_t capacity = 0;
    struct dirent *item;
    while ((item = readdir (dir))) {
        size_t len = strlen (item->d_name);
        if (item->d_name[0] == '.' ||
            (len > 7 && streq (item->d_name + len - 7, "_secret")))
            continue;
        char path[DLB_TEXT_MAX + 300];
        snprintf (path, sizeof path, "%s/%s", self->dir, item->d_name);
        s_entry_t entry;
        if (s_read_cert (path, &entry, NULL)) {
            dlb_warn ("%s is not a public key file: ignored", path);
            continue;
        }
        if (self->count == capacity) {
            capacity = capacity ? 2 * capacity : 16;
            self->entries = realloc (self->entries, capacity * sizeof *self->entries);
            assert (self->entries);
        }
        self->entries[self->count++] = entry;
    }
    closedir (dir);
}

static const s_entry_t *s_trust_find (s_trust_t *self, const char *key, const char *name,
                                      const char *address, const char *role)
{
    s_trust_refresh (self);
    for (size_t i = 0; i < self->count; i++) {
        const s_entry_t *e = &self->entries[i];
        if ((!key || streq (e->key, key)) && (!name || streq (e->name, name)) &&
            (!address || streq (e->address, address)) && streq (e->role, role))
            return e;
    }
    return NULL;
}

//  ---------------------------------------------------------------------
//  The ZAP handler: one actor per process, serving every keyed socket of
//  the process. A socket's ZAP domain "dlb-N" names the (allow-list, role)
//  pair it admits.

typedef struct {
    char dir[DLB_TEXT_MAX + 32];
    char role[S_ROLE_MAX];
    char what[32];
} s_domain_t;

//  s_lock guards the actor's pointer, its users and the domains; the actor
//  takes it too (briefly, to read a domain), so no one may wait on the
//  actor while holding it. s_pipe_lock serialises commands on its pipe.
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t s_pipe_lock = PTHREAD_MUTEX_INITIALIZER;
static zactor_t *s_zap = NULL;
static size_t s_zap_users = 0;
static s_domain_t s_domains[S_DOMAINS_MAX];
static size_t s_domain_count = 0;

//  A PAIR on one keyed socket's monitor.
typedef struct {
    zsock_t *sock;
    char what[DLB_NAME_MAX]; //  the port it watches, or the peer it connects to
    bool connecting;         //  a client of a peer, not a port of ours
    size_t failed;           //  failed handshakes not yet matched to a disconnection
    uint32_t error;          //  the last one's protocol error
} s_watch_t;

typedef struct {
    zsock_t *pipe, *handler;
    zpoller_t *poller;
    zlistx_t *watches;              //  s_watch_t *
    s_trust_t trust[S_DOMAINS_MAX]; //  per domain, this thread's copy
    char accepted[S_FDS_MAX][64];   //  remote address per accepted fd
    size_t refused;
} s_zap_t;

static void s_refused (s_zap_t *self, const char *format, ...)
{
    if (!dlb_log_sampled (++self->refused))
        return;
    char text[512];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    dlb_warn ("%s (%zu refused so far)", text, self->refused);
}

static void s_zap_request (s_zap_t *self)
{
    zmsg_t *request = zmsg_recv (self->handler);
    if (!request)
        return;
    char *version = zmsg_popstr (request), *sequence = zmsg_popstr (request),
         *domain = zmsg_popstr (request), *address = zmsg_popstr (request),
         *identity = zmsg_popstr (request), *mechanism = zmsg_popstr (request);
    zframe_t *credential = zmsg_pop (request);
    const char *status = "400", *text = "not trusted", *user = "";
    size_t index = S_DOMAINS_MAX;
    if (domain && strncmp (domain, "dlb-", 4) == 0)
        index = strtoul (domain + 4, NULL, 10);
    pthread_mutex_lock (&s_lock);
    s_domain_t known;
    memset (&known, 0, sizeof known);
    if (index < s_domain_count)
        known = s_domains[index];
    pthread_mutex_unlock (&s_lock);
    if (!*known.dir)
        s_refused (self, "refused a connection from %s: unknown ZAP domain '%s'",
                   address ? address : "?", domain ? domain : "");
    else if (!mechanism || !streq (mechanism, "CURVE") || !credential ||
             zframe_size (credential) != 32)
        s_refused (self, "refused a %s connection from %s on the %s port: keys required",
                   mechanism ? mechanism : "?", address ? address : "?", known.what);
    else {
        char key[S_KEY_TXT];
        zmq_z85_encode (key, zframe_data (credential), 32);
        s_trust_t *trust = &self->trust[index];
        if (!*trust->dir)
            snprintf (trust->dir, sizeof trust->dir, "%s", known.dir);
        const s_entry_t *entry = s_trust_find (trust, key, NULL, NULL, known.role);
        if (entry) {
            status = "200";
            text = "OK";
            user = entry->name;
        }
        else
            s_refused (self,
                       "refused key %s from %s on the %s port: not a trusted %s key (add "
                       "its cert to %s to let it in)",
                       key, address ? address : "?", known.what, known.role, known.dir);
    }
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, sequence ? sequence : "");
    zmsg_addstr (reply, status);
    zmsg_addstr (reply, text);
    zmsg_addstr (reply, user);
    zmsg_addmem (reply, NULL, 0);
    zmsg_send (&reply, self->handler);
    zstr_free (&version);
    zstr_free (&sequence);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&identity);
    zstr_free (&mechanism);
    zframe_destroy (&credential);
    zmsg_destroy (&request);
}

//  The remote address of an accepted connection's fd, as "HOST:PORT".
static void s_peer_name (int fd, char *buf, size_t size)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getpeername (fd, (struct sockaddr *) &addr, &len) == 0) {
        if (addr.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *) &addr;
            inet_ntop (AF_INET, &in->sin_addr, host, sizeof host);
            port = ntohs (in->sin_port);
        }
        else if (addr.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &addr;
            inet_ntop (AF_INET6, &in6->sin6_addr, host, sizeof host);
            port = ntohs (in6->sin6_port);
        }
    }
    snprintf (buf, size, "%s:%d", host, port);
}

//  An event from a watched socket's monitor. Failed handshakes (a peer
//  without keys, or not holding the key expected) are logged with the
//  remote address: libzmq names only the local endpoint in the failure,
//  so the address is the one accepted on the fd whose disconnection
//  follows it. A connecting socket's failure names the peer's endpoint.
static void s_zap_event (s_zap_t *self, s_watch_t *watch)
{
    zmsg_t *event = zmsg_recv (watch->sock);
    zframe_t *head = event ? zmsg_first (event) : NULL;
    if (!head || zframe_size (head) != 6) {
        zmsg_destroy (&event);
        return;
    }
    uint16_t id;
    uint32_t value;
    memcpy (&id, zframe_data (head), 2);
    memcpy (&value, zframe_data (head) + 2, 4);
    zframe_t *address = zmsg_next (event);
    char *endpoint = address ? zframe_strdup (address) : strdup ("?");
    if (id == ZMQ_EVENT_ACCEPTED && value < S_FDS_MAX)
        s_peer_name ((int) value, self->accepted[value], sizeof self->accepted[value]);
    else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
             id == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        watch->failed++;
        watch->error = value;
    }
    else if ((id == ZMQ_EVENT_DISCONNECTED || id == ZMQ_EVENT_CLOSED) && watch->failed) {
        watch->failed--;
        const char *from = value < S_FDS_MAX && *self->accepted[value]
                               ? self->accepted[value]
                               : endpoint;
        if (watch->connecting)
            s_refused (self,
                       "%s does not hold the key of %s: handshake failed (no keys, or "
                       "another key; protocol error 0x%x)",
                       from, watch->what, watch->error);
        else
            s_refused (self,
                       "refused %s on the %s port: handshake failed (no keys, or not the "
                       "key expected; protocol error 0x%x)",
                       from, watch->what, watch->error);
    }
    if ((id == ZMQ_EVENT_DISCONNECTED || id == ZMQ_EVENT_CLOSED) && value < S_FDS_MAX)
        self->accepted[value][0] = 0;
    free (endpoint);
    zmsg_destroy (&event);
    if (id == ZMQ_EVENT_MONITOR_STOPPED) { //  the socket was closed
        zpoller_remove (self->poller, watch->sock);
        zlistx_delete (self->watches, zlistx_find (self->watches, watch));
        zsock_destroy (&watch->sock);
        free (watch);
    }
}

static void s_zap_actor (zsock_t *pipe, void *args)
{
    (void) args;
    s_zap_t *self = calloc (1, sizeof *self);
    assert (self);
    self->pipe = pipe;
    self->handler = zsock_new (ZMQ_REP);
    self->watches = zlistx_new ();
    if (zsock_bind (self->handler, S_ZAP)) {
        dlb_error ("cannot bind the ZAP handler: %s", zmq_strerror (zmq_errno ()));
        goto done;
    }
    self->poller = zpoller_new (pipe, self->handler, NULL);
    zsock_signal (pipe, 0);
    while (true) {
        void *which = zpoller_wait (self->poller, -1);
        if (!which)
            break;
        if (which == pipe) {
            zmsg_t *command = zmsg_recv (pipe);
            char *verb = command ? zmsg_popstr (command) : NULL;
            bool term = !verb || streq (verb, "$TERM");
            if (verb && (streq (verb, "WATCH") || streq (verb, "WATCH-CLIENT"))) {
                char *endpoint = zmsg_popstr (command), *what = zmsg_popstr (command);
                s_watch_t *watch = calloc (1, sizeof *watch);
                assert (watch);
                watch->sock = zsock_new (ZMQ_PAIR);
                watch->connecting = streq (verb, "WATCH-CLIENT");
                snprintf (watch->what, sizeof watch->what, "%s", what);
                if (zsock_connect (watch->sock, "%s", endpoint) == 0) {
                    zpoller_add (self->poller, watch->sock);
                    zlistx_add_end (self->watches, watch);
                }
                else {
                    zsock_destroy (&watch->sock);
                    free (watch);
                }
                zstr_free (&endpoint);
                zstr_free (&what);
                zsock_signal (pipe, 0);
            }
            zstr_free (&verb);
            zmsg_destroy (&command);
            if (term)
                break;
        }
        else if (which == self->handler)
            s_zap_request (self);
        else
            for (s_watch_t *watch = zlistx_first (self->watches); watch;
                 watch = zlistx_next (self->watches))
                if (watch->sock == which) {
                    s_zap_event (self, watch);
                    break;
                }
    }
done:
    //  libzmq sends monitor events from its I/O thread and blocks there if
    //  no one reads them, which would stall every socket of the process: so
    //  read each watched socket's events until it reports it stopped (its
    //  socket closed, as services close theirs before their keys), or a
    //  while has passed.
    for (int64_t until = zclock_mono () + S_DRAIN_MSECS;
         zlistx_size (self->watches) && zclock_mono () < until;) {
        void *which = zpoller_wait (self->poller, (int) (until - zclock_mono ()));
        for (s_watch_t *watch = zlistx_first (self->watches); which && watch;
             watch = zlistx_next (self->watches))
            if (watch->sock == which) {
                s_zap_event (self, watch);
                break;
            }
        if (which == self->handler)
            s_zap_request (self);
        else if (which == pipe) {
            zframe_t *ignored = zframe_recv (pipe);
            zframe_destroy (&ignored);
        }
    }
    for (s_watch_t *watch = zlistx_first (self->watches); watch;
         watch = zlistx_next (self->watches)) {
        zsock_destroy (&watch->sock);
        free (watch);
    }
    zlistx_destroy (&self->watches);
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->handler);
    for (size_t i = 0; i < S_DOMAINS_MAX; i++)
        free (self->trust[i].entries);
    free (self);
}

//  Index of the domain for (dir, role), registered if new, or -1.
static int s_domain (const char *dir, const char *role, const char *what)
{
    pthread_mutex_lock (&s_lock);
    size_t i = 0;
    while (i < s_domain_count &&
           !(streq (s_domains[i].dir, dir) && streq (s_domains[i].role, role) &&
             streq (s_domains[i].what, what)))
        i++;
    if (i == s_domain_count && i < S_DOMAINS_MAX) {
        snprintf (s_domains[i].dir, sizeof s_domains[i].dir, "%s", dir);
        snprintf (s_domains[i].role, sizeof s_domains[i].role, "%s", role);
        snprintf (s_domains[i].what, sizeof s_domains[i].what, "%s", what);
        s_domain_count++;
    }
    pthread_mutex_unlock (&s_lock);
    return i < S_DOMAINS_MAX ? (int) i : -1;
}

//  Has the ZAP actor log SOCK's failed handshakes, as WHAT: the port, or
//  (connecting) the name of the peer whose key SOCK expects.
static void s_watch (zsock_t *sock, const char *what, bool connecting)
{
    static int counter = 0;
    char endpoint[64];
    pthread_mutex_lock (&s_lock);
    snprintf (endpoint, sizeof endpoint, "inproc://dlb-keys-watch-%d", counter++);
    zactor_t *zap = s_zap;
    pthread_mutex_unlock (&s_lock);
    if (!zap || zmq_socket_monitor (zsock_resolve (sock), endpoint,
                                    ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                                        ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                        ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                        ZMQ_EVENT_CLOSED | ZMQ_EVENT_MONITOR_STOPPED))
        return;
    pthread_mutex_lock (&s_pipe_lock);
    zstr_sendx (zap, connecting ? "WATCH-CLIENT" : "WATCH", endpoint, what, NULL);
    zsock_wait (zap);
    pthread_mutex_unlock (&s_pipe_lock);
}

//  ---------------------------------------------------------------------

dlb_keys_t *dlb_keys_new (const dlb_config_t *cfg)
{
    char path[DLB_TEXT_MAX + 32], err[DLB_TEXT_MAX * 2];
    snprintf (path, sizeof path, "%s/%s", cfg->keys, DLB_KEYS_NODE);
    zcert_t *cert = dlb_keys_load_secret (path, err, sizeof err);
    if (!cert) {
        dlb_error ("%s. A node needs its key pair: dlbctl keygen --node %s --keys %s "
                   "(or --insecure on loopback, for development)",
                   err, cfg->node, cfg->keys);
        return NULL;
    }
    if (!streq (zcert_meta (cert, "name") ? zcert_meta (cert, "name") : "", cfg->node)) {
        dlb_error ("%s_secret is the key of '%s', not of this node (%s)", path,
                   zcert_meta (cert, "name"), cfg->node);
        zcert_destroy (&cert);
        return NULL;
    }
    dlb_keys_t *self = calloc (1, sizeof *self);
    assert (self);
    snprintf (self->public_key, sizeof self->public_key, "%s", zcert_public_txt (cert));
    snprintf (self->secret_key, sizeof self->secret_key, "%s", zcert_secret_txt (cert));
    zcert_destroy (&cert);
    snprintf (self->trust.dir, sizeof self->trust.dir, "%s/%s", cfg->keys,
              DLB_KEYS_TRUSTED);
    pthread_mutex_lock (&s_lock);
    if (!s_zap)
        s_zap = zactor_new (s_zap_actor, NULL);
    s_zap_users++;
    pthread_mutex_unlock (&s_lock);
    return self;
}

void dlb_keys_destroy (dlb_keys_t **self_p)
{
    assert (self_p);
    dlb_keys_t *self = *self_p;
    if (!self)
        return;
    zactor_t *zap = NULL;
    pthread_mutex_lock (&s_lock);
    if (--s_zap_users == 0) {
        zap = s_zap;
        s_zap = NULL;
    }
    pthread_mutex_unlock (&s_lock);
    //  Outside the lock: the actor may need it to answer a last request.
    zactor_destroy (&zap);
    free (self->trust.entries);
    memset (self, 0, sizeof *self); //  no copy of the secret survives
    free (self);
    *self_p = NULL;
}

void dlb_keys_server (dlb_keys_t *self, zsock_t *sock, const char *role, const char *what)
{
    char domain[32];
    snprintf (domain, sizeof domain, "dlb-%d", s_domain (self->trust.dir, role, what));
    zsock_set_zap_domain (sock, domain);
    zsock_set_curve_server (sock, 1);
    zsock_set_curve_publickey (sock, self->public_key);
    zsock_set_curve_secretkey (sock, self->secret_key);
    s_watch (sock, what, false);
}

int dlb_keys_client (dlb_keys_t *self, zsock_t *sock, const char *name)
{
    const s_entry_t *entry = s_trust_find (&self->trust, NULL, name, NULL, "node");
    if (!entry)
        return -1;
    zsock_set_curve_serverkey (sock, entry->key);
    zsock_set_curve_publickey (sock, self->public_key);
    zsock_set_curve_secretkey (sock, self->secret_key);
    s_watch (sock, entry->name, true);
    return 0;
}

const char *dlb_keys_name_at (dlb_keys_t *self, const char *address)
{
    const s_entry_t *entry = s_trust_find (&self->trust, NULL, NULL, address, "node");
    return entry ? entry->name : NULL;
}

const char *dlb_keys_sender (zframe_t *frame)
{
    const char *user = frame ? zframe_meta (frame, "User-Id") : NULL;
    return user && *user ? user : NULL;
}

//  ---------------------------------------------------------------------
//  Self-test: keys made, a secret open to others refused, and on a keyed
//  PULL only a trusted node's messages arrive, named by its key.

#define S_TEST_PORT_BASE                                                                 \
    7000 //  node X's address in the self-test: port base + 'X' (not bound)

static dlb_keys_t *s_test_keys (const char *dir, const char *node, dlb_config_t *cfg)
{
    char keys[DLB_TEXT_MAX];
    snprintf (keys, sizeof keys, "%s/%s", dir, node);
    char *args[] = {"t", "--node", (char *) node, "--keys", keys};
    assert (dlb_config_parse (cfg, 5, args, "t", "test") == 0);
    return dlb_keys_new (cfg);
}

static void s_test_pair (const char *dir, const char *node, const char *role)
{
    char path[DLB_TEXT_MAX], err[DLB_TEXT_MAX * 2];
    snprintf (path, sizeof path, "%s/%s", dir, node);
    assert (dlb_service_mkdirs (path) == 0);
    snprintf (path, sizeof path, "%s/%s/%s", dir, node,
              streq (role, "node") ? DLB_KEYS_NODE : DLB_KEYS_ADMIN);
    char address[32];
    snprintf (address, sizeof address, "127.0.0.1:%d", S_TEST_PORT_BASE + node[0]);
    assert (dlb_keys_generate (path, node, role, address, err, sizeof err) == 0);
}

//  Makes FROM's public cert trusted by TO.
static void s_test_trust (const char *dir, const char *from, const char *to)
{
    char source[DLB_TEXT_MAX], target[DLB_TEXT_MAX];
    snprintf (target, sizeof target, "%s/%s/%s", dir, to, DLB_KEYS_TRUSTED);
    assert (dlb_service_mkdirs (target) == 0);
    snprintf (source, sizeof source, "%s/%s/%s", dir, from, DLB_KEYS_NODE);
    if (access (source, F_OK))
        snprintf (source, sizeof source, "%s/%s/%s", dir, from, DLB_KEYS_ADMIN);
    snprintf (target, sizeof target, "%s/%s/%s/%s.cert", dir, to, DLB_KEYS_TRUSTED, from);
    zfile_t *file = zfile_new (NULL, source);
    assert (file && zfile_input (file) == 0);
    zchunk_t *chunk = zfile_read (file, zfile_cursize (file), 0);
    FILE *out = fopen (target, "w");
    assert (chunk && out);
    fwrite (zchunk_data (chunk), 1, zchunk_size (chunk), out);
    fclose (out);
    zchunk_destroy (&chunk);
    zfile_destroy (&file);
}

//  A PUSH to endpoint with B's keys as a client of A (keys NULL: none).
static zsock_t *s_test_push (dlb_keys_t *keys, const char *endpoint)
{
    zsock_t *push = zsock_new (ZMQ_PUSH);
    zsock_set_linger (push, 0);
    if (keys)
        assert (dlb_keys_client (keys, push, "a") == 0);
    assert (zsock_connect (push, "%s", endpoint) == 0);
    return push;
}

void dlb_keys_test (bool verbose)
{
    if (!verbose)
        dlb_log_set_level (DLB_LOG_ERROR);
    char dir[] = "/tmp/dlb_keys_test_XXXXXX";
    assert (mkdtemp (dir));
    s_test_pair (dir, "a", "node");
    s_test_pair (dir, "b", "node");
    s_test_pair (dir, "c", "node");
    s_test_pair (dir, "u", "client");
    s_test_trust (dir, "b", "a"); //  a trusts b and the user, not c
    s_test_trust (dir, "u", "a");
    s_test_trust (dir, "a", "b");
    s_test_trust (dir, "a", "c");

    //  A second pair never replaces the first.
    char path[DLB_TEXT_MAX], err[DLB_TEXT_MAX * 2];
    snprintf (path, sizeof path, "%s/a/%s", dir, DLB_KEYS_NODE);
    assert (dlb_keys_generate (path, "a", "node", NULL, err, sizeof err) == -1);
    //  A secret others may read is refused.
    snprintf (path, sizeof path, "%s/a/%s_secret", dir, DLB_KEYS_NODE);
    assert (chmod (path, 0640) == 0);
    dlb_config_t cfg_a, cfg_b, cfg_c;
    assert (s_test_keys (dir, "a", &cfg_a) == NULL);
    assert (chmod (path, 0600) == 0);
    //  A pair under another node's name is refused.
    char *args[] = {"t", "--node", "z", "--keys", cfg_a.keys};
    assert (dlb_config_parse (&cfg_c, 5, args, "t", "test") == 0);
    assert (dlb_keys_new (&cfg_c) == NULL);

    dlb_keys_t *a = s_test_keys (dir, "a", &cfg_a), *b = s_test_keys (dir, "b", &cfg_b),
               *c = s_test_keys (dir, "c", &cfg_c);
    assert (a && b && c);
    char at_a[DLB_ADDR_MAX];
    snprintf (at_a, sizeof at_a, "127.0.0.1:%d", S_TEST_PORT_BASE + 'a');
    assert (streq (dlb_keys_name_at (b, at_a), "a"));
    assert (dlb_keys_name_at (b, "127.0.0.1:1") == NULL);
    zsock_t *nowhere = zsock_new (ZMQ_PUSH);
    assert (dlb_keys_client (a, nowhere, "nobody") == -1);
    zsock_destroy (&nowhere);

    zsock_t *pull = zsock_new (ZMQ_PULL);
    zsock_set_linger (pull, 0);
    zsock_set_rcvtimeo (pull, 10000);
    dlb_keys_server (a, pull, "node", "test");
    assert (zsock_bind (pull, "tcp://127.0.0.1:*") > 0);
    const char *endpoint = zsock_endpoint (pull);

    //  Refused: an untrusted node, a plaintext peer, a trusted user key on
    //  a port for nodes. Then a trusted node's message arrives, named.
    zsock_t *untrusted = s_test_push (c, endpoint), *plain = s_test_push (NULL, endpoint);
    zsock_t *user = zsock_new (ZMQ_PUSH);
    zsock_set_linger (user, 0);
    snprintf (path, sizeof path, "%s/u/%s", dir, DLB_KEYS_ADMIN);
    zcert_t *user_cert = dlb_keys_load_secret (path, err, sizeof err);
    assert (user_cert);
    assert (dlb_keys_client (b, user, "a") == 0); //  a's server key
    zcert_apply (user_cert, user);                //  the user's own pair
    assert (zsock_connect (user, "%s", endpoint) == 0);
    zstr_send (untrusted, "forged");
    zstr_send (plain, "plain");
    zstr_send (user, "user");
    zsock_t *trusted = s_test_push (b, endpoint);
    zstr_send (trusted, "hello");
    zframe_t *frame = zframe_recv (pull);
    assert (frame && zframe_streq (frame, "hello"));
    assert (streq (dlb_keys_sender (frame), "b"));
    zframe_destroy (&frame);
    //  Nothing else comes: the refused connections never got through.
    zsock_set_rcvtimeo (pull, 300);
    assert (zframe_recv (pull) == NULL);

    zcert_destroy (&user_cert);
    zsock_destroy (&user);
    zsock_destroy (&trusted);
    zsock_destroy (&untrusted);
    zsock_destroy (&plain);
    zsock_destroy (&pull);
    dlb_keys_destroy (&a);
    dlb_keys_destroy (&b);
    dlb_keys_destroy (&c);
    zdir_t *tree = zdir_new (dir, NULL);
    zdir_remove (tree, true);
    zdir_destroy (&tree);
    dlb_log_set_level (DLB_LOG_INFO);
}
