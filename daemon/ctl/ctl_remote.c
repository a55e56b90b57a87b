/*
 * The regulator API as lessongatectl reads it (ctl_fetch.c's HTTPS GETs):
 * records pulled page by page, and `audit verify --url`, which checks a
 * pulled log against a signed checkpoint without trusting the server.
 */
#include "ctl_remote.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "ctl_fetch.h"
#include "json.h"
#include "merkle.h"
#include "util.h"

/* Records asked for per request (the API's page). */
#define REMOTE_PAGE 1000
/* The largest page accepted (a record is a few hundred bytes). */
#define REMOTE_PAGE_MAX (64u << 20)

/* A client for the URL and certificates of a (the regulator API is TLS only); NULL with the
 * reason. */
static struct lgctl_https *
client(const struct lgctl_args *a, char *err, size_t errlen)
{
	if (strncmp(a->url, "https://", 8) != 0) {
		lg_fail(err, errlen,
		        "--url \"%s\": not an https:// URL (the regulator API is TLS only)",
		        a->url);
		return NULL;
	}
	return lgctl_https_new(a->url, a->cert, a->cert_key, a->cacert, err, errlen);
}

/* GET path into out with status 200 expected; 0, or -1 with the reason (the server's, if any). */
static int
get_ok(struct lgctl_https *h, const char *path, struct lg_buf *out, size_t max, char *err,
       size_t errlen)
{
	int status = 0;

	out->len = 0;
	if (lgctl_https_get_buf(h, path, NULL, &status, out, max, err, errlen) != 0)
		return -1;
	if (status != 200)
		return lg_fail(err, errlen, "GET %s: HTTP %d: %.*s", path, status,
		               (int)(out->len > 200 ? 200 : out->len), out->data ? out->data : "");
	return 0;
}

/* The API's latest signed checkpoint into note (NUL-terminated); 0 or -1. */
static int
get_checkpoint(struct lgctl_https *h, struct lg_buf *note, char *err, size_t errlen)
{
	if (get_ok(h, "/audit/v1/checkpoint", note, LG_NOTE_MAX, err, errlen) != 0)
		return -1;
	lg_buf_add(note, "", 1);
	note->len--;
	return 0;
}

/* Records [0, size) in pages; fn for each. progress: say how far on stderr. */
static int
pull(struct lgctl_https *h, uint64_t size, lgctl_remote_fn fn, void *arg, bool progress, char *err,
     size_t errlen)
{
	struct lg_buf page = {0};
	char path[128];
	int rc = -1;

	for (uint64_t s = 0; s < size; s += REMOTE_PAGE) {
		uint64_t e = s + REMOTE_PAGE < size ? s + REMOTE_PAGE : size, i = s;
		snprintf(path, sizeof(path), "/audit/v1/entries?start=%" PRIu64 "&end=%" PRIu64, s,
		         e);
		if (get_ok(h, path, &page, REMOTE_PAGE_MAX, err, errlen) != 0)
			goto out;
		for (char *l = page.data, *nl; i < e && l && l < page.data + page.len; l = nl + 1) {
			if ((nl = memchr(l, '\n', (size_t)(page.data + page.len - l))) == NULL)
				break;
			if (fn(arg, i++, l, (size_t)(nl - l)) != 0) {
				lg_fail(err, errlen, "stopped at record %" PRIu64, i - 1);
				goto out;
			}
		}
		if (i != e) {
			lg_fail(err, errlen,
			        "GET %s: %" PRIu64 " whole records, not %" PRIu64
			        " (the log is shorter than its checkpoint?)",
			        path, i - s, e - s);
			goto out;
		}
		if (progress)
			fprintf(stderr, "\rpulling: %" PRIu64 "/%" PRIu64 " records (%d%%)", e,
			        size, (int)(e * 100 / size));
	}
	rc = 0;
out:
	if (progress)
		fprintf(stderr, "\r\033[K");
	lg_buf_free(&page);
	return rc;
}

/* Every record up to the current checkpoint's size. */
int
lgctl_remote_each(const struct lgctl_args *a, lgctl_remote_fn fn, void *arg, char *err,
                  size_t errlen)
{
	struct lgctl_https *h = client(a, err, errlen);
	struct lg_buf note = {0};
	struct lg_checkpoint cp;
	char *blank;
	int rc = -1;

	if (h == NULL)
		return -1;
	if (get_checkpoint(h, &note, err, errlen) != 0)
		goto out;
	/* The size only: the body before the blank line (a report trusts its source). */
	blank = strstr(note.data, "\n\n");
	if (lg_checkpoint_parse(note.data, blank ? (size_t)(blank - note.data) + 1 : note.len, &cp,
	                        err, errlen) != 0)
		goto out;
	rc = pull(h, cp.size, fn, arg, isatty(STDERR_FILENO), err, errlen);
out:
	lg_buf_free(&note);
	lgctl_https_free(h);
	return rc;
}

/* What verification keeps while pulling: every leaf (for roots of any prefix). */
struct vstate {
	struct lg_merkle *tree;
	uint64_t bad_field; /* first record whose "index" is not its place */
};

/* Hash one pulled record into the tree. */
static int
v_record(void *arg, uint64_t index, const char *rec, size_t n)
{
	struct vstate *v = arg;
	uint8_t h[LG_MERKLE_HASH];

	if (v->bad_field == UINT64_MAX && lgctl_record_index(rec, n) != index)
		v->bad_field = index;
	lg_merkle_leaf_hash(rec, n, h);
	return lg_merkle_append(v->tree, h);
}

/* One hash in hex into out; 0 or -1. */
static int
unhex(const struct lg_json_value *v, uint8_t out[LG_MERKLE_HASH])
{
	if (v->type != LG_JSON_STRING || v->n != 2 * LG_MERKLE_HASH)
		return -1;
	for (size_t i = 0; i < LG_MERKLE_HASH; i++) {
		int hi = lg_hex_value((unsigned char)v->p[2 * i]);
		int lo = lg_hex_value((unsigned char)v->p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* Where the hashes of a proof go. */
struct proof {
	uint8_t h[LG_MERKLE_MAX_PROOF][LG_MERKLE_HASH];
	size_t n;
};

/* One element of "hashes". */
static int
proof_hash(const struct lg_json_value *el, void *arg)
{
	struct proof *p = arg;

	if (p->n == LG_MERKLE_MAX_PROOF || unhex(el, p->h[p->n]) != 0)
		return -1;
	p->n++;
	return 0;
}

/* The API's consistency proof between sizes old and new; 0 or -1 with the reason. */
static int
get_consistency(struct lgctl_https *h, uint64_t old, uint64_t new_size, struct proof *p, char *err,
                size_t errlen)
{
	static const char *const names[] = {"hashes"};
	struct lg_json_value v;
	struct lg_buf body = {0};
	char path[128], *keys = NULL;
	int rc = -1;

	p->n = 0;
	snprintf(path, sizeof(path), "/audit/v1/proof/consistency?old=%" PRIu64 "&new=%" PRIu64,
	         old, new_size);
	if (get_ok(h, path, &body, 1u << 20, err, errlen) != 0)
		goto out;
	while (body.len && (body.data[body.len - 1] == '\n' || body.data[body.len - 1] == '\r'))
		body.len--;
	keys = lg_xcalloc(1, body.len + 1);
	if (lg_json_parse(body.data, body.len, keys, body.len + 1, names, &v, 1) != 0 ||
	    v.type != LG_JSON_ARRAY || lg_json_each(&v, keys, body.len + 1, proof_hash, p) != 0) {
		lg_fail(err, errlen, "GET %s: not a proof ({\"hashes\": [hex, ...]})", path);
		goto out;
	}
	rc = 0;
out:
	free(keys);
	lg_buf_free(&body);
	return rc;
}

/*
 * Whether the first k pulled records are the first k the checkpoint signed:
 * the server's consistency proof from k to the checkpoint's size must lead
 * from the root of what we pulled to the signed root. 1 yes, 0 no, -1 error.
 */
static int
prefix_signed(struct lgctl_https *h, const struct vstate *v, const struct lg_checkpoint *cp,
              uint64_t k, char *err, size_t errlen)
{
	struct proof p;
	uint8_t root[LG_MERKLE_HASH];

	lg_merkle_root(v->tree, k, root);
	if (get_consistency(h, k, cp->size, &p, err, errlen) != 0)
		return -1;
	return lg_merkle_verify_consistency(k, cp->size, root, cp->root, p.h, p.n);
}

/* The signed checkpoint from --checkpoint FILE or the API, verified with k; 0 or -1 (said). */
static int
signed_checkpoint(struct lgctl_https *h, const char *file, const struct lg_note_key *k,
                  struct lg_checkpoint *cp, const char *what)
{
	struct lg_buf note = {0};
	char err[512], *text = NULL;
	size_t n;
	int rc = -1;

	if (file) {
		if ((text = lgctl_read_small(file, LG_NOTE_MAX, &n)) == NULL)
			return -1;
		rc = lg_checkpoint_open(text, n, k, cp, err, sizeof(err));
	} else if (get_checkpoint(h, &note, err, sizeof(err)) == 0) {
		rc = lg_checkpoint_open(note.data, note.len, k, cp, err, sizeof(err));
	}
	if (rc != 0)
		fprintf(stderr, "lessongatectl: audit verify: FAILED: %s %s: %s\n", what,
		        file ? file : "from the API", err);
	free(text);
	lg_buf_free(&note);
	return rc;
}

/* Name the first record that is not the signed one (binary search on consistency proofs). */
static int
name_first_bad(struct lgctl_https *h, const struct vstate *v, const struct lg_checkpoint *cp)
{
	uint64_t lo = 0, hi = cp->size; /* the first lo are signed; the first hi are not */
	char err[512];

	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		int s = prefix_signed(h, v, cp, mid, err, sizeof(err));
		if (s < 0) {
			fprintf(stderr,
			        "lessongatectl: audit verify: FAILED: the records do not give the "
			        "checkpoint's root, and the first bad one cannot be found: %s\n",
			        err);
			return 1;
		}
		if (s)
			lo = mid;
		else
			hi = mid;
	}
	fprintf(stderr,
	        "lessongatectl: audit verify: FAILED: record %" PRIu64
	        ": it is not the record that was signed (changed, moved, inserted or deleted)\n",
	        hi - 1);
	return 1;
}

/* audit verify --url URL --key KEY [--checkpoint FILE] [--old FILE] [--cert ...]. */
int
lgctl_audit_verify_url(const struct lgctl_args *a, const struct lg_note_key *k)
{
	struct lgctl_https *h;
	struct lg_checkpoint cp, old;
	struct vstate v = {lg_merkle_new(), UINT64_MAX};
	uint8_t root[LG_MERKLE_HASH];
	char err[512], b64[48], vline[LG_NOTE_VKEY_MAX];
	int rc = 1;

	if ((h = client(a, err, sizeof(err))) == NULL) {
		fprintf(stderr, "lessongatectl: audit verify: %s\n", err);
		lg_merkle_free(v.tree);
		return 2;
	}
	if (signed_checkpoint(h, a->checkpoint, k, &cp, "checkpoint") != 0 ||
	    (a->old && signed_checkpoint(h, a->old, k, &old, "earlier checkpoint") != 0))
		goto out;
	if (a->old && old.size > cp.size) {
		fprintf(stderr,
		        "lessongatectl: audit verify: FAILED: the earlier checkpoint (size %" PRIu64
		        ") is larger than the newer one (size %" PRIu64 "): the log shrank\n",
		        old.size, cp.size);
		goto out;
	}
	if (pull(h, cp.size, v_record, &v, isatty(STDERR_FILENO), err, sizeof(err)) != 0) {
		fprintf(stderr, "lessongatectl: audit verify: FAILED: %s: %s\n", a->url, err);
		goto out;
	}
	lg_merkle_root(v.tree, cp.size, root);
	if (memcmp(root, cp.root, LG_MERKLE_HASH) != 0) {
		name_first_bad(h, &v, &cp);
		goto out;
	}
	if (v.bad_field != UINT64_MAX) {
		fprintf(stderr,
		        "lessongatectl: audit verify: FAILED: record %" PRIu64
		        ": its \"index\" is not its place in the log\n",
		        v.bad_field);
		goto out;
	}
	if (a->old && old.size > 0) {
		struct proof p;
		if (get_consistency(h, old.size, cp.size, &p, err, sizeof(err)) != 0) {
			fprintf(stderr, "lessongatectl: audit verify: FAILED: %s\n", err);
			goto out;
		}
		if (!lg_merkle_verify_consistency(old.size, cp.size, old.root, cp.root, p.h, p.n)) {
			fprintf(stderr,
			        "lessongatectl: audit verify: FAILED: the checkpoint (size %" PRIu64
			        ") does not extend the earlier one %s (size %" PRIu64
			        "): the consistency proof fails (records before %" PRIu64
			        " were changed, or it is another log's)\n",
			        cp.size, a->old, old.size, old.size);
			goto out;
		}
	}
	lg_base64_encode(cp.root, LG_MERKLE_HASH, b64);
	lg_note_verifier_line(k, vline, sizeof(vline));
	printf("OK %s: %" PRIu64 " records match the checkpoint (origin %s, size %" PRIu64
	       ", root %s) signed by %s\n",
	       a->url, cp.size, cp.origin, cp.size, b64, vline);
	if (a->old)
		printf("OK consistent with the earlier checkpoint %s (size %" PRIu64
		       "): nothing before it was changed\n",
		       a->old, old.size);
	rc = 0;
out:
	lg_merkle_free(v.tree);
	lgctl_https_free(h);
	return rc;
}
