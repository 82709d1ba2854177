/*  dlb_status: a node's record in the status reply, packed and read.     */
#include "dlb_status.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

//  The numbers of a record, by key, in the order they are packed.
typedef struct {
    const char *key;
    size_t offset;
} s_number_t;

static const s_number_t s_numbers[] = {
    {"owner", offsetof (dlb_status_node_t, owner)},
    {"owner_forecast", offsetof (dlb_status_node_t, owner_forecast)},
    {"avail", offsetof (dlb_status_node_t, avail)},
    {"capacity", offsetof (dlb_status_node_t, capacity)},
    {"queue", offsetof (dlb_status_node_t, queue)},
    {"running", offsetof (dlb_status_node_t, running)},
    {"done", offsetof (dlb_status_node_t, done)},
    {"rate", offsetof (dlb_status_node_t, rate)},
    {"sent", offsetof (dlb_status_node_t, sent)},
    {"received", offsetof (dlb_status_node_t, received)},
    {"throttle", offsetof (dlb_status_node_t, throttle)},
    {"cpu", offsetof (dlb_status_node_t, cpu)},
    {"worker_cpu", offsetof (dlb_status_node_t, worker_cpu)},
    {"age", offsetof (dlb_status_node_t, age)},
    {"restarts", offsetof (dlb_status_node_t, restarts)},
};
#define S_NUMBERS (sizeof s_numbers / sizeof s_numbers[0])

static double *s_field (dlb_status_node_t *node, size_t k)
{
    return (double *) ((char *) node + s_numbers[k].offset);
}

void dlb_status_node_pack (dlb_writer_t *w, const dlb_status_node_t *node)
{
    //  the numbers, node, local, policy, stale, peers
    msgpack_pack_map (&w->pk, S_NUMBERS + 5);
    for (size_t k = 0; k < S_NUMBERS; k++)
        dlb_writer_double (w, s_numbers[k].key, *s_field ((dlb_status_node_t *) node, k));
    dlb_writer_str (w, "node", node->node);
    dlb_writer_bool (w, "local", node->local);
    dlb_writer_str (w, "policy", node->policy);
    dlb_writer_bool (w, "stale", node->stale);
    dlb_writer_key (w, "peers");
    uint32_t count = node->peer_count < DLB_PEERS_MAX ? node->peer_count : DLB_PEERS_MAX;
    msgpack_pack_array (&w->pk, count);
    for (uint32_t i = 0; i < count; i++)
        dlb_writer_string (w, node->peers[i]);
}

int dlb_status_node_decode (const msgpack_object *map, dlb_status_node_t *node,
                            char *reason, size_t reason_size)
{
    memset (node, 0, sizeof *node);
    if (!map || map->type != MSGPACK_OBJECT_MAP) {
        snprintf (reason, reason_size, "a node's status is a map");
        return -2;
    }
    if (dlb_obj_str (map, "node", node->node, sizeof node->node) || !*node->node ||
        dlb_obj_bool (map, "local", &node->local)) {
        snprintf (reason, reason_size,
                  "a node's status needs a node (str) and local (bool)");
        return -2;
    }
    for (size_t k = 0; k < S_NUMBERS; k++) {
        double *value = s_field (node, k);
        if (dlb_obj_double (map, s_numbers[k].key, value) || !isfinite (*value))
            *value = 0;
    }
    if (dlb_obj_str (map, "policy", node->policy, sizeof node->policy) || !*node->policy)
        snprintf (node->policy, sizeof node->policy, "?");
    if (dlb_obj_bool (map, "stale", &node->stale))
        node->stale = !node->local;
    const msgpack_object_array *peers;
    if (dlb_obj_array (map, "peers", &peers) == 0)
        for (uint32_t i = 0; i < peers->size && node->peer_count < DLB_PEERS_MAX; i++) {
            const msgpack_object *o = &peers->ptr[i];
            if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 ||
                o->via.str.size >= DLB_NAME_MAX ||
                memchr (o->via.str.ptr, 0, o->via.str.size))
                continue;
            char *name = node->peers[node->peer_count++];
            memcpy (name, o->via.str.ptr, o->via.str.size);
            name[o->via.str.size] = 0;
        }
    return 0;
}

void dlb_status_workload_pack (dlb_writer_t *w, const dlb_status_workload_t *wl)
{
    msgpack_pack_map (&w->pk, DLB_STATUS_WORKLOAD_KEYS);
    dlb_writer_str (w, "id", wl->id);
    dlb_writer_str (w, "state", wl->state);
    dlb_writer_u64 (w, "jobs", wl->jobs);
    dlb_writer_u64 (w, "completed", wl->completed);
    dlb_writer_u64 (w, "elements", wl->elements);
    dlb_writer_u64 (w, "duplicates", wl->duplicates);
    dlb_writer_double (w, "elapsed_s", wl->elapsed_s);
    dlb_writer_bool (w, "verified", wl->verified);
    dlb_writer_str (w, "output", wl->output);
    dlb_writer_str (w, "error", wl->error);
    dlb_writer_u64 (w, "reps", wl->reps);
    dlb_writer_u64 (w, "rejected", wl->rejected);
    dlb_writer_u64 (w, "audited", wl->audited);
    dlb_writer_counts (w, "ran", wl->ran,
                       wl->ran_count < DLB_STATUS_RAN_MAX ? wl->ran_count
                                                          : DLB_STATUS_RAN_MAX);
}

int dlb_status_workload_decode (const msgpack_object *map, dlb_status_workload_t *wl,
                                char *reason, size_t reason_size)
{
    memset (wl, 0, sizeof *wl);
    if (!map || map->type != MSGPACK_OBJECT_MAP) {
        snprintf (reason, reason_size, "a workload's record is a map");
        return -2;
    }
    if (dlb_obj_str (map, "id", wl->id, sizeof wl->id) || !*wl->id ||
        dlb_obj_str (map, "state", wl->state, sizeof wl->state) ||
        !(streq (wl->state, "running") || streq (wl->state, "complete") ||
          streq (wl->state, "failed") || streq (wl->state, "cancelled"))) {
        snprintf (reason, reason_size,
                  "a workload's record needs an id and a state (running, complete, "
                  "failed, cancelled)");
        return -2;
    }
    struct {
        const char *key;
        uint64_t *value;
    } counts[] = {{"jobs", &wl->jobs},         {"completed", &wl->completed},
                  {"elements", &wl->elements}, {"duplicates", &wl->duplicates},
                  {"reps", &wl->reps},         {"rejected", &wl->rejected},
                  {"audited", &wl->audited}};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++)
        if (dlb_obj_u64 (map, counts[k].key, counts[k].value))
            *counts[k].value = 0;
    if (dlb_obj_double (map, "elapsed_s", &wl->elapsed_s) || !isfinite (wl->elapsed_s))
        wl->elapsed_s = 0;
    if (dlb_obj_bool (map, "verified", &wl->verified))
        wl->verified = false;
    if (dlb_obj_str (map, "output", wl->output, sizeof wl->output))
        *wl->output = 0;
    if (dlb_obj_str (map, "error", wl->error, sizeof wl->error))
        *wl->error = 0;
    wl->ran_count = dlb_obj_counts (map, "ran", wl->ran, DLB_STATUS_RAN_MAX);
    return 0;
}

//  Packs node alone and decodes it again into back.
static int s_round_trip (const dlb_status_node_t *node, dlb_status_node_t *back,
                         char *reason, size_t size)
{
    dlb_writer_t w;
    dlb_writer_init_bare (&w);
    dlb_status_node_pack (&w, node);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    int rc = -2;
    if (msgpack_unpack_next (&unpacked, w.buffer.data, w.buffer.size, &offset) ==
        MSGPACK_UNPACK_SUCCESS) {
        assert (unpacked.data.type == MSGPACK_OBJECT_MAP &&
                unpacked.data.via.map.size == DLB_STATUS_KEYS);
        rc = dlb_status_node_decode (&unpacked.data, back, reason, size);
    }
    msgpack_unpacked_destroy (&unpacked);
    dlb_writer_destroy (&w);
    return rc;
}

void dlb_status_test (bool verbose)
{
    (void) verbose;
    char reason[128];
    dlb_status_node_t node;
    //  Bad input first: not a map, no name, no local.
    msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
    assert (dlb_status_node_decode (&nil, &node, reason, sizeof reason) == -2 && *reason);
    assert (dlb_status_node_decode (NULL, &node, reason, sizeof reason) == -2);

    //  A full record comes back as it went.
    dlb_status_node_t a = {.node = "a",
                           .local = true,
                           .queue = 12,
                           .running = 1,
                           .done = 300,
                           .rate = 71.5,
                           .sent = 40,
                           .received = 2,
                           .throttle = 0.5,
                           .policy = "predictive",
                           .cpu = 87,
                           .worker_cpu = 49.5,
                           .owner = 20,
                           .owner_forecast = 25,
                           .avail = 0.5,
                           .capacity = 60,
                           .age = 0,
                           .restarts = 3,
                           .peer_count = 2,
                           .peers = {"b", "c"}};
    dlb_status_node_t back;
    assert (s_round_trip (&a, &back, reason, sizeof reason) == 0);
    assert (memcmp (&a, &back, sizeof a) == 0);

    //  A peer's record without policy, stale or peers (an older node):
    //  defaults; a peer is stale unless it says otherwise.
    dlb_status_node_t b = {.node = "b", .rate = 10};
    dlb_writer_t w;
    dlb_writer_init_bare (&w);
    msgpack_pack_map (&w.pk, 4);
    dlb_writer_str (&w, "node", "b");
    dlb_writer_bool (&w, "local", false);
    dlb_writer_u64 (&w, "rate", 10); //  an integer reads as a number
    dlb_writer_str (&w, "queue", "many");
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    assert (msgpack_unpack_next (&unpacked, w.buffer.data, w.buffer.size, &offset) ==
            MSGPACK_UNPACK_SUCCESS);
    assert (dlb_status_node_decode (&unpacked.data, &back, reason, sizeof reason) == 0);
    assert (streq (back.node, "b") && !back.local && back.stale && back.rate == b.rate &&
            back.queue == 0 && streq (back.policy, "?") && back.peer_count == 0);
    msgpack_unpacked_destroy (&unpacked);
    dlb_writer_destroy (&w);

    //  More peers than a record holds: the first DLB_PEERS_MAX.
    dlb_writer_init_bare (&w);
    msgpack_pack_map (&w.pk, 3);
    dlb_writer_str (&w, "node", "a");
    dlb_writer_bool (&w, "local", true);
    dlb_writer_key (&w, "peers");
    msgpack_pack_array (&w.pk, DLB_PEERS_MAX + 4);
    for (int i = 0; i < DLB_PEERS_MAX + 4; i++)
        dlb_writer_string (&w, i == 1 ? "" : "p");
    msgpack_unpacked_init (&unpacked);
    offset = 0;
    assert (msgpack_unpack_next (&unpacked, w.buffer.data, w.buffer.size, &offset) ==
            MSGPACK_UNPACK_SUCCESS);
    assert (dlb_status_node_decode (&unpacked.data, &back, reason, sizeof reason) == 0);
    assert (back.peer_count == DLB_PEERS_MAX && !back.stale); //  "" skipped
    msgpack_unpacked_destroy (&unpacked);
    dlb_writer_destroy (&w);

    //  A workload's record, there and back; a wrong state is refused.
    dlb_status_workload_t wl = {.id = "a-12001",
                                .state = "complete",
                                .jobs = 64,
                                .completed = 64,
                                .elements = 65536,
                                .duplicates = 1,
                                .reps = 50000,
                                .audited = 8,
                                .elapsed_s = 1.5,
                                .verified = true,
                                .output = "r.npy",
                                .ran_count = 2,
                                .ran = {{"a", 40}, {"b", 24}}};
    dlb_status_workload_t wl_back;
    for (int round = 0; round < 2; round++) {
        dlb_writer_init_bare (&w);
        dlb_status_workload_pack (&w, &wl);
        msgpack_unpacked_init (&unpacked);
        offset = 0;
        assert (msgpack_unpack_next (&unpacked, w.buffer.data, w.buffer.size, &offset) ==
                MSGPACK_UNPACK_SUCCESS);
        assert (unpacked.data.via.map.size == DLB_STATUS_WORKLOAD_KEYS);
        int rc =
            dlb_status_workload_decode (&unpacked.data, &wl_back, reason, sizeof reason);
        if (round == 0)
            assert (rc == 0 && memcmp (&wl, &wl_back, sizeof wl) == 0);
        else
            assert (rc == -2 && *reason);
        msgpack_unpacked_destroy (&unpacked);
        dlb_writer_destroy (&w);
        snprintf (wl.state, sizeof wl.state, "lost");
    }
}
