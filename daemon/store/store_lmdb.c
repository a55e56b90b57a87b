/*
 * The local store's disk side (lib/store/store_local.c is the table and the
 * encoding): an LMDB environment under state.dir, locked by one process,
 * loaded before the listeners open, and written behind by a thread of its
 * own that commits the journalled changes at least once a second (sooner
 * when a journal is half full). Workers never touch LMDB. A graceful stop
 * commits everything; kill -9 loses the changes since the last commit.
 */
#include "store_lmdb.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store_local.h"
#include "util.h"
#include "clock.h"

/*
 * The writer looks at the journals every TICK_MS and commits once COMMIT_MS
 * have passed since the last commit: a change waits at most COMMIT_MS + TICK_MS
 * = 1 s (plus the commit itself) before it is on disk.
 */
#define COMMIT_MS 900
#define TICK_MS   100
/* A journal this full (percent) is committed before the second is up. */
#define EARLY_PCT 50
/* The map starts at least this large (address space only; the file grows as it fills). */
#define MAP_MIN ((size_t)1 << 30)

/* What the files are, for messages. */
#define WHAT_TO_DO                                                                                 \
	"the daemon never replaces or truncates it: move it away to start with fresh clocks, or "  \
	"restore it from a backup"

struct writer {
	MDB_env *env;
	MDB_dbi dbi;
	struct lg_store *store;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, started;
	int lockfd;
	char *dir;
	uint8_t hash_key[16];
	/* Changes drained but not yet committed (kept across a failed commit). */
	struct lg_local_change *pend;
	size_t npend, cappend;
	int64_t last_fail_log;
};

/* An LMDB error as a sentence about the file. */
static const char *
mdb_what(int rc)
{
	switch (rc) {
	case MDB_INVALID:
		return "it is not an LMDB file (a foreign or damaged file)";
	case MDB_VERSION_MISMATCH:
		return "it was written by an incompatible LMDB version";
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
		return "the LMDB database is damaged";
	default:
		return mdb_strerror(rc);
	}
}

/* The header as written now. */
static int
put_header(struct writer *w, MDB_txn *txn, int64_t now)
{
	struct lg_local_header h = {LG_LOCAL_VERSION, LG_LOCAL_RECORD_SIZE, {0}, now};
	uint8_t buf[LG_LOCAL_HEADER_SIZE];
	MDB_val k = {LG_LOCAL_HEADER_KEY_LEN, (void *)LG_LOCAL_HEADER_KEY}, v = {sizeof(buf), buf};

	memcpy(h.hash_key, w->hash_key, 16);
	lg_local_header_encode(&h, buf);
	return mdb_put(txn, w->dbi, &k, &v, 0);
}

/* Collect a drained change for the next commit. */
static void
collect(void *arg, const struct lg_local_change *c)
{
	struct writer *w = arg;

	if (w->npend == w->cappend) {
		w->cappend = w->cappend ? w->cappend * 2 : 4096;
		w->pend = lg_xrealloc(w->pend, w->cappend, sizeof(*w->pend));
	}
	w->pend[w->npend++] = *c;
}

/* Write the pending changes and the header in one transaction. */
static int
commit_pending(struct writer *w)
{
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(w->env, NULL, 0, &txn)) != 0)
		return rc;
	for (size_t i = 0; i < w->npend && rc == 0; i++) {
		const struct lg_local_change *c = &w->pend[i];
		uint8_t kb[LG_LOCAL_KEY_SIZE], vb[LG_LOCAL_RECORD_SIZE];
		MDB_val k = {sizeof(kb), kb}, v = {sizeof(vb), vb};

		lg_local_key_encode(&c->key, kb);
		if (c->gone) {
			rc = mdb_del(txn, w->dbi, &k, NULL);
			if (rc == MDB_NOTFOUND)
				rc = 0;
		} else {
			lg_local_record_encode(&c->st, vb);
			rc = mdb_put(txn, w->dbi, &k, &v, 0);
		}
	}
	if (rc == 0)
		rc = put_header(w, txn, time(NULL));
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

/* Take the journals and commit them (final: also with nothing new, to stamp the header). */
static void
flush(struct writer *w, bool final)
{
	int rc;

	lg_store_local_drain(w->store, collect, w);
	w->npend = lg_local_changes_compact(w->pend, w->npend); /* one put per student */
	if (w->npend == 0 && !final)
		return;
	rc = commit_pending(w);
	if (rc == MDB_MAP_FULL) {
		MDB_envinfo info;
		mdb_env_info(w->env, &info);
		if (mdb_env_set_mapsize(w->env, info.me_mapsize * 2) == 0)
			rc = commit_pending(w);
	}
	if (rc == 0) {
		w->npend = 0;
		return;
	}
	/* Kept for the next try; said at most once a minute. */
	if (final || time(NULL) - w->last_fail_log >= 60) {
		w->last_fail_log = time(NULL);
		lgd_err("cannot write the student state",
		        "key=state.dir path=%s error=\"%s\" pending=%zu", w->dir, mdb_strerror(rc),
		        w->npend);
	}
}

/* The writer thread: a commit every second, sooner under pressure, a last one at stop. */
static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	int64_t last = (lgd_mono_us() / 1000);

	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->cv, &w->mu, &ts);
		if (w->stop)
			break;
		pthread_mutex_unlock(&w->mu);
		if ((lgd_mono_us() / 1000) - last >= COMMIT_MS ||
		    lg_store_local_pressure(w->store) >= EARLY_PCT) {
			flush(w, false);
			last = (lgd_mono_us() / 1000);
		}
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	flush(w, true);
	return NULL;
}

/* Close what is open (the writer stopped or never started). */
static void
writer_close(struct writer *w)
{
	if (w->env != NULL)
		mdb_env_close(w->env);
	if (w->lockfd >= 0)
		close(w->lockfd);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w->pend);
	free(w->dir);
	free(w);
}

/* lg_store_free's first step: stop the writer after its last commit. */
static void
writer_stop(void *arg)
{
	struct writer *w = arg;

	if (w->started) {
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
		lgd_info("student state saved", "path=%s", w->dir);
	}
	writer_close(w);
}

/* Create the directory (0700) if absent and lock it for this process. */
static int
open_dir(struct writer *w, char *err, size_t errlen)
{
	struct stat sb;
	char path[4096];

	if (mkdir(w->dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen,
		         "state.dir \"%s\": cannot create the directory (%s); create it for the "
		         "service user or set state.dir elsewhere",
		         w->dir, strerror(errno));
		return -1;
	}
	if (stat(w->dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen,
		         "state.dir \"%s\": not a directory; set state.dir to a directory", w->dir);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/lock", w->dir);
	w->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (w->lockfd < 0) {
		snprintf(err, errlen,
		         "state.dir \"%s\": cannot open %s (%s); the directory must be writable by "
		         "the service user",
		         w->dir, path, strerror(errno));
		return -1;
	}
	if (flock(w->lockfd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen,
		         "state.dir \"%s\": %s (%s); another lessongated uses this state: stop it "
		         "or give each instance its own state.dir",
		         w->dir, errno == EWOULDBLOCK ? "locked by another process" : "cannot lock",
		         strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/data.mdb", w->dir);
	if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "state.dir \"%s\": %s is not a regular file; %s", w->dir,
		         path, WHAT_TO_DO);
		return -1;
	}
	return 0;
}

/* The longest lesson of any class (for ending the leases of a gone process). */
static int32_t
longest_lesson(const struct lg_config *cf)
{
	int32_t m = 0;

	for (int c = 0; c < LG_LESSON_CLASSES; c++)
		if (cf->rules.cls[c].lesson_max > m)
			m = cf->rules.cls[c].lesson_max;
	return m;
}

/* Counts of a load, for the log. */
struct load_stats {
	size_t live, stale, settled;
};

/*
 * Read the header (writing one into an empty database) and load every
 * student; stale ones are deleted, and ones with a gone process's leases are
 * written back settled. -1 with err on anything this build cannot trust.
 */
static int
load(struct writer *w, const struct lg_config *cf, int64_t now, size_t expected, unsigned shards,
     struct load_stats *ls, char *err, size_t errlen)
{
	char path[4096], why[256];
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k = {LG_LOCAL_HEADER_KEY_LEN, (void *)LG_LOCAL_HEADER_KEY}, v;
	MDB_stat ms;
	struct lg_local_header h = {0};
	int32_t longest = longest_lesson(cf);
	size_t n = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/data.mdb", w->dir);
	if ((rc = mdb_txn_begin(w->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &w->dbi)) != 0 ||
	    (rc = mdb_stat(txn, w->dbi, &ms)) != 0)
		goto mdb_fail;
	rc = mdb_get(txn, w->dbi, &k, &v);
	if (rc == MDB_NOTFOUND && ms.ms_entries == 0) {
		/* A new store: a new hash key, kept in the header from now on. */
		if (getrandom(w->hash_key, sizeof(w->hash_key), 0) != sizeof(w->hash_key)) {
			snprintf(err, errlen,
			         "state.dir \"%s\": no random bytes for the hash key (%s)", w->dir,
			         strerror(errno));
			mdb_txn_abort(txn);
			return -1;
		}
		lgd_info("new student state", "path=%s", path);
	} else if (rc == MDB_NOTFOUND) {
		snprintf(err, errlen,
		         "state.dir \"%s\": %s is an LMDB database with %zu entries but no "
		         "lessongate header (a foreign database); %s",
		         w->dir, path, (size_t)ms.ms_entries, WHAT_TO_DO);
		mdb_txn_abort(txn);
		return -1;
	} else if (rc != 0) {
		goto mdb_fail;
	} else if (lg_local_header_decode(v.mv_data, v.mv_size, &h, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "state.dir \"%s\": %s: %s; %s", w->dir, path, why,
		         WHAT_TO_DO);
		mdb_txn_abort(txn);
		return -1;
	} else {
		memcpy(w->hash_key, h.hash_key, 16);
	}
	/*
	 * Room for a quarter more than are saved: the table's load is then about
	 * what it is after growing (2/3), not the 85% at which it grows, where
	 * linear probing makes inserting a million students twice as slow.
	 */
	if (ms.ms_entries + ms.ms_entries / 4 > expected)
		expected = ms.ms_entries + ms.ms_entries / 4;
	w->store = lg_store_local_new(expected, shards, w->hash_key);
	lg_store_local_on_free(w->store, writer_stop, w);
	if ((rc = mdb_cursor_open(txn, w->dbi, &cur)) != 0)
		goto mdb_fail;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct lg_student_key key;
		struct lg_student_state st, before;
		bool ended;

		n++;
		if (k.mv_size == LG_LOCAL_HEADER_KEY_LEN &&
		    memcmp(k.mv_data, LG_LOCAL_HEADER_KEY, LG_LOCAL_HEADER_KEY_LEN) == 0)
			continue;
		if (lg_local_key_decode(k.mv_data, k.mv_size, &key) != 0 ||
		    lg_local_record_decode(v.mv_data, v.mv_size, &st) != 0) {
			snprintf(
			    err, errlen,
			    "state.dir \"%s\": %s: entry %zu is not a student record (a %zu-byte "
			    "key, a %zu-byte value; version %u has %u and %u); the file is "
			    "damaged or foreign; %s",
			    w->dir, path, n, k.mv_size, v.mv_size, LG_LOCAL_VERSION,
			    LG_LOCAL_KEY_SIZE, LG_LOCAL_RECORD_SIZE, WHAT_TO_DO);
			mdb_cursor_close(cur);
			mdb_txn_abort(txn);
			return -1;
		}
		before = st;
		ended = st.tunnels > 0;
		lg_local_settle(&st, h.alive_at, longest);
		if (!lg_policy_state_live(cf->policy, &st, now)) {
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				break;
			ls->stale++;
			continue;
		}
		if (memcmp(&st, &before, sizeof(st)) != 0) {
			uint8_t vb[LG_LOCAL_RECORD_SIZE];
			MDB_val nv = {sizeof(vb), vb};
			lg_local_record_encode(&st, vb);
			if ((rc = mdb_cursor_put(cur, &k, &nv, MDB_CURRENT)) != 0)
				break;
		}
		if (ended)
			ls->settled++;
		lg_store_local_put(w->store, &key, &st);
		ls->live++;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		goto mdb_fail;
	if ((rc = put_header(w, txn, now)) != 0 || (rc = mdb_txn_commit(txn)) != 0)
		goto mdb_fail_committed;
	return 0;
mdb_fail:
	mdb_txn_abort(txn);
mdb_fail_committed:
	snprintf(err, errlen, "state.dir \"%s\": %s: %s; %s", w->dir, path, mdb_what(rc),
	         WHAT_TO_DO);
	return -1;
}

/* Open, lock, load, start the writer. */
struct lg_store *
lgd_store_local_open(const struct lg_config *cf, int64_t now, size_t expected, unsigned shards,
                     char *err, size_t errlen)
{
	struct writer *w = lg_xcalloc(1, sizeof(*w));
	struct load_stats ls = {0};
	pthread_condattr_t ca;
	int64_t t0 = (lgd_mono_us() / 1000);
	int rc;

	w->lockfd = -1;
	w->dir = lg_strdup(cf->state.dir);
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (open_dir(w, err, errlen) != 0)
		goto fail;
	if ((rc = mdb_env_create(&w->env)) != 0 ||
	    (rc = mdb_env_set_mapsize(w->env, MAP_MIN)) != 0 ||
	    (rc = mdb_env_set_maxreaders(w->env, 8)) != 0 ||
	    (rc = mdb_env_open(w->env, w->dir, MDB_NOTLS, 0600)) != 0) {
		snprintf(err, errlen, "state.dir \"%s\": %s/data.mdb: %s; %s", w->dir, w->dir,
		         mdb_what(rc), WHAT_TO_DO);
		goto fail;
	}
	if (load(w, cf, now, expected, shards, &ls, err, errlen) != 0)
		goto fail;
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		snprintf(err, errlen, "state.dir \"%s\": cannot start the writer thread", w->dir);
		lg_store_free(w->store); /* closes w */
		return NULL;
	}
	w->started = true;
	lgd_info("student state loaded",
	         "store=local path=%s students=%zu stale_removed=%zu leases_ended=%zu ms=%lld",
	         w->dir, ls.live, ls.stale, ls.settled, (long long)((lgd_mono_us() / 1000) - t0));
	return w->store;
fail:
	if (w->store != NULL)
		lg_store_free(w->store); /* closes w through writer_stop */
	else
		writer_close(w);
	return NULL;
}
