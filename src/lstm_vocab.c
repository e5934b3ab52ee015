/*
 * lstm_vocab.c
 *	  The LSTM's vocabulary: bigint or text tokens to dense indices through
 *	  an open-addressing hash table (linear probing, load at most 1/2).
 *	  Used to count tokens while training and to map a scoring sequence.
 */
#include "postgres.h"

#include <limits.h>

#include "common/hashfn.h"
#include "ecml.h"
#include "lstm.h"
#include "utils/memutils.h"

static inline uint32
token_hash(const LstmVocab *v, int64 id, const char *s, int len)
{
	if (v->token_type == LSTM_TOKENS_TEXT)
		return hash_bytes((const unsigned char *) s, len);
	return (uint32) hash_bytes_uint32_extended((uint32) id, (uint64) (id >> 32));
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
	memset(v, 0, sizeof(*v));
	v->token_type = token_type;
	vocab_alloc(v, Max(expected, 16));
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
