/*
 * lstm_vocab.c
 *	  The LSTM's vocabulary: bigint or text tokens to dense indices through
 *	  an open-addressing hash table (linear probing, load at most 1/2).
 *	  Used to count tokens while training and to map a scoring sequence.
 *
 * The tokens come from training rows and, when a model is loaded, from the
 * model's bytes: anyone who can pass a model or a sequence chooses them.
 * With a fixed, public hash, words chosen to land in one narrow band of
 * slots (a few million trial hashes find 10^5 of them) merge into one probe
 * run, and each insert walks it: a vocabulary of V such words costs V^2/2
 * probes to load.  So the hash is SipHash-2-4 (Aumasson & Bernstein 2012, a
 * keyed pseudorandom function made for hash tables fed by adversaries) under
 * a key drawn once per backend from pg_strong_random: without the key,
 * chosen words spread like random ones.  The key lives only in memory; the
 * entries' order (the model's vocabulary order) never depends on it.
 */
#include "postgres.h"

#include <limits.h>

#include "ecml.h"
#include "lstm.h"
#include "utils/memutils.h"

static uint64 sip_key[2];
static bool sip_key_ready = false;

#define SIP_ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

#define SIP_ROUND(v0, v1, v2, v3) \
	do { \
		v0 += v1; v1 = SIP_ROTL(v1, 13); v1 ^= v0; v0 = SIP_ROTL(v0, 32); \
		v2 += v3; v3 = SIP_ROTL(v3, 16); v3 ^= v2; \
		v0 += v3; v3 = SIP_ROTL(v3, 21); v3 ^= v0; \
		v2 += v1; v1 = SIP_ROTL(v1, 17); v1 ^= v2; v2 = SIP_ROTL(v2, 32); \
	} while (0)

/* SipHash-2-4 of data[0..len) under key k (paper, section 2) */
static uint64
siphash24(const uint64 k[2], const unsigned char *data, Size len)
{
	uint64		v0 = k[0] ^ UINT64CONST(0x736f6d6570736575);
	uint64		v1 = k[1] ^ UINT64CONST(0x646f72616e646f6d);
	uint64		v2 = k[0] ^ UINT64CONST(0x6c7967656e657261);
	uint64		v3 = k[1] ^ UINT64CONST(0x7465646279746573);
	Size		full = len - len % 8;
	uint64		last = (uint64) (len & 0xff) << 56;

	for (Size off = 0; off < full; off += 8)
	{
		uint64		m;

		memcpy(&m, data + off, 8);	/* little-endian host (see model.c) */
		v3 ^= m;
		SIP_ROUND(v0, v1, v2, v3);
		SIP_ROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	for (Size i = full; i < len; i++)
		last |= (uint64) data[i] << (8 * (i - full));
	v3 ^= last;
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	v0 ^= last;
	v2 ^= 0xff;
	for (int r = 0; r < 4; r++)
		SIP_ROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

static void
sip_key_init(void)
{
	if (sip_key_ready)
		return;
	if (!pg_strong_random(sip_key, sizeof(sip_key)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random key for the LSTM vocabulary hash")));
	sip_key_ready = true;
}

static inline uint32
token_hash(const LstmVocab *v, int64 id, const char *s, int len)
{
	if (v->token_type == LSTM_TOKENS_TEXT)
		return (uint32) siphash24(sip_key, (const unsigned char *) s, len);
	return (uint32) siphash24(sip_key, (const unsigned char *) &id, sizeof(id));
}

static inline bool
token_equal(const LstmVocab *v, int e, int64 id, const char *s, int len)
{
	if (v->token_type == LSTM_TOKENS_TEXT)
		return v->lens[e] == len && memcmp(v->strs[e], s, len) == 0;
	return v->ids[e] == id;
}

static void
vocab_alloc(LstmVocab *v, int cap)
{
	Size		nslots = 1;

	while (nslots < (Size) cap * 2)
		nslots <<= 1;
	v->cap = cap;
	if (v->token_type == LSTM_TOKENS_TEXT)
	{
		v->strs = palloc_extended(sizeof(char *) * cap, MCXT_ALLOC_HUGE);
		v->lens = palloc_extended(sizeof(int) * cap, MCXT_ALLOC_HUGE);
	}
	else
		v->ids = palloc_extended(sizeof(int64) * cap, MCXT_ALLOC_HUGE);
	v->counts = palloc_extended(sizeof(int64) * cap, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	v->slots = palloc_extended(sizeof(int32) * nslots, MCXT_ALLOC_HUGE);
	memset(v->slots, 0xff, sizeof(int32) * nslots);
	v->mask = (uint32) (nslots - 1);
}

void
lstm_vocab_init(LstmVocab *v, int token_type, int expected)
{
	sip_key_init();
	memset(v, 0, sizeof(*v));
	v->token_type = token_type;
	vocab_alloc(v, Max(expected, 16));
}

uint64
lstm_token_hash(int token_type, int64 id, const char *s, int len)
{
	sip_key_init();
	if (token_type == LSTM_TOKENS_TEXT)
		return siphash24(sip_key, (const unsigned char *) s, len);
	return siphash24(sip_key, (const unsigned char *) &id, sizeof(id));
}

int
lstm_vocab_find(const LstmVocab *v, int64 id, const char *s, int len)
{
	uint32		i = token_hash(v, id, s, len) & v->mask;

	for (;;)
	{
		int32		e = v->slots[i];

		if (e < 0)
			return -1;
		if (token_equal(v, e, id, s, len))
			return e;
		i = (i + 1) & v->mask;
	}
}

static void
vocab_grow(LstmVocab *v)
{
	LstmVocab	old = *v;

	vocab_alloc(v, old.cap * 2);
	v->n = 0;
	for (int e = 0; e < old.n; e++)
	{
		uint32		i;

		if (v->token_type == LSTM_TOKENS_TEXT)
		{
			v->strs[e] = old.strs[e];
			v->lens[e] = old.lens[e];
			i = token_hash(v, 0, old.strs[e], old.lens[e]) & v->mask;
		}
		else
		{
			v->ids[e] = old.ids[e];
			i = token_hash(v, old.ids[e], NULL, 0) & v->mask;
		}
		v->counts[e] = old.counts[e];
		while (v->slots[i] >= 0)
			i = (i + 1) & v->mask;
		v->slots[i] = e;
		v->n++;
	}
	if (old.strs)
	{
		pfree(old.strs);
		pfree(old.lens);
	}
	if (old.ids)
		pfree(old.ids);
	pfree(old.counts);
	pfree(old.slots);
}

int
lstm_vocab_add(LstmVocab *v, int64 id, const char *s, int len)
{
	uint32		i;
	int			e = lstm_vocab_find(v, id, s, len);

	if (e >= 0)
		return e;
	if (v->n == v->cap)
	{
		if (v->cap >= INT_MAX / 4)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many distinct tokens for an LSTM vocabulary")));
		vocab_grow(v);
	}
	e = v->n++;
	if (v->token_type == LSTM_TOKENS_TEXT)
	{
		v->strs[e] = pnstrdup(s, len);
		v->lens[e] = len;
	}
	else
		v->ids[e] = id;
	v->counts[e] = 0;
	i = token_hash(v, id, s, len) & v->mask;
	while (v->slots[i] >= 0)
		i = (i + 1) & v->mask;
	v->slots[i] = e;
	return e;
}
