/* Keyed hashing for tables a client can fill: SipHash-2-4, 128-bit output. */
#include "hash.h"

#include <string.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = ROTL(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = ROTL(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = ROTL(v2, 32);                                                                 \
	} while (0)

/* Little-endian 64-bit load of n <= 8 bytes. */
static uint64_t
le64(const uint8_t *p, size_t n)
{
	uint64_t x = 0;

	if (n == 8) {
		memcpy(&x, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		x = __builtin_bswap64(x);
#endif
		return x;
	}
	for (size_t i = n; i > 0; i--)
		x = x << 8 | p[i - 1];
	return x;
}

/* SipHash-2-4 with 128-bit output (Aumasson and Bernstein), as h[0] and h[1]. */
void
lg_siphash128(const uint8_t key[16], const void *data, size_t len, uint64_t h[2])
{
	const uint8_t *p = data;
	uint64_t k0 = le64(key, 8), k1 = le64(key + 8, 8), m;
	uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1 ^ 0xee;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		m = le64(p + i, 8);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	m = le64(p + i, len - i) | (uint64_t)len << 56;
	v3 ^= m;
	SIPROUND;
	SIPROUND;
	v0 ^= m;
	v2 ^= 0xee;
	for (i = 0; i < 4; i++)
		SIPROUND;
	h[0] = v0 ^ v1 ^ v2 ^ v3;
	v1 ^= 0xdd;
	for (i = 0; i < 4; i++)
		SIPROUND;
	h[1] = v0 ^ v1 ^ v2 ^ v3;
}
