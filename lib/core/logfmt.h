/* Log line values: escaped so a line stays one parseable line, and cut only between whole units. */
#ifndef LG_LOGFMT_H
#define LG_LOGFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 character at p[0..n) if it takes 2..4 bytes, else 0. */
size_t lg_utf8_len(const unsigned char *p, size_t n);

/*
 * Escape s[0..n) for a double-quoted log value into out (cap bytes, NUL
 * included): `"` and `\` get a backslash, newline, CR and tab become \n \r
 * \t, other control bytes, DEL and bytes that are not valid UTF-8 become
 * \xNN; valid UTF-8 is kept. Only whole units are written, so a value cut
 * for room never ends inside an escape or a character. Returns the length
 * written; *used (if not NULL) gets the input bytes taken.
 */
size_t lg_log_escape(char *out, size_t cap, const char *s, size_t n, size_t *used);

/*
 * Make the log line line[0..len) fit in cap bytes (NUL included): if it is
 * too long, cut it between whole units (never inside a \-escape of a quoted
 * value or a UTF-8 character), close a quote left open and append
 * " truncated=true". Returns the new length (len if it fitted).
 */
size_t lg_log_fit(char *line, size_t len, size_t cap);

#endif
