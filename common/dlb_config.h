/*  dlb_config: the options every node service shares, from the command line
    or the environment (DLB_*), and the node's port map.

    One node uses the ports BASE .. BASE+2 (BASE = --port, default 7100),
    bound to --bind, each keyed (dlb_keys.h), and a private bus of ipc://
    endpoints in RUN = <data-dir>/.dlb/<node>/run (mode 0700, so that no
    other local user reaches them):

        BASE+0          control  ROUTER  monitor    (dlbctl talks here)
        BASE+1          state    PUB     state      (peers subscribe)
        BASE+2          transfer PULL    transfer   (peers push jobs)
        RUN/BASE.bus.S  bus      PUB     service S  (STATUS reports)
        RUN/BASE.in.S   inbox    PULL    service S  (work for S)

    with S the service's name. The offsets DLB_PORT_BUS (k) and
    DLB_PORT_INBOX (k), k = 0 monitor, 1 worker, 2 state, 3 transfer,
    4 adaptor, name the private endpoints in this API.                   */
#ifndef DLB_CONFIG_H_INCLUDED
#define DLB_CONFIG_H_INCLUDED

#include "dlb_proto.h"
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DLB_DEFAULT_PORT            7100
#define DLB_DEFAULT_STATE_PERIOD    250  //  msecs between state publications
#define DLB_DEFAULT_STALE_AFTER     1500 //  msecs of silence before a peer is stale
#define DLB_DEFAULT_SAMPLE_PERIOD   500  //  msecs between hardware samples
#define DLB_DEFAULT_ACK_TIMEOUT     2000 //  msecs before an unacknowledged batch is resent
#define DLB_DEFAULT_BATCH           64   //  jobs per transfer message
#define DLB_DEFAULT_HEARTBEAT       1000 //  msecs between a holder's HOLD reports
#define DLB_DEFAULT_LEASE           6000 //  msecs a HOLD keeps a job leased (6 heartbeats)
#define DLB_DEFAULT_ETA_THRESHOLD   0.05 //  secs of expected-finish difference
#define DLB_DEFAULT_QUEUE_THRESHOLD 30   //  jobs of queue difference (the seed's rule)
#define DLB_ADDR_MAX                128  //  bytes, host or host:port with NUL
//  What one request may make a node allocate or run (README, Bad input).
#define DLB_DEFAULT_MAX_ELEMENTS (1 << 24) //  float64 elements a workload has (128 MiB)
#define DLB_DEFAULT_MAX_JOBS     65536     //  jobs a workload is split into
#define DLB_DEFAULT_MAX_REPS     10000000  //  kernel repetitions a job runs
#define DLB_DEFAULT_MAX_JOB_WORK                                                         \
    ((uint64_t) 1 << 36) //  additions (elements x reps) in one job: ~18 s of a core
//  The node's own state (journal, runtime settings) lives in
//  <data-dir>/DLB_STATE_SUBDIR/<node>, so that nodes may share a data
//  directory; workload files may not name anything under it.
#define DLB_STATE_SUBDIR ".dlb"

enum { DLB_PORT_CONTROL = 0, DLB_PORT_STATE = 1, DLB_PORT_TRANSFER = 2 };
enum {
    DLB_SVC_MONITOR = 0,
    DLB_SVC_WORKER = 1,
    DLB_SVC_STATE = 2,
    DLB_SVC_TRANSFER = 3,
    DLB_SVC_ADAPTOR = 4
};
#define DLB_PORT_BUS(k)   (10 + (k))
#define DLB_PORT_INBOX(k) (20 + (k))
#define DLB_PORT_SPAN     3 //  ports a node uses: BASE .. BASE+2

typedef struct {
    char node[DLB_NAME_MAX];      //  --node / DLB_NODE, default the host name
    int port;                     //  --port / DLB_PORT, base port
    char bind[DLB_ADDR_MAX];      //  --bind / DLB_BIND, external interface
    char advertise[DLB_ADDR_MAX]; //  --advertise / DLB_ADVERTISE, how peers reach us
    char peers[DLB_PEERS_MAX][DLB_ADDR_MAX]; //  --peers / DLB_PEERS, host:port list
    size_t peer_count;
    int threads;      //  --threads / DLB_THREADS
    double throttle;  //  --throttle / DLB_THROTTLE, initial duty cycle
    char policy[16];  //  --policy / DLB_POLICY
    char metric[16];  //  --metric / DLB_METRIC: eta or queue
    double threshold; //  --threshold / DLB_THRESHOLD, < 0 means the metric's default
    double fraction;  //  --fraction / DLB_FRACTION, share of the balancing amount moved
    char cpus[DLB_ADDR_MAX]; //  --cpus / DLB_CPUS, CPUs the worker's threads run on ("":
                             //  any)
    bool idle_priority;      //  --priority idle|normal / DLB_PRIORITY: compute threads
                             //  at the lowest priority (SCHED_IDLE, else nice 19)
    int batch;               //  --batch / DLB_BATCH
    int state_period;        //  --state-period / DLB_STATE_PERIOD, msecs
    int stale_after;         //  --stale-after / DLB_STALE_AFTER, msecs
    int sample_period;       //  --sample-period / DLB_SAMPLE_PERIOD, msecs
    int ack_timeout;         //  --ack-timeout / DLB_ACK_TIMEOUT, msecs
    int heartbeat;           //  --heartbeat / DLB_HEARTBEAT, msecs between HOLDs
    int lease;               //  --lease / DLB_LEASE, msecs a job stays leased
    char data_dir[DLB_TEXT_MAX];  //  --data-dir / DLB_DATA_DIR, the node's files
    char state_dir[DLB_TEXT_MAX]; //  <data-dir>/.dlb/<node>: journal, runtime settings
    char keys[DLB_TEXT_MAX];      //  --keys / DLB_KEYS, default <state-dir>/keys
    bool insecure;                //  --insecure / DLB_INSECURE=1: no keys (loopback only)
    uint64_t max_elements;        //  --max-elements / DLB_MAX_ELEMENTS, per workload
    uint64_t max_jobs;            //  --max-jobs / DLB_MAX_JOBS, per workload
    uint64_t max_reps;            //  --max-reps / DLB_MAX_REPS, per job
    uint64_t max_job_work;        //  --max-job-work / DLB_MAX_JOB_WORK, elements x reps
} dlb_config_t;

//  Fills cfg from defaults, then the environment, then argv (which wins).
//  Returns 0 to go on, 1 if --help was printed (exit 0), 2 if the input was
//  wrong (a message and the usage were printed on stderr; exit 2).
int dlb_config_parse (dlb_config_t *cfg, int argc, char *argv[], const char *program,
                      const char *summary);

//  Endpoint to bind port BASE+offset: external offsets use --bind, the
//  others are ipc:// endpoints in the node's run directory. Cannot fail
//  (dlb_config_parse checked that the longest fits).
void dlb_config_bind (const dlb_config_t *cfg, int offset, char *buf, size_t size);
//  Endpoint to connect to this node's port BASE+offset from this machine.
//  The run directory of the private endpoints.
void dlb_config_run_dir (const dlb_config_t *cfg, char *buf, size_t size);
void dlb_config_local (const dlb_config_t *cfg, int offset, char *buf, size_t size);
//  Endpoint peers use to reach this node's port BASE+offset.
void dlb_config_advertised (const dlb_config_t *cfg, int offset, char *buf, size_t size);
//  Endpoint of peer i's port PEERBASE+offset. Returns -1 if peer i is
//  malformed (checked by dlb_config_parse, so only on API misuse).
int dlb_config_peer (const dlb_config_t *cfg, size_t i, int offset, char *buf,
                     size_t size);

//  Fills set with the CPUs of a list like "0", "0,2" or "0-3". Returns the
//  number of CPUs, or -1 if the list is malformed or names a CPU beyond
//  CPU_SETSIZE. An empty list gives 0 (no pinning).
int dlb_config_cpus (const char *list, cpu_set_t *set);

//  Parses a "host:port" into its parts. Returns 0, or -1 if malformed.
int dlb_config_split_addr (const char *addr, char *host, size_t host_size, int *port);

//  Parses a finite number in [low, high] (the whole text, as strtod reads
//  it). Returns 0 and sets *value, or -1 if text is not one (value unchanged).
int dlb_config_number (const char *text, double low, double high, double *value);

void dlb_config_test (bool verbose);

//  If an argument is --version, prints "PROGRAM VERSION" (the project's
//  version, from CMake) on stdout and returns true. Cannot fail.
bool dlb_config_version (int argc, char *argv[], const char *program);

#endif
