/*  dlb_replay_net: replays a trace's network rates (bytes/s, the net_out_bps
    and net_in_bps columns of dlb-collect) as UDP datagrams to and from a
    sink, one trace sample per interval; and the sink, which a scenario runs
    on another host or in another network namespace. The datagrams and the
    pacing are described in dlb_replay_net.c.                             */
#ifndef DLB_REPLAY_NET_H_INCLUDED
#define DLB_REPLAY_NET_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dlb_pace.h"

#define DLB_REPLAY_NET_PACKET_BYTES 1400      //  bytes of UDP payload per datagram
#define DLB_REPLAY_NET_TICK_MSECS   20        //  msecs between bursts of datagrams
#define DLB_REPLAY_NET_REQUEST_MAX  (1 << 20) //  bytes a sink sends back per request
#define DLB_REPLAY_NET_PEERS        64        //  senders a sink keeps counters for
#define DLB_REPLAY_NET_QUERY_MSECS  200       //  msecs to wait for the sink's count
#define DLB_REPLAY_NET_QUERY_TRIES  5         //  queries before giving up on it

typedef struct _dlb_replay_net_t dlb_replay_net_t;

typedef struct {
    const double *out_bps; //  bytes/s to send per sample; borrowed
    const double *in_bps;  //  bytes/s to have sent back per sample, or NULL
    dlb_pace_grid_t grid;  //  count: samples in each; report: rows as in _run
} dlb_replay_net_config_t;

typedef struct {
    dlb_pace_tally_t out_bytes, out_packets; //  per interval, /s, target and achieved
    dlb_pace_tally_t in_bytes, in_packets;   //  (in: only with in_bps)
    bool sink_known;                         //  the sink answered the final count
    uint64_t sink_packets; //  datagrams the sink received from us in all
    uint64_t sink_bytes;   //  and their payload bytes
    uint64_t sent_packets; //  datagrams we sent in all
    bool stopped;          //  ended by dlb_pace_stop
} dlb_replay_net_result_t;

//  Creates a sender to the sink at host:port (a name or a numeric IPv4 or
//  IPv6 address). Returns NULL after logging if the address does not resolve
//  or no socket can be made.
dlb_replay_net_t *dlb_replay_net_new (const char *host, const char *port);

//  Destroys the sender. Cannot fail; accepts NULL.
void dlb_replay_net_destroy (dlb_replay_net_t **self_p);

//  Replays the rates until the trace ends (never with loop) or a stop, then
//  asks the sink how much arrived. Writes to the report, per interval,
//  "index,target_out_bps,achieved_out_bps,target_out_pps,achieved_out_pps,
//  target_in_bps,achieved_in_bps,target_in_pps,achieved_in_pps" (achieved
//  out: accepted by the kernel; in: received). Returns 0 with the result
//  filled in, or -1 after logging if the report cannot be written. A sink
//  that is not there is not an error: nothing arrives, and the result says so.
int dlb_replay_net_run (dlb_replay_net_t *self, const dlb_replay_net_config_t *config,
                        dlb_replay_net_result_t *result);

//  Runs a sink on host:port (port "0": one the OS picks) until dlb_pace_stop.
//  Once bound, it writes "port=N\n" to announce (flushed) if not NULL.
//  Returns 0 after a stop, or -1 after logging if it cannot bind.
int dlb_replay_net_sink (const char *host, const char *port, FILE *announce);

//  Self-test.
void dlb_replay_net_test (bool verbose);

#endif
