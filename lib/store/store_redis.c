/* The Redis store's pure part: its Lua scripts, keys and answers (see store_redis.h). */
#include "store_redis.h"

#include <string.h>

/* lg_policy_clock, last_activity and lg_policy_tunnels_held of policy.c, in Lua. */
const char lg_redis_decide_lua[] =
    "local k = KEYS[1]\n"
    "local now, lmax, bmin, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), "
    "tonumber(ARGV[4])\n"
    "local h = redis.call('HGETALL', k)\n"
    "local start, off, held, lease, x = 0, 0, false, 0, 0\n"
    "for i = 1, #h, 2 do\n"
    "  local f, v = h[i], tonumber(h[i + 1])\n"
    "  if f == 's' then start = v\n"
    "  elseif f == 'o' then off = v\n"
    "  elseif f == 'x' then x = v\n"
    "  elseif string.sub(f, 1, 2) == 'l:' then\n"
    "    if v > now then held = true; if v > lease then lease = v end\n"
    "    else redis.call('HDEL', k, f) end\n"
    "  end\n"
    "end\n"
    "local last = start + off\n"
    "if held then\n"
    "  local cap = start + lmax\n"
    "  local active = now < cap and now or cap\n"
    "  if active > last then last = active end\n"
    "end\n"
    "local new, es, el, was = 0, 0, 0, off\n"
    "if start == 0 or now - last >= bmin then\n"
    "  if start ~= 0 then es = start; el = last end\n"
    "  start = now; off = 0; new = 1\n"
    "elseif now - start >= lmax then\n"
    "  return {0, start, last, 0, 0, 0, off, lease}\n"
    "end\n"
    "if now - start > off then off = now - start end\n"
    "if new == 1 or off ~= was then\n"
    "  local til = start + off + keep\n"
    "  if lease > til then til = lease end\n"
    "  if til > x then\n"
    "    x = til + tonumber(ARGV[5])\n"
    "    redis.call('HSET', k, 's', start, 'o', off, 'x', x)\n"
    "    redis.call('PEXPIRE', k, math.max(x - now, 1) * 1000 + 1000)\n"
    "  else redis.call('HSET', k, 's', start, 'o', off) end\n"
    "end\n"
    "return {1, start, last, new, es, el, off, lease}\n";

/* lg_policy_tunnel_open/renew/close over one lease per field. */
const char lg_redis_lease_lua[] =
    "local k, op = KEYS[1], ARGV[1]\n"
    "local now, id, exp = tonumber(ARGV[2]), 'l:' .. ARGV[3], tonumber(ARGV[4])\n"
    "local lmax, keep = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "if op == 'renew' and redis.call('HEXISTS', k, id) == 0 then return 0 end\n"
    "if op ~= 'close' then\n"
    "  redis.call('HSET', k, id, exp)\n"
    "  local ttl = redis.call('PTTL', k)\n"
    "  local want = math.max(exp - now, 1) * 1000 + 1000\n"
    "  if ttl < want then redis.call('PEXPIRE', k, want) end\n"
    "  return 1\n"
    "end\n"
    "local h = redis.call('HGETALL', k)\n"
    "local start, off, held, others = 0, 0, false, false\n"
    "for i = 1, #h, 2 do\n"
    "  local f, v = h[i], tonumber(h[i + 1])\n"
    "  if f == 's' then start = v\n"
    "  elseif f == 'o' then off = v\n"
    "  elseif string.sub(f, 1, 2) == 'l:' then\n"
    "    if v > now then held = true end\n"
    "    if f ~= id then others = true end\n"
    "  end\n"
    "end\n"
    "redis.call('HDEL', k, id)\n"
    "if held and lmax >= 0 and start ~= 0 then\n"
    "  local cap = start + lmax\n"
    "  local last = now < cap and now or cap\n"
    "  if last - start > off then off = last - start; redis.call('HSET', k, 'o', off) end\n"
    "end\n"
    "if start ~= 0 and not others then\n"
    "  local til = start + off + keep\n"
    "  redis.call('HSET', k, 'x', til)\n"
    "  redis.call('PEXPIRE', k, math.max(til - now, 1) * 1000 + 1000)\n"
    "end\n"
    "return 1\n";

/* lg_clock_merge of this instance's view into the stored clock (see store_redis.h). */
const char lg_redis_merge_lua[] =
    "local k = KEYS[1]\n"
    "local now, ms, ml = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local brk, lmax, keep = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "local h = redis.call('HGETALL', k)\n"
    "local start, off, lease = 0, 0, 0\n"
    "for i = 1, #h, 2 do\n"
    "  local f, v = h[i], tonumber(h[i + 1])\n"
    "  if f == 's' then start = v\n"
    "  elseif f == 'o' then off = v\n"
    "  elseif string.sub(f, 1, 2) == 'l:' and v > now and v > lease then lease = v end\n"
    "end\n"
    "local last = start + off\n"
    "if lease > 0 and start ~= 0 then\n"
    "  local cap = start + lmax\n"
    "  local active = now < cap and now or cap\n"
    "  if active > last then last = active end\n"
    "end\n"
    "if ms ~= 0 then\n"
    "  if start == 0 then start, last = ms, ml\n"
    "  else\n"
    "    local es, el, ls, ll = start, last, ms, ml\n"
    "    if ms < start then es, el, ls, ll = ms, ml, start, last end\n"
    "    if ls - el >= brk then start, last = ls, ll\n"
    "    else start = es; if ll > el then last = ll else last = el end end\n"
    "  end\n"
    "  local til = last + keep\n"
    "  if lease > til then til = lease end\n"
    "  redis.call('HSET', k, 's', start, 'o', last - start, 'x', til)\n"
    "  redis.call('PEXPIRE', k, math.max(til - now, 1) * 1000 + 1000)\n"
    "end\n"
    "return {start, last - start, lease}\n";

/* The earlier lesson absorbs the later unless a full break lies between them. */
struct lg_clock_span
lg_clock_merge(struct lg_clock_span a, struct lg_clock_span b, int32_t brk)
{
	struct lg_clock_span t;

	if (a.start == 0)
		return b;
	if (b.start == 0)
		return a;
	if (b.start < a.start) {
		t = a;
		a = b;
		b = t;
	}
	if (b.start - a.last >= brk)
		return b;
	if (b.last > a.last)
		a.last = b.last;
	return a;
}

/* start, last_off, lease_until. */
int
lg_redis_merge_answer(const long long *v, size_t n, struct lg_student_state *st)
{
	if (n != 3 || v[0] < 0 || v[1] < 0 || v[1] > UINT32_MAX || v[2] < 0)
		return -1;
	memset(st, 0, sizeof(*st));
	st->start = v[0];
	st->last_off = (uint32_t)v[1];
	st->tunnels = v[2] != 0;
	st->lease_until = (uint16_t)v[2];
	return 0;
}

/* prefix{student}: the braces make the student the Redis Cluster hash tag. */
size_t
lg_redis_key(const char *prefix, const char *student, size_t len, char *out, size_t cap)
{
	size_t pl = strlen(prefix);

	if (pl + len + 3 > cap)
		return 0;
	memcpy(out, prefix, pl);
	out[pl] = '{';
	memcpy(out + pl + 1, student, len);
	out[pl + 1 + len] = '}';
	out[pl + 2 + len] = '\0';
	return pl + len + 2;
}

/* "<c><decimal n>\r\n" at p (at most 24 bytes); the end. */
static char *
resp_len(char *p, char c, size_t n)
{
	char d[20];
	int k = 0;

	*p++ = c;
	do
		d[k++] = (char)('0' + n % 10);
	while ((n /= 10) != 0);
	while (k > 0)
		*p++ = d[--k];
	*p++ = '\r';
	*p++ = '\n';
	return p;
}

/* *argc, then $len and the bytes of each argument, every line ended by CRLF. */
size_t
lg_redis_format(char *out, size_t cap, int argc, const char *const *argv, const size_t *argvlen)
{
	size_t need = 24;
	char *p = out;

	if (argc < 0)
		return 0;
	for (int i = 0; i < argc; i++) {
		if (argvlen[i] > cap)
			return 0;
		need += 24 + argvlen[i] + 2;
	}
	if (need > cap)
		return 0;
	p = resp_len(p, '*', (size_t)argc);
	for (int i = 0; i < argc; i++) {
		p = resp_len(p, '$', argvlen[i]);
		memcpy(p, argv[i], argvlen[i]);
		p += argvlen[i];
		*p++ = '\r';
		*p++ = '\n';
	}
	return (size_t)(p - out);
}

/* allow, start, last, new, ended_start, ended_last, last_off, lease_until. */
int
lg_redis_decide_answer(const long long *v, size_t n, struct lg_clock_outcome *o,
                       struct lg_student_state *st)
{
	if (n != 8 || v[0] < 0 || v[0] > 1 || v[6] < 0 || v[6] > UINT32_MAX)
		return -1;
	memset(o, 0, sizeof(*o));
	o->allow = v[0] == 1;
	o->start = v[1];
	o->last = v[2];
	o->new_lesson = v[3] == 1;
	o->ended_start = v[4];
	o->ended_last = v[5];
	memset(st, 0, sizeof(*st));
	st->start = v[1];
	st->last_off = (uint32_t)v[6];
	st->tunnels = v[7] != 0;
	st->lease_until = (uint16_t)v[7];
	return 0;
}
