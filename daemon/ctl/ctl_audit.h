/* lessongatectl's regulator and operator commands: keygen and audit. */
#ifndef LGCTL_AUDIT_H
#define LGCTL_AUDIT_H

/* Usage lines of these commands, for lessongatectl's usage(). */
extern const char lgctl_audit_usage[];

/* Run `keygen ...` or `audit SUBCOMMAND ...` (argv: what follows cmd). The exit status. */
int lgctl_audit_main(const char *cmd, int argc, char **argv);

/* --- shared by the audit commands' files (ctl_audit.c, ctl_report.c, ctl_remote.c) --- */

#include <stddef.h>
#include <stdint.h>

struct lg_note_key;

/* The options of the audit commands, by name; NULL if not given. */
struct lgctl_args {
	const char *name, *signing_key, *pseudonym_key, *checkpoint, *key, *old, *out;
	const char *from, *to, *region, *format;
	const char *url, *cert, *cert_key, *cacert; /* the regulator API and our client cert */
	const char *pos[2];
	int npos;
};

/*
 * Split argv into --options ("--x=v", "--x v", -o for --out) and at most two
 * positionals; options not in `allowed` (space-separated names) are refused.
 * 0, or -1 after saying why (what: the command, for the message).
 */
int lgctl_args_parse(const char *what, int argc, char **argv, const char *allowed,
                     struct lgctl_args *);
/* Say that a required option is missing; 2 (the exit status). */
int lgctl_missing(const char *what, const char *opt);
/* A small file (at most max bytes), NUL-terminated; NULL after saying why. */
char *lgctl_read_small(const char *path, size_t max, size_t *len);
/* A verifier from a key line, or from a file holding one; NULL after saying why. */
struct lg_note_key *lgctl_load_verifier(const char *arg);
/* The "index" a record starts with, or UINT64_MAX if it does not start {"index":N, */
uint64_t lgctl_record_index(const char *p, size_t n);

/* audit report ... (ctl_report.c). */
int lgctl_audit_report(int argc, char **argv);

#endif
