/*  dlb_replay_net: replays network rates as UDP datagrams to and from a sink.

    Datagrams (all integers big-endian), a 24-byte header:

        0  "DLBN"        magic
        4  1             version; a datagram with another is ignored
        5  kind          'D' data to the sink, 'R' a request to send back,
                         'B' data sent back, 'Q' a query of the counts,
                         'A' the sink's answer to a query
        6  0 (2 bytes)   reserved
        8  u64 first     R: bytes wanted back; A: datagrams received ('D')
        16 u64 second    A: their bytes

    D and B are padded to DLB_REPLAY_NET_PACKET_BYTES of UDP payload; R, Q and
    A are the header alone. UDP, so that a datagram is a packet (one IP packet
    below the path MTU) and packets/s can be replayed, as the seed did; the
    bytes counted are UDP payload bytes, which is 2-3 % less than an
    interface counts for the same packets (IP, UDP and link headers).

    Sender. Interval i (seconds_per_sample T, on a monotonic grid from
    config->grid.start) prescribes out_i and in_i bytes/s. Every tick
    (DLB_REPLAY_NET_TICK_MSECS) it works out the datagrams due by the tick's
    end, round (out_i x (tick end - interval start) / packet), sends those
    not yet sent, asks the sink in one R for the in-datagrams due and not yet
    asked for, and waits for the sink's B datagrams until the tick's end. A
    send the kernel refuses (buffer full, no sink: ECONNREFUSED) is not
    counted and the lag carries to the next tick, so loops stay bounded by the
    trace's rates and end with the trace. At the end it queries the sink for
    the D datagrams that arrived from its address (up to
    DLB_REPLAY_NET_QUERY_TRIES times).

    Sink. One UDP socket; counters per sender address (the last
    DLB_REPLAY_NET_PEERS senders, the oldest forgotten); an R is answered
    with at most DLB_REPLAY_NET_REQUEST_MAX bytes of B datagrams at once, and
    a Q with an A. Anything else is counted and ignored. Like any UDP
    responder it answers whoever the source address claims to be: bind it to
    loopback or to an address in a namespace made for the scenario.      */
#include "dlb_replay_net.h"

#include "dlb_log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_MAGIC         "DLBN"
#define S_VERSION       1
#define S_HEADER_BYTES  24
#define S_MSECS_PER_SEC 1e3

struct _dlb_replay_net_t {
    int fd; //  UDP, connected to the sink, non-blocking
    char name[128];
};

//  Writes a datagram header into buffer. Cannot fail.
static void s_header (unsigned char *buffer, char kind, uint64_t first, uint64_t second)
{
    memcpy (buffer, S_MAGIC, 4);
    buffer[4] = S_VERSION;
    buffer[5] = (unsigned char) kind;
    buffer[6] = buffer[7] = 0;
    for (int byte = 0; byte < 8; byte++) {
        buffer[8 + byte] = (unsigned char) (first >> (56 - 8 * byte));
        buffer[16 + byte] = (unsigned char) (second >> (56 - 8 * byte));
    }
}

//  Reads a datagram header. Returns its kind, or 0 if it is not one of ours.
static char s_parse (const unsigned char *buffer, ssize_t size, uint64_t *first,
                     uint64_t *second)
{
    if (size < S_HEADER_BYTES || memcmp (buffer, S_MAGIC, 4) != 0 ||
        buffer[4] != S_VERSION)
        return 0;
    *first = *second = 0;
    for (int byte = 0; byte < 8; byte++) {
        *first = *first << 8 | buffer[8 + byte];
        *second = *second << 8 | buffer[16 + byte];
    }
    return (char) buffer[5];
}

//  Resolves host:port to a UDP address. Returns the list (freeaddrinfo),
//  or NULL after logging.
static struct addrinfo *s_resolve (const char *host, const char *port, bool passive)
{
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM,
                             .ai_flags = passive ? AI_PASSIVE : 0};
    struct addrinfo *found = NULL;
    int rc = getaddrinfo (host, port, &hints, &found);
    if (rc != 0) {
        dlb_error ("network replay: cannot resolve %s:%s: %s", host ? host : "*", port,
                   gai_strerror (rc));
        return NULL;
    }
    return found;
}

dlb_replay_net_t *dlb_replay_net_new (const char *host, const char *port)
{
    assert (host && port);
    struct addrinfo *found = s_resolve (host, port, false);
    if (!found)
        return NULL;
    dlb_replay_net_t *self = calloc (1, sizeof *self);
    if (self) {
        snprintf (self->name, sizeof self->name, "%s:%s", host, port);
        self->fd =
            socket (found->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (self->fd < 0 || connect (self->fd, found->ai_addr, found->ai_addrlen) != 0) {
            dlb_error ("network replay: cannot open a socket to %s: %s", self->name,
                       strerror (errno));
            if (self->fd >= 0)
                close (self->fd);
            free (self);
            self = NULL;
        }
    }
    freeaddrinfo (found);
    return self;
}

void dlb_replay_net_destroy (dlb_replay_net_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        close ((*self_p)->fd);
        free (*self_p);
        *self_p = NULL;
    }
}

//  The sender's counts in the current interval.
typedef struct {
    uint64_t sent;      //  D datagrams sent
    uint64_t asked;     //  B datagrams asked for
    uint64_t received;  //  B datagrams received
    bool refused_noted; //  ECONNREFUSED logged (once a run)
    bool answered;      //  an A arrived
    uint64_t sink_packets, sink_bytes;
} s_counts_t;

//  Receives what is waiting on the socket. Cannot fail.
static void s_drain (dlb_replay_net_t *self, s_counts_t *counts)
{
    unsigned char buffer[DLB_REPLAY_NET_PACKET_BYTES];
    ssize_t size;
    while ((size = recv (self->fd, buffer, sizeof buffer, 0)) >= 0 ||
           errno == ECONNREFUSED) {
        uint64_t first, second;
        char kind = size >= 0 ? s_parse (buffer, size, &first, &second) : 0;
        if (kind == 'B')
            counts->received++;
        else if (kind == 'A') {
            counts->answered = true;
            counts->sink_packets = first;
            counts->sink_bytes = second;
        }
    }
}

//  Sends one datagram of `size` bytes. Returns 0, or -1 if the kernel did not
//  take it (the buffer is full, or no sink: noted once).
static int s_send (dlb_replay_net_t *self, const unsigned char *buffer, size_t size,
                   s_counts_t *counts)
{
    if (send (self->fd, buffer, size, 0) == (ssize_t) size)
        return 0;
    if (errno == ECONNREFUSED && !counts->refused_noted) {
        dlb_warn ("network replay: no sink at %s (connection refused); going on",
                  self->name);
        counts->refused_noted = true;
    }
    return -1;
}

//  Asks the sink for its counts of our datagrams. Cannot fail: the result
//  says whether it answered.
static void s_query (dlb_replay_net_t *self, s_counts_t *counts)
{
    unsigned char query[S_HEADER_BYTES];
    s_header (query, 'Q', 0, 0);
    for (int attempt = 0; attempt < DLB_REPLAY_NET_QUERY_TRIES && !counts->answered;
         attempt++) {
        s_send (self, query, sizeof query, counts);
        //  Not dlb_pace_wait_fd: this runs after a stop too.
        struct pollfd item = {.fd = self->fd, .events = POLLIN};
        double until = dlb_pace_now () + DLB_REPLAY_NET_QUERY_MSECS / S_MSECS_PER_SEC;
        while (!counts->answered && dlb_pace_now () < until &&
               poll (&item, 1, DLB_REPLAY_NET_QUERY_MSECS) > 0)
            s_drain (self, counts);
    }
}

//  Sends the D datagrams due `elapsed` secs into the interval and not sent
//  yet, and asks in one R for the B datagrams due and not asked for yet.
//  Cannot fail: what the kernel refuses stays due.
static void s_send_due (dlb_replay_net_t *self, s_counts_t *counts,
                        const unsigned char *packet, double out_rate, double in_rate,
                        double elapsed)
{
    uint64_t out_due =
        (uint64_t) llround (out_rate * elapsed / DLB_REPLAY_NET_PACKET_BYTES);
    while (counts->sent < out_due &&
           s_send (self, packet, DLB_REPLAY_NET_PACKET_BYTES, counts) == 0)
        counts->sent++;
    uint64_t in_due =
        (uint64_t) llround (in_rate * elapsed / DLB_REPLAY_NET_PACKET_BYTES);
    if (in_due > counts->asked) {
        unsigned char request[S_HEADER_BYTES];
        s_header (request, 'R', (in_due - counts->asked) * DLB_REPLAY_NET_PACKET_BYTES,
                  0);
        if (s_send (self, request, sizeof request, counts) == 0)
            counts->asked = in_due;
    }
}

int dlb_replay_net_run (dlb_replay_net_t *self, const dlb_replay_net_config_t *config,
                        dlb_replay_net_result_t *result)
{
    assert (self && config && result);
    assert (config->out_bps && config->grid.count > 0 &&
            config->grid.seconds_per_sample > 0);
    memset (result, 0, sizeof *result);
    dlb_pace_init ();
    unsigned char packet[DLB_REPLAY_NET_PACKET_BYTES];
    memset (packet, 0, sizeof packet);
    s_header (packet, 'D', 0, 0);
    const double length = config->grid.seconds_per_sample;
    const double tick = DLB_REPLAY_NET_TICK_MSECS / S_MSECS_PER_SEC;
    s_counts_t counts = {0};
    s_drain (self, &counts); //  nothing from an earlier run counts
    int rc = 0;
    size_t index = 0;
    dlb_pace_sleep_until (config->grid.start);
    while (!dlb_pace_stopping ()) {
        size_t sample = index % config->grid.count;
        double out_rate = config->out_bps[sample];
        double in_rate = config->in_bps ? config->in_bps[sample] : 0;
        double interval_end = dlb_pace_grid_end (&config->grid, index);
        if (dlb_pace_now () >= interval_end) {
            //  What a late wake-up left unsent still belongs to this interval.
            s_send_due (self, &counts, packet, out_rate, in_rate, length);
            double packet_bytes = DLB_REPLAY_NET_PACKET_BYTES;
            double out_pps = (double) counts.sent / length;
            double in_pps = (double) counts.received / length;
            dlb_pace_tally_add (&result->out_bytes, out_rate, out_pps * packet_bytes);
            dlb_pace_tally_add (&result->out_packets, out_rate / packet_bytes, out_pps);
            if (config->in_bps) {
                dlb_pace_tally_add (&result->in_bytes, in_rate, in_pps * packet_bytes);
                dlb_pace_tally_add (&result->in_packets, in_rate / packet_bytes, in_pps);
            }
            if (config->grid.report &&
                (fprintf (config->grid.report,
                          "%zu,%.0f,%.0f,%.1f,%.1f,%.0f,%.0f,%.1f,%.1f\n", index,
                          out_rate, out_pps * packet_bytes, out_rate / packet_bytes,
                          out_pps, in_rate, in_pps * packet_bytes, in_rate / packet_bytes,
                          in_pps) < 0 ||
                 fflush (config->grid.report) != 0)) {
                dlb_error ("cannot write the network report: %s", strerror (errno));
                rc = -1;
                break;
            }
            result->sent_packets += counts.sent;
            counts.sent = counts.asked = counts.received = 0;
            if (!dlb_pace_grid_next (&config->grid, &index))
                break;
            continue;
        }
        double tick_end = fmin (dlb_pace_now () + tick, interval_end);
        s_send_due (self, &counts, packet, out_rate, in_rate,
                    tick_end - (interval_end - length));
        while (dlb_pace_wait_fd (self->fd, POLLIN, tick_end) == 1)
            s_drain (self, &counts);
    }
    result->sent_packets += counts.sent;
    result->stopped = dlb_pace_stopping () && rc == 0;
    s_query (self, &counts);
    result->sink_known = counts.answered;
    result->sink_packets = counts.sink_packets;
    result->sink_bytes = counts.sink_bytes;
    return rc;
}

//  --------------------------------------------------------------------------
//  Sink

typedef struct {
    struct sockaddr_storage address;
    socklen_t length; //  0: free
    uint64_t packets, bytes;
    uint64_t seen; //  when last heard from, in datagrams received by the sink
} s_peer_t;

//  Finds the sender's counters, taking the oldest slot for a new one.
static s_peer_t *s_peer (s_peer_t *peers, const struct sockaddr_storage *address,
                         socklen_t length, uint64_t clock)
{
    s_peer_t *oldest = &peers[0];
    for (size_t index = 0; index < DLB_REPLAY_NET_PEERS; index++) {
        s_peer_t *peer = &peers[index];
        if (peer->length == length && memcmp (&peer->address, address, length) == 0) {
            peer->seen = clock;
            return peer;
        }
        if (peer->length == 0 || peer->seen < oldest->seen)
            oldest = peer;
    }
    memset (oldest, 0, sizeof *oldest);
    memcpy (&oldest->address, address, length);
    oldest->length = length;
    oldest->seen = clock;
    return oldest;
}

//  Binds the sink's socket. Returns it, or -1 after logging.
static int s_sink_bind (const char *host, const char *port, FILE *announce)
{
    struct addrinfo *found = s_resolve (host, port, true);
    if (!found)
        return -1;
    int fd = socket (found->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind (fd, found->ai_addr, found->ai_addrlen) != 0) {
        dlb_error ("network sink: cannot bind %s:%s: %s", host ? host : "*", port,
                   strerror (errno));
        if (fd >= 0)
            close (fd);
        freeaddrinfo (found);
        return -1;
    }
    freeaddrinfo (found);
    struct sockaddr_storage bound;
    socklen_t bound_length = sizeof bound;
    getsockname (fd, (struct sockaddr *) &bound, &bound_length);
    int bound_port =
        ntohs (bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &bound)->sin6_port
                                           : ((struct sockaddr_in *) &bound)->sin_port);
    dlb_info ("network sink on %s port %d", host ? host : "*", bound_port);
    if (announce) {
        fprintf (announce, "port=%d\n", bound_port);
        fflush (announce);
    }
    return fd;
}

//  Answers one datagram from a sender. Cannot fail (what cannot be sent is
//  dropped, as UDP would).
static void s_sink_answer (int fd, s_peer_t *peer, const unsigned char *buffer,
                           ssize_t size, uint64_t *ignored)
{
    uint64_t first, second;
    char kind = s_parse (buffer, size, &first, &second);
    const struct sockaddr *to = (const struct sockaddr *) &peer->address;
    unsigned char reply[DLB_REPLAY_NET_PACKET_BYTES];
    memset (reply, 0, sizeof reply);
    if (kind == 'D') {
        peer->packets++;
        peer->bytes += (uint64_t) size;
    }
    else if (kind == 'R') {
        uint64_t bytes =
            first < DLB_REPLAY_NET_REQUEST_MAX ? first : DLB_REPLAY_NET_REQUEST_MAX;
        s_header (reply, 'B', 0, 0);
        for (uint64_t sent = 0; sent < bytes; sent += sizeof reply)
            if (sendto (fd, reply, sizeof reply, 0, to, peer->length) < 0)
                break; //  buffer full: the sender sees the shortfall
    }
    else if (kind == 'Q') {
        s_header (reply, 'A', peer->packets, peer->bytes);
        sendto (fd, reply, S_HEADER_BYTES, 0, to, peer->length);
    }
    else if ((*ignored)++ == 0)
        dlb_warn ("network sink: ignoring a datagram that is not dlb-replay's "
                  "(%zd bytes); later ones are only counted",
                  size);
}

//  Runs the sink until a stop or until stop_fd is readable.
static int s_sink_run (const char *host, const char *port, FILE *announce, int stop_fd)
{
    dlb_pace_init ();
    int fd = s_sink_bind (host, port, announce);
    if (fd < 0)
        return -1;
    s_peer_t *peers = calloc (DLB_REPLAY_NET_PEERS, sizeof *peers);
    if (!peers) {
        dlb_error ("network sink: out of memory");
        close (fd);
        return -1;
    }
    uint64_t clock = 0, ignored = 0;
    unsigned char buffer[DLB_REPLAY_NET_PACKET_BYTES];
    struct pollfd items[3] = {{.fd = fd, .events = POLLIN},
                              {.fd = dlb_pace_fd (), .events = POLLIN},
                              {.fd = stop_fd, .events = POLLIN}};
    while (!dlb_pace_stopping ()) {
        if (poll (items, 3, -1) < 0 && errno != EINTR)
            break;
        if (items[1].revents || items[2].revents)
            break;
        struct sockaddr_storage from;
        socklen_t from_length = sizeof from;
        ssize_t size;
        while ((size = recvfrom (fd, buffer, sizeof buffer, 0, (struct sockaddr *) &from,
                                 &from_length)) >= 0) {
            s_peer_t *peer = s_peer (peers, &from, from_length, ++clock);
            s_sink_answer (fd, peer, buffer, size, &ignored);
            from_length = sizeof from;
        }
    }
    dlb_info ("network sink stopping (%llu datagrams received, %llu not ours)",
              (unsigned long long) clock, (unsigned long long) ignored);
    free (peers);
    close (fd);
    return 0;
}

int dlb_replay_net_sink (const char *host, const char *port, FILE *announce)
{
    assert (port);
    return s_sink_run (host, port, announce, -1);
}

//  --------------------------------------------------------------------------
//  Self-test

#define S_TEST_SECS 0.3                                   //  secs per sample
#define S_TEST_RATE (100.0 * DLB_REPLAY_NET_PACKET_BYTES) //  bytes/s: 100 packets/s

typedef struct {
    int announce[2]; //  pipe: the sink's "port=N"
    int stop[2];     //  pipe: readable = stop
} s_test_sink_t;

static void *s_test_sink (void *arg)
{
    s_test_sink_t *sink = arg;
    FILE *announce = fdopen (sink->announce[1], "w");
    assert (announce);
    assert (s_sink_run ("127.0.0.1", "0", announce, sink->stop[0]) == 0);
    fclose (announce);
    return NULL;
}

void dlb_replay_net_test (bool verbose)
{
    assert (dlb_replay_net_new ("no such host.invalid", "1") == NULL);
    unsigned char header[S_HEADER_BYTES];
    uint64_t first, second;
    s_header (header, 'A', 1234567890123ULL, 42);
    assert (s_parse (header, sizeof header, &first, &second) == 'A');
    assert (first == 1234567890123ULL && second == 42);
    assert (s_parse (header, sizeof header - 1, &first, &second) == 0);
    header[4] = S_VERSION + 1;
    assert (s_parse (header, sizeof header, &first, &second) == 0);

    s_test_sink_t sink;
    assert (pipe (sink.announce) == 0 && pipe (sink.stop) == 0);
    pthread_t thread;
    assert (pthread_create (&thread, NULL, s_test_sink, &sink) == 0);
    char line[32] = "";
    FILE *announced = fdopen (sink.announce[0], "r");
    assert (announced && fgets (line, sizeof line, announced));
    int port;
    assert (sscanf (line, "port=%d", &port) == 1 && port > 0);
    char port_text[16];
    snprintf (port_text, sizeof port_text, "%d", port);

    //  A datagram that is not ours is ignored; the sink still answers.
    int raw = socket (AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    inet_pton (AF_INET, "127.0.0.1", &to.sin_addr);
    assert (sendto (raw, "garbage", 7, 0, (struct sockaddr *) &to, sizeof to) == 7);
    close (raw);

    const double out[] = {S_TEST_RATE, 0, S_TEST_RATE / 2};
    const double in[] = {0, S_TEST_RATE, S_TEST_RATE / 2};
    dlb_replay_net_t *net = dlb_replay_net_new ("127.0.0.1", port_text);
    assert (net);
    FILE *report = tmpfile ();
    dlb_replay_net_config_t config = {
        out, in, {3, S_TEST_SECS, dlb_pace_now (), false, report}};
    dlb_replay_net_result_t result;
    assert (dlb_replay_net_run (net, &config, &result) == 0);
    assert (result.out_bytes.intervals == 3 && result.in_bytes.intervals == 3);
    //  Datagrams due: 30 + 0 + 15 out (loopback drops none).
    assert (result.sent_packets == 45);
    assert (result.sink_known && result.sink_packets == 45);
    assert (result.sink_bytes == 45 * DLB_REPLAY_NET_PACKET_BYTES);
    rewind (report);
    char row[256];
    assert (fgets (row, sizeof row, report) &&
            strncmp (row, "0,140000,140000,", 16) == 0);
    fclose (report);
    if (verbose)
        printf ("\n   out %.0f of %.0f, in %.0f of %.0f bytes/s; sink got %llu\n",
                result.out_bytes.achieved / 3, result.out_bytes.target / 3,
                result.in_bytes.achieved / 3, result.in_bytes.target / 3,
                (unsigned long long) result.sink_packets);
    dlb_replay_net_destroy (&net);
    assert (net == NULL);

    assert (write (sink.stop[1], "x", 1) == 1);
    pthread_join (thread, NULL);
    fclose (announced);
    close (sink.stop[0]);
    close (sink.stop[1]);
}
