/* A strict JSON reader (RFC 8259): checks a whole object, hands back chosen top-level members. */
#ifndef LG_JSON_H
#define LG_JSON_H

#include <stddef.h>
#include <sys/types.h>

enum lg_json_type {
	LG_JSON_ABSENT = 0,
	LG_JSON_STRING,
	LG_JSON_NUMBER,
	LG_JSON_BOOL,
	LG_JSON_NULL,
	LG_JSON_ARRAY,
	LG_JSON_OBJECT
};

/* A member's value: its type and text (strings: inside the quotes, still escaped). */
struct lg_json_value {
	enum lg_json_type type;
	const char *p;
	size_t n;
};

/*
 * Check that s[0..n) is one object and nothing else (UTF-8, no duplicate
 * member names, at most 16 deep and 128 members wide) and store the value of
 * its top-level member called names[i] in vals[i] (LG_JSON_ABSENT if there is
 * none; a NULL name matches nothing). keybuf[0..keycap) is working room for
 * member names: n bytes always suffice. 0, -1 if refused, -2 for a duplicate name.
 */
int lg_json_parse(const char *s, size_t n, char *keybuf, size_t keycap, const char *const *names,
                  struct lg_json_value *vals, size_t nn);

/* Decode a string value into buf (cap bytes, NUL-terminated); its length, or -1 if too long. */
ssize_t lg_json_string(const struct lg_json_value *v, char *buf, size_t cap);

/*
 * Call fn on each element of an array value found by lg_json_parse, in order;
 * keybuf as there. 0, or -1 as soon as fn returns -1 (or the array is not one).
 */
int lg_json_each(const struct lg_json_value *array, char *keybuf, size_t keycap,
                 int (*fn)(const struct lg_json_value *el, void *arg), void *arg);

#endif
