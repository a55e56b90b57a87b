/* lessongatectl's regulator and operator commands: keygen and audit (verify, checkpoint,
 * pseudonym). */
#include "ctl_audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auditlog.h"
#include "auditrec.h"
#include "checkpoint.h"
#include "ctl_remote.h"
#include "util.h"

const char lgctl_audit_usage[] =
    "  keygen --name NAME --signing-key FILE [--pseudonym-key FILE]\n"
    "                                     new keys (mode 0600); prints the verifier key\n"
    "  audit verify DIR --checkpoint FILE --key VERIFIER-KEY [--old FILE]\n"
    "                                     verify a log: every record, the signature,\n"
    "                                     consistency with an earlier checkpoint\n"
    "  audit verify --url https://HOST:PORT --key VERIFIER-KEY [--checkpoint FILE]\n"
    "      [--old FILE] [--cert FILE --cert-key FILE] [--cacert FILE]\n"
    "                                     the same, pulled from the regulator API\n"
    "  audit checkpoint DIR --signing-key FILE --name NAME [--out FILE]\n"
    "                                     sign the log's current tree\n"
    "  audit pseudonym STUDENT-ID --key FILE\n"
    "                                     the pseudonym a student's records carry\n"
    "  audit report (DIR | --url URL [--cert FILE --cert-key FILE] [--cacert FILE])\n"
    "      --from DATE --to DATE [--region CODE] [--format text|csv|html] [-o FILE]\n"
    "                                     lessons, refusals, forced closes per day\n";

/* Whether name is one of the space-separated words of allowed. */
static bool
allowed_here(const char *allowed, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = allowed; (p = strstr(p, name)) != NULL; p += n)
		if ((p == allowed || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* Split argv into --options ("--x=v", "--x v", -o for --out) and positionals; -1 after saying why.
 */
int
lgctl_args_parse(const char *what, int argc, char **argv, const char *allowed, struct lgctl_args *a)
{
	static const struct {
		const char *name;
		size_t off;
	} opts[] = {
	    {"name", offsetof(struct lgctl_args, name)},
	    {"signing-key", offsetof(struct lgctl_args, signing_key)},
	    {"pseudonym-key", offsetof(struct lgctl_args, pseudonym_key)},
	    {"checkpoint", offsetof(struct lgctl_args, checkpoint)},
	    {"key", offsetof(struct lgctl_args, key)},
	    {"old", offsetof(struct lgctl_args, old)},
	    {"out", offsetof(struct lgctl_args, out)},
	    {"from", offsetof(struct lgctl_args, from)},
	    {"to", offsetof(struct lgctl_args, to)},
	    {"region", offsetof(struct lgctl_args, region)},
	    {"format", offsetof(struct lgctl_args, format)},
	    {"url", offsetof(struct lgctl_args, url)},
	    {"cert", offsetof(struct lgctl_args, cert)},
	    {"cert-key", offsetof(struct lgctl_args, cert_key)},
	    {"cacert", offsetof(struct lgctl_args, cacert)},
	};

	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i], *eq, *val;
		size_t k, n;

		if (strcmp(s, "-o") == 0)
			s = "--out"; /* the short form, as in `calendar import` */
		if (strncmp(s, "--", 2) != 0 || s[2] == '\0') {
			if (a->npos == 2) {
				fprintf(stderr, "lessongatectl: %s: unexpected argument \"%s\"\n",
				        what, s);
				return -1;
			}
			a->pos[a->npos++] = s;
			continue;
		}
		s += 2;
		eq = strchr(s, '=');
		n = eq ? (size_t)(eq - s) : strlen(s);
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (strlen(opts[k].name) == n && strncmp(opts[k].name, s, n) == 0)
				break;
		if (k == sizeof(opts) / sizeof(opts[0]) || !allowed_here(allowed, opts[k].name)) {
			fprintf(stderr, "lessongatectl: %s: unknown option --%.*s\n", what, (int)n,
			        s);
			return -1;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			fprintf(stderr, "lessongatectl: %s: --%s needs a value\n", what,
			        opts[k].name);
			return -1;
		}
		*(const char **)((char *)a + opts[k].off) = val;
	}
	return 0;
}

/* Say that a required option is missing; 2. */
int
lgctl_missing(const char *what, const char *opt)
{
	fprintf(stderr, "lessongatectl: %s: --%s is required (see lessongatectl -h)\n", what, opt);
	return 2;
}

/* Read a small file (at most max bytes) into a NUL-terminated buffer; NULL after saying why. */
char *
lgctl_read_small(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "lessongatectl: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	buf = lg_xcalloc(1, max + 2);
	n = fread(buf, 1, max + 1, f);
	fclose(f);
	if (n > max) {
		fprintf(stderr, "lessongatectl: %s: longer than %zu bytes\n", path, max);
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* Write a new secret file (mode 0600, never over an existing one); 0 or -1 after saying why. */
static int
write_secret(const char *path, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	ssize_t w;

	if (fd < 0) {
		fprintf(stderr, "lessongatectl: keygen: %s: %s\n", path,
		        errno == EEXIST ? "exists; not overwriting a key (remove it first)"
		                        : strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0600) != 0 || (w = write(fd, data, n)) != (ssize_t)n || fsync(fd) != 0) {
		fprintf(stderr, "lessongatectl: keygen: %s: %s\n", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

/* keygen: an Ed25519 signing key and a pseudonym key; prints the verifier key line. */
static int
cmd_keygen(int argc, char **argv)
{
	struct lgctl_args a;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	struct lg_note_key *k;
	char *pem, err[256], line[LG_NOTE_VKEY_MAX];
	long pemlen;
	int rc = 1;

	if (lgctl_args_parse("keygen", argc, argv, "name signing-key pseudonym-key", &a) != 0 ||
	    a.npos)
		return 2;
	if (a.signing_key == NULL && a.pseudonym_key == NULL)
		return lgctl_missing("keygen", "signing-key");
	if (a.signing_key && a.name == NULL)
		return lgctl_missing("keygen", "name");
	if (a.name && !lg_note_name_valid(a.name)) {
		fprintf(
		    stderr,
		    "lessongatectl: keygen: --name \"%s\": a key name is 1 to 255 bytes of UTF-8 "
		    "without space, '+' or control characters (the log's origin, such as "
		    "lessongate.example.com/gw-1)\n",
		    a.name);
		return 2;
	}
	if (a.pseudonym_key) {
		uint8_t key[LG_PSEUDONYM_KEY];
		char hex[2 * LG_PSEUDONYM_KEY + 2];

		if (RAND_priv_bytes(key, sizeof(key)) != 1) {
			fprintf(stderr, "lessongatectl: keygen: no random bytes\n");
			return 1;
		}
		for (size_t i = 0; i < sizeof(key); i++)
			snprintf(hex + 2 * i, 3, "%02x", key[i]);
		hex[2 * LG_PSEUDONYM_KEY] = '\n';
		if (write_secret(a.pseudonym_key, hex, 2 * LG_PSEUDONYM_KEY + 1) != 0)
			return 1;
		fprintf(stderr, "lessongatectl: keygen: wrote the pseudonym key %s\n",
		        a.pseudonym_key);
	}
	if (a.signing_key == NULL)
		return 0;
	if ((pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL ||
	    (bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)) {
		fprintf(stderr, "lessongatectl: keygen: cannot make an Ed25519 key\n");
		goto out;
	}
	pemlen = BIO_get_mem_data(bio, &pem);
	if ((k = lg_note_signer_new(a.name, pem, (size_t)pemlen, err, sizeof(err))) == NULL) {
		fprintf(stderr, "lessongatectl: keygen: %s\n", err);
		goto out;
	}
	lg_note_verifier_line(k, line, sizeof(line));
	lg_note_key_free(k);
	if (write_secret(a.signing_key, pem, (size_t)pemlen) != 0)
		goto out;
	fprintf(stderr,
	        "lessongatectl: keygen: wrote the signing key %s; give regulators this verifier "
	        "key:\n",
	        a.signing_key);
	printf("%s\n", line);
	rc = 0;
out:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return rc;
}

/* A verifier from a key line, or from a file holding one; NULL after saying why. */
struct lg_note_key *
lgctl_load_verifier(const char *arg)
{
	struct lg_note_key *k;
	char err[256], *text = NULL;
	const char *line = arg;
	size_t n;

	if (strchr(arg, '+') == NULL || access(arg, R_OK) == 0) {
		if ((text = lgctl_read_small(arg, LG_NOTE_VKEY_MAX + 2, &n)) == NULL)
			return NULL;
		text[strcspn(text, "\r\n")] = '\0';
		line = text;
	}
	k = lg_note_verifier_new(line, err, sizeof(err));
	if (k == NULL)
		fprintf(stderr, "lessongatectl: --key: %s\n", err);
	free(text);
	return k;
}

/* Read and verify a signed checkpoint file; 0, or -1 after saying why. */
static int
load_checkpoint(const char *path, const struct lg_note_key *k, struct lg_checkpoint *c)
{
	char err[256], *text;
	size_t n;
	int rc;

	if ((text = lgctl_read_small(path, LG_NOTE_MAX, &n)) == NULL)
		return -1;
	rc = lg_checkpoint_open(text, n, k, c, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "lessongatectl: audit verify: FAILED: checkpoint %s: %s\n", path,
		        err);
	free(text);
	return rc;
}

/* What verification gathers in one pass over the records (O(log n) memory). */
struct verify {
	uint64_t size;                 /* the checkpoint's */
	struct lg_merkle_range rec;    /* of the records as they are */
	struct lg_merkle_range stored; /* of the index files' leaf hashes */
	bool stored_complete;          /* every record up to size had an index entry */
	bool has_old;
	uint64_t old_size;                /* the earlier checkpoint's */
	uint8_t old_root[LG_MERKLE_HASH]; /* the records' root at old_size */
	uint64_t bad_field;               /* first record whose "index" is not its position */
	uint64_t bad_stored;              /* first record that differs from its index entry */
	uint64_t beyond;                  /* records after the checkpoint's size */
	bool progress;
	uint64_t next_progress;
};

/* The "index" a record starts with, or UINT64_MAX if it does not start {"index":N, */
uint64_t
lgctl_record_index(const char *p, size_t n)
{
	static const char pre[] = "{\"index\":";
	uint64_t v = 0;
	size_t i = sizeof(pre) - 1;

	if (n < i + 2 || memcmp(p, pre, i) != 0 || p[i] < '0' || p[i] > '9' ||
	    (p[i] == '0' && p[i + 1] != ','))
		return UINT64_MAX;
	for (; i < n && p[i] >= '0' && p[i] <= '9' && v < UINT64_MAX / 10 - 1; i++)
		v = v * 10 + (uint64_t)(p[i] - '0');
	return i < n && p[i] == ',' ? v : UINT64_MAX;
}

/* Hash one record into the tree, and note where it disagrees with its place or its index. */
static int
verify_record(void *arg, const struct lg_auditlog_entry *e)
{
	struct verify *v = arg;
	uint8_t h[LG_MERKLE_HASH];

	if (e->index >= v->size) {
		v->beyond++;
		return 0;
	}
	lg_merkle_leaf_hash(e->data, e->len, h);
	lg_merkle_range_append(&v->rec, h);
	if (v->has_old && v->rec.size == v->old_size)
		lg_merkle_range_root(&v->rec, v->old_root);
	if (v->bad_field == LG_AUDITLOG_NONE && lgctl_record_index(e->data, e->len) != e->index)
		v->bad_field = e->index;
	if (e->stored) {
		if (v->stored_complete)
			lg_merkle_range_append(&v->stored, e->stored);
		if (v->bad_stored == LG_AUDITLOG_NONE &&
		    (!e->stored_end_ok || memcmp(h, e->stored, LG_MERKLE_HASH) != 0))
			v->bad_stored = e->index;
	} else {
		v->stored_complete = false;
	}
	if (v->progress && e->index >= v->next_progress) {
		fprintf(stderr, "\rverifying: %" PRIu64 "/%" PRIu64 " records (%d%%)", e->index,
		        v->size, (int)(e->index * 100 / v->size));
		v->next_progress = e->index + (v->size / 100 > 4096 ? v->size / 100 : 4096);
	}
	return 0;
}

/* The smallest of a few indexes (LG_AUDITLOG_NONE counts as none). */
static uint64_t
first_of(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t m = a < b ? a : b;

	return m < c ? m : c;
}

/* Say that verification failed at a record, and why. */
static int
bad_record(uint64_t i, const char *why)
{
	fprintf(stderr, "lessongatectl: audit verify: FAILED: record %" PRIu64 ": %s\n", i, why);
	return 1;
}

/*
 * Whether the records (as scanned: sr and res from the scan, err its reason)
 * are the ones the checkpoint signed; 1 after naming the first bad record
 * where the directory allows, 0 if they are.
 */
static int
find_mismatch(const struct verify *v, const struct lg_checkpoint *cp, int sr,
              const struct lg_auditlog_scan_result *res, const char *err)
{
	uint8_t root[LG_MERKLE_HASH];

	if (sr != 0 && res->bad_index == LG_AUDITLOG_NONE) {
		fprintf(stderr, "lessongatectl: audit verify: FAILED: %s\n", err);
		return 1;
	}
	if (sr != 0 || v->rec.size < cp->size) {
		/* A structural gap, or fewer records than signed: the earliest problem wins. */
		uint64_t short_at = v->rec.size < cp->size ? v->rec.size : LG_AUDITLOG_NONE;
		uint64_t at =
		    first_of(sr ? res->bad_index : LG_AUDITLOG_NONE, v->bad_field, v->bad_stored);
		if (at < short_at && at != LG_AUDITLOG_NONE)
			bad_record(at, sr && at == res->bad_index
			                   ? err
			                   : "it is not the record that was signed "
			                     "(changed, moved, inserted or deleted)");
		else if (sr)
			bad_record(res->bad_index, err);
		else {
			char why[128];
			snprintf(why, sizeof(why),
			         "missing: the log has %" PRIu64
			         " records, the checkpoint covers %" PRIu64,
			         v->rec.size, cp->size);
			bad_record(short_at, why);
		}
		return 1;
	}
	lg_merkle_range_root(&v->rec, root);
	if (memcmp(root, cp->root, LG_MERKLE_HASH) != 0 || v->bad_field != LG_AUDITLOG_NONE) {
		uint8_t sroot[LG_MERKLE_HASH];
		bool stored_signed = false;
		if (v->stored_complete && v->stored.size == cp->size) {
			lg_merkle_range_root(&v->stored, sroot);
			stored_signed = memcmp(sroot, cp->root, LG_MERKLE_HASH) == 0;
		}
		uint64_t at = stored_signed
		                  ? first_of(v->bad_stored, v->bad_field, LG_AUDITLOG_NONE)
		                  : first_of(v->bad_field, v->bad_stored, LG_AUDITLOG_NONE);
		if (at != LG_AUDITLOG_NONE)
			bad_record(
			    at, at == v->bad_stored
			            ? "it is not the record that was signed (changed, moved, "
			              "inserted or deleted)"
			            : "its \"index\" is not its place in the log (moved, inserted "
			              "or deleted)");
		else
			fprintf(
			    stderr,
			    "lessongatectl: audit verify: FAILED: the records do not produce the "
			    "checkpoint's root hash, and the index files were rewritten to match "
			    "them: a record was altered, but which one cannot be told from this "
			    "directory alone\n");
		return 1;
	}
	return 0;
}

/* audit verify DIR --checkpoint FILE --key KEY [--old FILE]. */
static int
cmd_verify(int argc, char **argv)
{
	struct lgctl_args a;
	struct lg_note_key *k;
	struct lg_checkpoint cp, old;
	struct lg_auditlog_scan_result res;
	struct verify v;
	char err[512], b64[48], vline[LG_NOTE_VKEY_MAX];
	int rc = 1, sr;

	if (lgctl_args_parse("audit verify", argc, argv,
	                     "checkpoint key old url cert cert-key cacert", &a) != 0)
		return 2;
	if (a.url) {
		if (a.npos != 0) {
			fprintf(stderr,
			        "lessongatectl: audit verify: a directory or --url, not both\n");
			return 2;
		}
		if (a.key == NULL)
			return lgctl_missing("audit verify", "key");
		if ((k = lgctl_load_verifier(a.key)) == NULL)
			return 2;
		rc = lgctl_audit_verify_url(&a, k);
		lg_note_key_free(k);
		return rc;
	}
	if (a.cert || a.cert_key || a.cacert) {
		fprintf(stderr, "lessongatectl: audit verify: --cert, --cert-key and --cacert go "
		                "with --url\n");
		return 2;
	}
	if (a.npos != 1) {
		fprintf(stderr, "lessongatectl: audit verify: which log directory?\n");
		return 2;
	}
	if (a.checkpoint == NULL)
		return lgctl_missing("audit verify", "checkpoint");
	if (a.key == NULL)
		return lgctl_missing("audit verify", "key");
	if ((k = lgctl_load_verifier(a.key)) == NULL)
		return 2;
	if (load_checkpoint(a.checkpoint, k, &cp) != 0 ||
	    (a.old && load_checkpoint(a.old, k, &old) != 0)) {
		lg_note_key_free(k);
		return 1;
	}
	if (a.old && old.size > cp.size) {
		fprintf(stderr,
		        "lessongatectl: audit verify: FAILED: the earlier checkpoint (size %" PRIu64
		        ") is larger than the newer one (size %" PRIu64 "): the log shrank\n",
		        old.size, cp.size);
		lg_note_key_free(k);
		return 1;
	}
	memset(&v, 0, sizeof(v));
	v.size = cp.size;
	lg_merkle_range_init(&v.rec);
	lg_merkle_range_init(&v.stored);
	v.stored_complete = true;
	if (a.old) {
		v.has_old = true;
		v.old_size = old.size;
		lg_merkle_range_root(&v.rec, v.old_root); /* for an empty earlier log */
	}
	v.bad_field = v.bad_stored = LG_AUDITLOG_NONE;
	v.progress = isatty(STDERR_FILENO);
	sr = lg_auditlog_scan(a.pos[0], verify_record, &v, &res, err, sizeof(err));
	if (v.progress)
		fprintf(stderr, "\r\033[K");
	if (find_mismatch(&v, &cp, sr, &res, err) != 0)
		goto out;
	/* The newer tree extends the earlier one iff its first old.size leaves have old's root. */
	if (a.old && memcmp(v.old_root, old.root, LG_MERKLE_HASH) != 0) {
		fprintf(stderr,
		        "lessongatectl: audit verify: FAILED: the checkpoint (size %" PRIu64
		        ") does not extend the earlier one %s (size %" PRIu64
		        "): records before %" PRIu64 " were changed since it was signed\n",
		        cp.size, a.old, old.size, old.size);
		goto out;
	}
	lg_base64_encode(cp.root, LG_MERKLE_HASH, b64);
	lg_note_verifier_line(k, vline, sizeof(vline));
	printf("OK %s: %" PRIu64 " records match the checkpoint (origin %s, size %" PRIu64
	       ", root %s) signed by %s\n",
	       a.pos[0], cp.size, cp.origin, cp.size, b64, vline);
	if (a.old)
		printf("OK consistent with the earlier checkpoint %s (size %" PRIu64
		       "): nothing before it was changed\n",
		       a.old, old.size);
	if (v.beyond)
		printf("note: %" PRIu64 " newer records after the checkpoint were not verified\n",
		       v.beyond);
	if (res.torn_bytes)
		printf("note: %" PRIu64 " bytes of a torn write after the last record (ignored)\n",
		       res.torn_bytes);
	if (v.bad_stored != LG_AUDITLOG_NONE)
		printf("note: the index file entry of record %" PRIu64
		       " is damaged (the records themselves are as signed)\n",
		       v.bad_stored);
	rc = 0;
out:
	free(res.segments);
	lg_note_key_free(k);
	return rc;
}

/* audit checkpoint DIR --signing-key FILE --name NAME [--out FILE]. */
static int
cmd_checkpoint(int argc, char **argv)
{
	struct lgctl_args a;
	struct lg_auditlog_open_report rep;
	struct lg_auditlog *l;
	struct lg_note_key *k;
	struct lg_checkpoint c;
	char err[512], note[LG_NOTE_MAX], *pem;
	size_t pemlen;
	int n, rc = 1;

	if (lgctl_args_parse("audit checkpoint", argc, argv, "signing-key name out", &a) != 0 ||
	    a.npos != 1)
		return 2;
	if (a.signing_key == NULL)
		return lgctl_missing("audit checkpoint", "signing-key");
	if (a.name == NULL)
		return lgctl_missing("audit checkpoint", "name");
	if ((pem = lgctl_read_small(a.signing_key, 64 * 1024, &pemlen)) == NULL)
		return 1;
	k = lg_note_signer_new(a.name, pem, pemlen, err, sizeof(err));
	OPENSSL_cleanse(pem, pemlen);
	free(pem);
	if (k == NULL) {
		fprintf(stderr, "lessongatectl: audit checkpoint: %s: %s\n", a.signing_key, err);
		return 1;
	}
	if ((l = lg_auditlog_open(a.pos[0], 0, &rep, err, sizeof(err))) == NULL) {
		fprintf(stderr, "lessongatectl: audit checkpoint: %s\n", err);
		lg_note_key_free(k);
		return 1;
	}
	if (rep.torn_bytes || rep.index_rebuilt)
		fprintf(stderr,
		        "lessongatectl: audit checkpoint: repaired after a crash: %" PRIu64
		        " torn bytes cut, %" PRIu64 " index entries written\n",
		        rep.torn_bytes, rep.index_rebuilt);
	memset(&c, 0, sizeof(c));
	snprintf(c.origin, sizeof(c.origin), "%s", a.name);
	c.size = lg_auditlog_size(l);
	lg_merkle_root(lg_auditlog_tree(l), c.size, c.root);
	lg_auditlog_close(l);
	if ((n = lg_checkpoint_sign(&c, k, note, sizeof(note), err, sizeof(err))) < 0) {
		fprintf(stderr, "lessongatectl: audit checkpoint: %s\n", err);
	} else if (a.out) {
		FILE *f = fopen(a.out, "w");
		if (f == NULL || fwrite(note, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0)
			fprintf(stderr, "lessongatectl: audit checkpoint: %s: %s\n", a.out,
			        strerror(errno));
		else
			rc = 0;
	} else {
		fwrite(note, 1, (size_t)n, stdout);
		rc = 0;
	}
	lg_note_key_free(k);
	return rc;
}

/* audit pseudonym STUDENT-ID --key FILE. */
static int
cmd_pseudonym(int argc, char **argv)
{
	struct lgctl_args a;
	uint8_t key[LG_PSEUDONYM_KEY];
	char err[256], out[LG_PSEUDONYM_HEX], *text;
	size_t n;
	int rc;

	if (lgctl_args_parse("audit pseudonym", argc, argv, "key", &a) != 0 || a.npos != 1)
		return 2;
	if (a.key == NULL)
		return lgctl_missing("audit pseudonym", "key");
	if ((text = lgctl_read_small(a.key, 256, &n)) == NULL)
		return 1;
	rc = lg_audit_pseudonym_key_parse(text, n, key, err, sizeof(err));
	OPENSSL_cleanse(text, n);
	free(text);
	if (rc != 0) {
		fprintf(stderr, "lessongatectl: audit pseudonym: %s: %s\n", a.key, err);
		return 1;
	}
	lg_audit_pseudonym(key, a.pos[0], strlen(a.pos[0]), out);
	OPENSSL_cleanse(key, sizeof(key));
	printf("%s\n", out);
	return 0;
}

/* Run `keygen ...` or `audit SUBCOMMAND ...`. */
int
lgctl_audit_main(const char *cmd, int argc, char **argv)
{
	if (strcmp(cmd, "keygen") == 0)
		return cmd_keygen(argc, argv);
	if (argc >= 1 && strcmp(argv[0], "verify") == 0)
		return cmd_verify(argc - 1, argv + 1);
	if (argc >= 1 && strcmp(argv[0], "checkpoint") == 0)
		return cmd_checkpoint(argc - 1, argv + 1);
	if (argc >= 1 && strcmp(argv[0], "pseudonym") == 0)
		return cmd_pseudonym(argc - 1, argv + 1);
	if (argc >= 1 && strcmp(argv[0], "report") == 0)
		return lgctl_audit_report(argc - 1, argv + 1);
	fprintf(stderr,
	        "lessongatectl: audit: %s%s; one of verify, checkpoint, pseudonym, report\n",
	        argc ? "unknown subcommand " : "which subcommand?", argc ? argv[0] : "");
	fputs(lgctl_audit_usage, stderr);
	return 2;
}
