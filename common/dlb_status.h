/*  dlb_status: the typed record of one node in the control command
    `status`'s reply (its `nodes` array, proto/README.md 7.3): what the
    monitor packs for its own node and for each peer as last heard, and
    what clients (dlbctl, dlb-web) read back, in one place instead of
    hand-counted map sizes and string keys at each end.

    A record is a msgpack map of 20 keys; every number is written as a
    float64, even counts (a client in any language reads one type):

        {owner, owner_forecast, avail, capacity, node, local, queue,
         running, done, rate, sent, received, throttle, policy, cpu,
         worker_cpu, stale, age, peers, restarts}                         */
#ifndef DLB_STATUS_H_INCLUDED
#define DLB_STATUS_H_INCLUDED

#include "dlb_proto.h"

#define DLB_STATUS_POLICY_MAX 16 //  bytes of a policy name with NUL
#define DLB_STATUS_KEYS       20 //  keys of a packed record

typedef struct {
    char node[DLB_NAME_MAX];            //  "?" if a peer did not say
    bool local;                         //  the answering node's own record
    double queue, running, done, rate;  //  worker figures (a peer's STATE)
    double sent, received;              //  jobs given to and taken from peers
    double throttle;                    //  (0, 1]
    char policy[DLB_STATUS_POLICY_MAX]; //  "?" if unknown
    double cpu, worker_cpu;             //  % (worker_cpu: local only)
    double owner, owner_forecast;       //  owner load and its forecast, %
    double avail, capacity;             //  CPUs predicted free, jobs/s
    bool stale;                         //  peer not heard for --stale-after
    double age;                         //  secs since last heard (0: local)
    double restarts;                    //  service restarts the monitor saw (local)
    uint32_t peer_count;                //  names in peers (local only)
    char peers[DLB_PEERS_MAX][DLB_NAME_MAX];
} dlb_status_node_t;

//  A workload's record: an entry of the status reply's `workloads` (the
//  worker STATUS's, copied) and of an ID.done file. A map of 14 keys:
//  {id, state, jobs, completed, elements, duplicates, elapsed_s, verified,
//   output, error, reps, rejected, audited, ran}.
#define DLB_STATUS_STATE_MAX     16                  //  bytes of a state with NUL
#define DLB_STATUS_WORKLOAD_KEYS 14                  //  keys of a packed record
#define DLB_STATUS_RAN_MAX       (DLB_PEERS_MAX + 1) //  nodes in ran

typedef struct {
    char id[DLB_NAME_MAX];
    char state[DLB_STATUS_STATE_MAX]; //  running, complete, failed, cancelled
    uint64_t jobs, completed, elements, duplicates, reps, rejected, audited;
    double elapsed_s; //  since submission, or the makespan once ended
    bool verified;    //  complete and checked
    char output[DLB_TEXT_MAX];
    char error[DLB_TEXT_MAX]; //  "" unless failed or cancelled
    size_t ran_count;
    dlb_count_t ran[DLB_STATUS_RAN_MAX]; //  jobs each node ran
} dlb_status_workload_t;

//  Packs the record as a map of DLB_STATUS_WORKLOAD_KEYS keys. Cannot fail.
void dlb_status_workload_pack (dlb_writer_t *writer,
                               const dlb_status_workload_t *workload);

//  Reads a record. Required: id and state (strs, state one of the four);
//  numbers missing or of another type are 0, strings "" (an over-long one
//  too), ran as dlb_obj_counts reads it. Returns 0, or -2 with a reason
//  (workload undefined). Never asserts on input.
int dlb_status_workload_decode (const msgpack_object *map,
                                dlb_status_workload_t *workload, char *reason,
                                size_t reason_size);

//  Packs the record as a map of DLB_STATUS_KEYS keys (inside an array or
//  a map being written). Cannot fail.
void dlb_status_node_pack (dlb_writer_t *writer, const dlb_status_node_t *node);

//  Reads a record. Required: node (str) and local (bool); numbers missing
//  or of another type are 0 (a node of an older version lacks some), a
//  missing policy "?", stale false for the local record and true for a
//  peer's, peers beyond DLB_PEERS_MAX are left out. Non-finite numbers
//  are 0. Returns 0, or -2 with a reason (node undefined). Never asserts
//  on input.
int dlb_status_node_decode (const msgpack_object *map, dlb_status_node_t *node,
                            char *reason, size_t reason_size);

void dlb_status_test (bool verbose);

#endif
