/*
 * lstm_vocab_sketch.c
 *	  The vocabulary pass of ecml.train('lstm'): ecml.lstm_vocab_pass counts
 *	  the tokens of the sequences (cut to their last max_length tokens, as
 *	  ecml.lstm_train cuts them) in a flat bytea state that merges.
 *
 * The counts are exact while the distinct tokens fit in `capacity`
 * counters.  Beyond, the state is a Misra-Gries summary: a new token that
 * finds every counter taken lowers them all by one (itself included, so it
 * is dropped), and a merge adds the counters and lowers them all by the
 * (capacity + 1)-th largest count (Agarwal et al., "Mergeable summaries",
 * PODS 2012).  Every count is then low by at most `error`, the total
 * lowered, which is at most ntokens / (capacity + 1); a token more frequent
 * than that is never lost.  The driver keeps the most frequent tokens, as
 * ecml.lstm_train does, and reports the bound in the model's metrics.
 */
#include "postgres.h"

#include <math.h>

#include "arrays.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "ecml.h"
#include "lstm_passes.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#define SKETCH_AGG "ecml.lstm_vocab_pass"
#define SKETCH_MIN_CAP 1024

/* ---------------- sequences: shared with the epoch pass ---------------- */

bool
lstm_seq_tokens(ArrayType *arr, int max_length, LstmSeqTokens *t)
{
	int			first;

	memset(t, 0, sizeof(*t));
	if (ARR_ELEMTYPE(arr) == INT8OID)
	{
		t->token_type = LSTM_TOKENS_BIGINT;
		t->ids = ecml_array_int8(arr, "sequence", -1, &t->n);
	}
	else if (ARR_ELEMTYPE(arr) == TEXTOID)
	{
		bool	   *nulls;

		t->token_type = LSTM_TOKENS_TEXT;
		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("sequence must be a one-dimensional array, got %d dimensions",
							ARR_NDIM(arr))));
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &t->texts, &nulls, &t->n);
		for (int i = 0; i < t->n; i++)
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("sequence must not contain NULL elements")));
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("sequence must be bigint[] or text[], not %s[]",
						format_type_be(ARR_ELEMTYPE(arr)))));
	if (t->n < 2)
		return false;
	first = Max(0, t->n - max_length);
	if (t->ids)
		t->ids += first;
	else
		t->texts += first;
	t->n -= first;
	return true;
}

void
lstm_seq_token(const LstmSeqTokens *t, int i, int64 *id, const char **s, int *len)
{
	if (t->token_type == LSTM_TOKENS_BIGINT)
	{
		*id = t->ids[i];
		*s = NULL;
		*len = 0;
	}
	else
	{
		text	   *x = (text *) DatumGetPointer(t->texts[i]);

		*id = 0;
		*s = VARDATA_ANY(x);
		*len = VARSIZE_ANY_EXHDR(x);
	}
}

uint64
lstm_seq_hash(const LstmSeqTokens *t)
{
	uint64		h = t->n;

	for (int i = 0; i < t->n; i++)
	{
		int64		id;
		const char *s;
		int			len;

		lstm_seq_token(t, i, &id, &s, &len);
		if (s == NULL)
			h = hash_combine64(h, hash_bytes_uint32_extended((uint32) id, (uint64) (id >> 32)));
		else
			h = hash_combine64(h, hash_bytes_extended((const unsigned char *) s, len, 0));
	}
	return h;
}

/* ---------------- the state ---------------- */

static Size
sketch_size(int cap, int nslots, int64 arena_cap)
{
	return MAXALIGN(sizeof(LstmSketch)) + sizeof(LstmSketchEntry) * (Size) cap +
		   MAXALIGN(sizeof(int32) * (Size) nslots) + (Size) arena_cap;
}

LstmSketchEntry *
lstm_sketch_entries(const LstmSketch *s)
{
	return (LstmSketchEntry *) ((char *) s + MAXALIGN(sizeof(LstmSketch)));
}

static int32 *
sketch_slots(const LstmSketch *s)
{
	return (int32 *) (lstm_sketch_entries(s) + s->cap);
}

const char *
lstm_sketch_arena(const LstmSketch *s)
{
	return (const char *) (sketch_slots(s)) + MAXALIGN(sizeof(int32) * (Size) s->nslots);
}

#define sketch_corrupt() ecml_pass_state_invalid(SKETCH_AGG, "lstm", "partial state")

/* the header and the entries; the slots are rebuilt, never trusted */
void
lstm_sketch_check(const LstmSketch *s)
{
	const LstmSketchEntry *e;

	if (VARSIZE_ANY(s) < sizeof(LstmSketch) || s->magic != LSTM_SKETCH_MAGIC ||
		s->token_type < -1 || s->token_type > LSTM_TOKENS_TEXT ||
		s->cap < 0 || s->n < 0 || s->n > s->cap || s->capacity < 2 ||
		s->capacity > LSTM_SKETCH_CAPACITY_MAX || (s->token_type < 0 && s->n > 0) ||
		s->max_length < 2 || s->max_length > LSTM_MAX_LENGTH_MAX ||
		s->nslots < 2 * s->cap || (s->nslots & (s->nslots - 1)) != 0 ||
		s->arena_len < 0 || s->arena_len > s->arena_cap ||
		s->nseq < 0 || s->nnull < 0 || s->nshort < 0 || s->ntokens < 0 || s->error < 0 ||
		VARSIZE_ANY(s) != sketch_size(s->cap, s->nslots, s->arena_cap))
		sketch_corrupt();
	e = lstm_sketch_entries(s);
	for (int i = 0; i < s->n; i++)
		if (e[i].count <= 0 ||
			(s->token_type == LSTM_TOKENS_TEXT &&
			 (e[i].key < 0 || e[i].len < 0 || e[i].key + e[i].len > s->arena_len)))
			sketch_corrupt();
}

static int
sketch_find(const LstmSketch *s, int64 id, const char *str, int len, uint32 *slot)
{
	const LstmSketchEntry *e = lstm_sketch_entries(s);
	const int32 *slots = sketch_slots(s);
	const char *arena = lstm_sketch_arena(s);
	uint32 mask = (uint32) s->nslots - 1;
	uint32 i = (uint32) lstm_token_hash(s->token_type, id, str, len) & mask;

	for (;; i = (i + 1) & mask)
	{
		int32 k = slots[i];

		if (k < 0)
			break;
		if (s->token_type == LSTM_TOKENS_TEXT
				? (e[k].len == len && memcmp(arena + e[k].key, str, len) == 0)
				: e[k].key == id)
			return k;
	}
	*slot = i;
	return -1;
}

/*
 * A copy of s with room for cap entries and arena_cap text bytes, holding
 * the entries of positive count (compacted), its hash table rebuilt in
 * this process's hash.
 */
static LstmSketch *
sketch_rebuild(const LstmSketch *s, int cap, int64 arena_cap, MemoryContext mcxt)
{
	int			nslots = 2;
	LstmSketch *r;
	const LstmSketchEntry *old = lstm_sketch_entries(s);
	LstmSketchEntry *e;
	int32	   *slots;
	char	   *arena;
	Size		size;

	while (nslots < 2 * cap)
		nslots <<= 1;
	size = sketch_size(cap, nslots, arena_cap);
	ecml_check_train_memory(size, SKETCH_AGG);
	r = MemoryContextAllocHuge(mcxt, size);
	memcpy(r, s, sizeof(LstmSketch));
	SET_VARSIZE(r, size);
	r->cap = cap;
	r->nslots = nslots;
	r->arena_cap = arena_cap;
	r->n = 0;
	r->arena_len = 0;
	e = lstm_sketch_entries(r);
	slots = sketch_slots(r);
	arena = (char *) lstm_sketch_arena(r);
	memset(slots, 0xff, sizeof(int32) * nslots);
	for (int i = 0; i < s->n; i++)
	{
		const char *str = NULL;
		uint32		slot;

		if (old[i].count <= 0)
			continue;
		e[r->n] = old[i];
		if (s->token_type == LSTM_TOKENS_TEXT)
		{
			str = lstm_sketch_arena(s) + old[i].key;
			memcpy(arena + r->arena_len, str, old[i].len);
			e[r->n].key = r->arena_len;
			r->arena_len += old[i].len;
		}
		if (sketch_find(r, old[i].key, str, old[i].len, &slot) >= 0)
			sketch_corrupt();	/* a token twice */
		slots[slot] = r->n++;
	}
	return r;
}

/* Misra-Gries: every counter down by dec; the emptied ones dropped */
static LstmSketch *
sketch_lower(LstmSketch *s, int64 dec, MemoryContext mcxt)
{
	LstmSketchEntry *e = lstm_sketch_entries(s);
	bool		emptied = false;

	CHECK_FOR_INTERRUPTS();
	for (int i = 0; i < s->n; i++)
	{
		e[i].count -= dec;
		emptied |= e[i].count <= 0;
	}
	s->error += dec;
	if (!emptied)
		return s;
	return sketch_rebuild(s, s->cap, s->arena_cap, mcxt);
}

/* count c more of a token; s may move */
static LstmSketch *
sketch_add(LstmSketch *s, int64 id, const char *str, int len, int64 c, bool bounded,
		   MemoryContext mcxt)
{
	uint32		slot;
	int			k = sketch_find(s, id, str, len, &slot);
	LstmSketchEntry *e;

	if (k >= 0)
	{
		lstm_sketch_entries(s)[k].count += c;
		return s;
	}
	if (bounded && s->n >= s->capacity)
		return sketch_lower(s, 1, mcxt);	/* c is 1: the token itself goes */
	if (s->n == s->cap || s->arena_len + len > s->arena_cap)
	{
		int			cap = s->n == s->cap ? s->cap * 2 : s->cap;
		int64		arena_cap = s->arena_cap;

		while (arena_cap < s->arena_len + len)
			arena_cap = Max(4096, arena_cap * 2);
		s = sketch_rebuild(s, cap, s->token_type == LSTM_TOKENS_TEXT ? arena_cap : 0, mcxt);
		k = sketch_find(s, id, str, len, &slot);
	}
	e = lstm_sketch_entries(s) + s->n;
	e->count = c;
	e->len = len;
	e->pad = 0;
	if (str != NULL)
	{
		memcpy((char *) lstm_sketch_arena(s) + s->arena_len, str, len);
		e->key = s->arena_len;
		s->arena_len += len;
	}
	else
		e->key = id;
	sketch_slots(s)[slot] = s->n++;
	return s;
}

static LstmSketch *
sketch_new(int max_length, int capacity, MemoryContext mcxt)
{
	LstmSketch	head;

	memset(&head, 0, sizeof(head));
	SET_VARSIZE(&head, sketch_size(0, 0, 0));
	head.magic = LSTM_SKETCH_MAGIC;
	head.token_type = -1;
	head.max_length = max_length;
	head.capacity = capacity;
	return sketch_rebuild(&head, Min(SKETCH_MIN_CAP, capacity), 0, mcxt);
}

/* ---------------- the aggregate ---------------- */

/* params: max_length, capacity */
static void
sketch_params(ArrayType *params, int *max_length, int *capacity)
{
	const double *pv;

	if (ARR_ELEMTYPE(params) != FLOAT8OID || ARR_NDIM(params) != 1 || ARR_HASNULL(params) ||
		ArrayGetNItems(ARR_NDIM(params), ARR_DIMS(params)) != 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: params must be {max_length, capacity}", SKETCH_AGG)));
	pv = (const double *) ARR_DATA_PTR(params);
	if (!(pv[0] >= 2 && pv[0] <= LSTM_MAX_LENGTH_MAX && pv[0] == floor(pv[0])) ||
		!(pv[1] >= 2 && pv[1] <= LSTM_SKETCH_CAPACITY_MAX && pv[1] == floor(pv[1])))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: params must be {max_length, capacity} with 2 <= max_length <= %d and 2 <= capacity <= %d, whole numbers",
						SKETCH_AGG, LSTM_MAX_LENGTH_MAX, LSTM_SKETCH_CAPACITY_MAX)));
	*max_length = (int) pv[0];
	*capacity = (int) pv[1];
}

PG_FUNCTION_INFO_V1(lstm_vocab_pass_transfn);
Datum
lstm_vocab_pass_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	LstmSketch *s;
	LstmSeqTokens t;
	bool		agg = AggCheckCallContext(fcinfo, &aggcxt);

	if (!agg)
		aggcxt = CurrentMemoryContext;
	if (PG_ARGISNULL(0))
	{
		int			max_length;
		int			capacity;

		if (PG_ARGISNULL(2))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s: params must not be NULL", SKETCH_AGG)));
		sketch_params(PG_GETARG_ARRAYTYPE_P(2), &max_length, &capacity);
		s = sketch_new(max_length, capacity, aggcxt);
	}
	else if (!agg)
	{
		/* called directly: a checked copy, hashed in this process */
		s = (LstmSketch *) PG_GETARG_BYTEA_P(0);
		lstm_sketch_check(s);
		s = sketch_rebuild(s, s->cap, s->arena_cap, aggcxt);
	}
	else
	{
		s = (LstmSketch *) PG_GETARG_BYTEA_P(0);
		if (s->magic != LSTM_SKETCH_MAGIC)
			sketch_corrupt();
	}
	if (PG_ARGISNULL(1))
	{
		s->nnull++;
		PG_RETURN_BYTEA_P(s);
	}
	if (!lstm_seq_tokens(PG_GETARG_ARRAYTYPE_P(1), s->max_length, &t))
	{
		s->nshort++;
		PG_RETURN_BYTEA_P(s);
	}
	if (s->token_type < 0)
		s->token_type = t.token_type;
	else if (s->token_type != t.token_type)
		sketch_corrupt();
	for (int i = 0; i < t.n; i++)
	{
		int64		id;
		const char *str;
		int			len;

		lstm_seq_token(&t, i, &id, &str, &len);
		s = sketch_add(s, id, str, len, 1, true, aggcxt);
	}
	s->nseq++;
	s->ntokens += t.n;
	s->checksum += lstm_seq_hash(&t);
	PG_RETURN_BYTEA_P(s);
}

static int
count_desc_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x < y) - (x > y);
}

/*
 * combine: add the counters, then keep at most capacity of them by
 * lowering all by the (capacity + 1)-th largest count.
 */
PG_FUNCTION_INFO_V1(lstm_vocab_pass_combinefn);
Datum
lstm_vocab_pass_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	LstmSketch *s1 = PG_ARGISNULL(0) ? NULL : (LstmSketch *) PG_GETARG_BYTEA_P(0);
	LstmSketch *s2 = PG_ARGISNULL(1) ? NULL : (LstmSketch *) PG_GETARG_BYTEA_P(1);
	const LstmSketchEntry *e2;

	bool		agg = AggCheckCallContext(fcinfo, &aggcxt);

	if (!agg)
		aggcxt = CurrentMemoryContext;
	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	lstm_sketch_check(s2);
	if (s1 == NULL)
		/* a copy in this process's hash and memory */
		PG_RETURN_BYTEA_P(sketch_rebuild(s2, s2->cap, s2->arena_cap, aggcxt));
	lstm_sketch_check(s1);
	if (!agg)
		s1 = sketch_rebuild(s1, s1->cap, s1->arena_cap, aggcxt);
	if (s2->token_type >= 0 && s1->token_type >= 0 && s1->token_type != s2->token_type)
		sketch_corrupt();
	if (s1->max_length != s2->max_length || s1->capacity != s2->capacity)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: params differ between rows", SKETCH_AGG),
				 errhint("Pass the same params with every row (a constant).")));
	if (s1->token_type < 0)
		s1->token_type = s2->token_type;
	e2 = lstm_sketch_entries(s2);
	for (int i = 0; i < s2->n; i++)
	{
		const char *str = s2->token_type == LSTM_TOKENS_TEXT ? lstm_sketch_arena(s2) + e2[i].key : NULL;

		if ((i & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		s1 = sketch_add(s1, e2[i].key, str, e2[i].len, e2[i].count, false, aggcxt);
	}
	s1->nseq += s2->nseq;
	s1->nnull += s2->nnull;
	s1->nshort += s2->nshort;
	s1->ntokens += s2->ntokens;
	s1->error += s2->error;
	s1->checksum += s2->checksum;
	if (s1->n > s1->capacity)
	{
		int64	   *c = palloc(sizeof(int64) * s1->n);
		const LstmSketchEntry *e1 = lstm_sketch_entries(s1);

		for (int i = 0; i < s1->n; i++)
			c[i] = e1[i].count;
		qsort(c, s1->n, sizeof(int64), count_desc_cmp);
		s1 = sketch_lower(s1, c[s1->capacity], aggcxt);
		pfree(c);
	}
	PG_RETURN_BYTEA_P(s1);
}
