/* The local store's disk side: LMDB under state.dir, loaded at start, written behind. */
#ifndef LGD_STORE_LMDB_H
#define LGD_STORE_LMDB_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

/*
 * Open (creating if absent) the state under cf->state.dir, load every live
 * student, and start the writer thread. NULL on failure, with a sentence
 * naming the path, what is wrong and what to do in err. Freeing the store
 * (lg_store_free) stops the writer after a last commit.
 */
struct lg_store *lgd_store_local_open(const struct lg_config *cf, int64_t now, size_t expected,
                                      unsigned shards, char *err, size_t errlen);

#endif
