/*
 * Make a local store (state.dir) of N students for the load benchmark:
 * mkstate DIR N [NOW]. Student i is "student-i", hashed with a new key kept in
 * the header as lessongated does; every one is mid-lesson at NOW (default: the
 * current time), so all are loaded. The folder must not hold a store yet.
 */
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "hash.h"
#include "store_local.h"

/* Stop with a message. */
static void
die(const char *what, int rc)
{
	fprintf(stderr, "mkstate: %s: %s\n", what, rc ? mdb_strerror(rc) : "failed");
	exit(1);
}

int
main(int argc, char **argv)
{
	struct lg_local_header h = {LG_LOCAL_VERSION, LG_LOCAL_RECORD_SIZE, {0}, 0};
	uint8_t hb[LG_LOCAL_HEADER_SIZE];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	uint64_t n;
	int64_t now;
	int rc;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: mkstate DIR N [NOW]\n");
		return 2;
	}
	n = strtoull(argv[2], NULL, 10);
	now = argc > 3 ? strtoll(argv[3], NULL, 10) : (int64_t)time(NULL);
	h.alive_at = now;
	if (getrandom(h.hash_key, sizeof(h.hash_key), 0) != sizeof(h.hash_key))
		die("getrandom", 0);
	mkdir(argv[1], 0700);
	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_mapsize(env, (size_t)1 << 32)) ||
	    (rc = mdb_env_open(env, argv[1], 0, 0600)))
		die(argv[1], rc);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) || (rc = mdb_dbi_open(txn, NULL, 0, &dbi)))
		die("begin", rc);
	lg_local_header_encode(&h, hb);
	k = (MDB_val){LG_LOCAL_HEADER_KEY_LEN, LG_LOCAL_HEADER_KEY};
	v = (MDB_val){sizeof(hb), hb};
	if ((rc = mdb_put(txn, dbi, &k, &v, MDB_NOOVERWRITE)))
		die("the header (is there a store already?)", rc);
	for (uint64_t i = 0; i < n; i++) {
		char id[32];
		struct lg_student_key key;
		struct lg_student_state st = {now - 60 - (int64_t)(i % 300), 30, 0, 0};
		uint8_t kb[LG_LOCAL_KEY_SIZE], vb[LG_LOCAL_RECORD_SIZE];
		int len = snprintf(id, sizeof(id), "student-%" PRIu64, i);

		lg_siphash128(h.hash_key, id, (size_t)len, key.h);
		if ((key.h[0] | key.h[1]) == 0)
			key.h[1] = 1; /* as lg_students_key does */
		lg_local_key_encode(&key, kb);
		lg_local_record_encode(&st, vb);
		k = (MDB_val){sizeof(kb), kb};
		v = (MDB_val){sizeof(vb), vb};
		if ((rc = mdb_put(txn, dbi, &k, &v, 0)))
			die("put", rc);
	}
	if ((rc = mdb_txn_commit(txn)))
		die("commit", rc);
	mdb_env_close(env);
	printf("mkstate: %" PRIu64 " students in %s\n", n, argv[1]);
	return 0;
}
