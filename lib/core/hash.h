/* Keyed hashing for tables a client can fill: SipHash-2-4, 128-bit output. */
#ifndef LG_HASH_H
#define LG_HASH_H

#include <stddef.h>
#include <stdint.h>

/*
 * SipHash-2-4 with 128-bit output (Aumasson and Bernstein) under a 16-byte
 * key, as h[0] and h[1]; the same values as OpenSSL's SIPHASH with a 16-byte
 * digest. With a random key, ids a client chooses cannot be made to collide.
 */
void lg_siphash128(const uint8_t key[16], const void *data, size_t len, uint64_t h[2]);

#endif
