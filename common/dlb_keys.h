/*  dlb_keys: who a node is, and whom it lets in (ZeroMQ CURVE).

    A key is a CZMQ certificate (zcert, ZPL text): FILE holds the public key
    and metadata, FILE_secret the secret key as well (mode 0600). A node's
    keys directory (--keys, default <data-dir>/.dlb/<node>/keys) holds

        node.cert, node.cert_secret   the node's own pair; metadata name (the
                                      node name), role = node, address (the
                                      HOST:PORT its peers list it by)
        admin.cert, admin.cert_secret a user key for dlbctl on this machine
        trusted/                      the allow-list: one public cert per peer
                                      node (role = node) and per user allowed
                                      to control the node (role = client)

    A node's identity is its key. Every socket that faces the network is a
    CURVE server or client: the state and transfer ports admit trusted
    keys of role node, the control port those of role client; a node
    reaches a peer only under the key its trusted cert holds. The ZAP
    handler (one per process) gives each admitted connection the cert's
    name as User-Id, so a service can check a message's claimed sender
    against the key that sent it (dlb_keys_sender). Refused keys and
    failed handshakes (a plaintext peer, a wrong key) are logged with the
    remote address. trusted/ is read again when it changes, so a key added
    or removed takes effect on the next connection, without a restart.  */
#ifndef DLB_KEYS_H_INCLUDED
#define DLB_KEYS_H_INCLUDED

#include "dlb_config.h"
#include <czmq.h>

#define DLB_KEYS_NODE    "node.cert"  //  in the keys directory
#define DLB_KEYS_ADMIN   "admin.cert" //  in the keys directory
#define DLB_KEYS_TRUSTED "trusted"    //  the allow-list directory in it

typedef struct _dlb_keys_t dlb_keys_t;

//  Loads the node's pair and allow-list from cfg->keys. Returns NULL, with
//  the reason logged, if the secret is missing, unreadable, readable by
//  others than its owner, or not the pair of a node named cfg->node.
dlb_keys_t *dlb_keys_new (const dlb_config_t *cfg);
void dlb_keys_destroy (dlb_keys_t **self_p);

//  Makes sock (before its bind) a CURVE server that admits trusted keys of
//  role ROLE ("node" or "client") and logs refused handshakes as WHAT.
void dlb_keys_server (dlb_keys_t *self, zsock_t *sock, const char *role,
                      const char *what);
//  Makes sock (before its connect) a CURVE client of the trusted node
//  named NAME, whose failed handshakes (whatever answers at the address
//  does not hold NAME's key) are logged with the address. Returns 0, or
//  -1 if no trusted cert has that name.
int dlb_keys_client (dlb_keys_t *self, zsock_t *sock, const char *name);
//  The name in the trusted node cert whose address is ADDRESS (HOST:PORT,
//  as in --peers), or NULL.
const char *dlb_keys_name_at (dlb_keys_t *self, const char *address);

//  The authenticated name of the peer a received frame came from, or NULL
//  if it came on a socket without keys.
const char *dlb_keys_sender (zframe_t *frame);

//  Writes a new pair: PATH and PATH_secret (0600), metadata name = NAME,
//  role = ROLE and, if not NULL, address = ADDRESS. Refuses to overwrite
//  an existing secret. Returns 0, or -1 with the reason in err.
int dlb_keys_generate (const char *path, const char *name, const char *role,
                       const char *address, char *err, size_t size);
//  Loads a secret cert for use as a client key: refuses (-1, reason in
//  err) one readable by others or without a secret key.
zcert_t *dlb_keys_load_secret (const char *path, char *err, size_t size);

void dlb_keys_test (bool verbose);

#endif
