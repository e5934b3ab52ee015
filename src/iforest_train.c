/*
 * iforest_train.c
 *	  ecml.anomaly_train(features real[] [, options jsonb]): an isolation
 *	  forest (Liu, Ting & Zhou 2008, "Isolation Forest", ICDM).
 *
 * Each of the t trees is grown on its own sample of psi rows drawn without
 * replacement from all rows (the paper's sub-sampling).  The aggregate does
 * not buffer the table: it keeps, per tree, a reservoir of psi rows, so the
 * state stays at most t * psi rows however many rows are scanned.
 *
 * A reservoir is a bottom-k sketch: every row gets an independent uniform
 * key per tree and the tree keeps the psi rows with the smallest keys, which
 * is a uniform sample without replacement.  Once full, the largest kept key
 * W is the acceptance probability of the next row, so the number of rows to
 * skip is geometric and most rows cost one comparison (Li 1994, "Reservoir
 * sampling algorithms of time complexity O(n(1 + log(N/n)))", Algorithm L).
 * The keys make the parallel combine exact: the psi smallest keys of two
 * disjoint parts' samples are the psi smallest of the union.  Rows kept by
 * several trees are stored once, with a reference count.
 *
 * Determinism: the keys come from one generator seeded by the seed option
 * (mixed with the parallel worker number), so a serial plan over the same
 * rows in the same order gives the same trees.  A parallel plan splits rows
 * between processes in a way that varies from run to run: its trees are
 * grown on an equally uniform, but different, sample.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "access/parallel.h"
#include "arrays.h"
#include "ecml.h"
#include "iforest.h"
#include "miscadmin.h"
#include "rowbuf.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define TRAINER "ecml.anomaly_train"

/* splitmix64's increment: spreads worker numbers and streams over seeds */
#define SEED_SPREAD UINT64CONST(0x9e3779b97f4a7c15)
#define TREE_STREAM UINT64CONST(0x6a09e667f3bcc909)
#define NEVER		PG_INT64_MAX
/* rows copied between interrupt checks (a power of 2) when (de)serializing */
#define IFOREST_ROWS_PER_CHECK 1024

static const EcmlOptionSpec iforest_option_specs[] = {
	{"n_trees", ECML_OPT_INT, offsetof(IForestOptions, n_trees),
	IFOREST_N_TREES_MIN, IFOREST_N_TREES_MAX},
	{"sample_size", ECML_OPT_INT, offsetof(IForestOptions, sample_size),
	IFOREST_SAMPLE_SIZE_MIN, IFOREST_SAMPLE_SIZE_MAX},
	{"seed", ECML_OPT_INT64, offsetof(IForestOptions, seed), 0, IFOREST_SEED_MAX},
	{"max_features", ECML_OPT_REAL, offsetof(IForestOptions, max_features), 0.0, 1.0, true},
};

#define N_IFOREST_OPTIONS lengthof(iforest_option_specs)

/* One tree's sample: keys and row slots, a max-heap on the key once full. */
typedef struct IForestReservoir
{
	int			m;				/* rows held, at most psi */
	int			capacity;
	double	   *keys;
	int32	   *slots;			/* into the row pool */
	int64		next;			/* index of the next row to take, once full */
} IForestReservoir;

typedef struct IForestState
{
	IForestOptions o;
	Jsonb	   *options;		/* as given with the first row, or NULL */
	int			nfeatures;		/* -1 until the first row */
	int64		nrows;			/* rows offered to the reservoirs */
	int64		nskipped;		/* rows with a NULL feature vector */
	EcmlRng		rng;
	IForestReservoir *res;		/* [n_trees], NULL until the first row */
	int32	   *due;			/* [n_trees]: a min-heap of trees on res[t].next */
	/* the row pool: rows kept by any reservoir, with reference counts */
	float	   *rows;			/* [capacity][nfeatures] */
	int32	   *refs;
	int32	   *free_slots;
	int			nfree;
	int			used;			/* slots handed out at least once */
	int			capacity;
	Size		bytes;			/* pool and reservoir bytes */
} IForestState;

void
iforest_parse_options(Jsonb *opts, IForestOptions *o, const char *trainer)
{
	o->n_trees = IFOREST_N_TREES_DEFAULT;
	o->sample_size = IFOREST_SAMPLE_SIZE_DEFAULT;
	o->seed = IFOREST_SEED_DEFAULT;
	o->max_features = IFOREST_MAX_FEATURES_DEFAULT;
	ecml_parse_options(opts, iforest_option_specs, N_IFOREST_OPTIONS, o, trainer);
}

static IForestState *
iforest_state_new(MemoryContext aggcxt, Jsonb *options)
{
	IForestState *st = MemoryContextAllocZero(aggcxt, sizeof(IForestState));

	st->nfeatures = -1;
	if (options != NULL)
	{
		st->options = MemoryContextAlloc(aggcxt, VARSIZE(options));
		memcpy(st->options, options, VARSIZE(options));
	}
	/* parse now so a bad option fails before the scan, not after */
	iforest_parse_options(st->options, &st->o, TRAINER);
	ecml_rng_seed(&st->rng, (uint64) st->o.seed +
				  SEED_SPREAD * (uint64) (ParallelWorkerNumber + 1));
	return st;
}

/* Allocate the reservoirs once the feature count is known. */
static void
iforest_state_start(IForestState *st, MemoryContext aggcxt, int nfeatures)
{
	st->nfeatures = nfeatures;
	st->res = MemoryContextAllocZero(aggcxt, sizeof(IForestReservoir) * st->o.n_trees);
	st->due = MemoryContextAlloc(aggcxt, sizeof(int32) * st->o.n_trees);
	for (int t = 0; t < st->o.n_trees; t++)
		st->due[t] = t;
	st->bytes = (sizeof(IForestReservoir) + sizeof(int32)) * st->o.n_trees;
}

static void
reservoir_reserve(IForestState *st, IForestReservoir *r, int need, MemoryContext aggcxt)
{
	int			newcap;

	if (need <= r->capacity)
		return;

	/*
	 * The trees' reservoirs fill at the same rows, so they double at the
	 * same row too: with 600 trees that one transition call reallocates
	 * over 100 MB.
	 */
	CHECK_FOR_INTERRUPTS();
	newcap = Min(st->o.sample_size, Max(need, Max(16, r->capacity * 2)));
	ecml_check_train_memory(st->bytes + (Size) (newcap - r->capacity) * (sizeof(double) + sizeof(int32)),
							TRAINER);
	if (r->keys == NULL)
	{
		r->keys = MemoryContextAllocHuge(aggcxt, sizeof(double) * newcap);
		r->slots = MemoryContextAllocHuge(aggcxt, sizeof(int32) * newcap);
	}
	else
	{
		r->keys = repalloc_huge(r->keys, sizeof(double) * newcap);
		r->slots = repalloc_huge(r->slots, sizeof(int32) * newcap);
	}
	st->bytes += (Size) (newcap - r->capacity) * (sizeof(double) + sizeof(int32));
	r->capacity = newcap;
}

/* A pool slot holding a copy of x, with no references yet. */
static int32
pool_store(IForestState *st, const float *x, MemoryContext aggcxt)
{
	int32		slot;
	Size		rowbytes = sizeof(float) * st->nfeatures;

	if (st->nfree > 0)
		slot = st->free_slots[--st->nfree];
	else
	{
		if (st->used == st->capacity)
		{
			/* never more live rows than references: t * psi */
			int64		bound = (int64) st->o.n_trees * st->o.sample_size;
			int			newcap = (int) Min(bound, Max(64, (int64) st->capacity * 2));
			Size		grow = (Size) (newcap - st->capacity) * (rowbytes + 2 * sizeof(int32));

			if (newcap <= st->capacity)
				elog(ERROR, "ecml: isolation forest row pool overflow");
			ecml_check_train_memory(st->bytes + grow, TRAINER);
			if (st->rows == NULL)
			{
				st->rows = MemoryContextAllocHuge(aggcxt, rowbytes * newcap);
				st->refs = MemoryContextAllocHuge(aggcxt, sizeof(int32) * newcap);
				st->free_slots = MemoryContextAllocHuge(aggcxt, sizeof(int32) * newcap);
			}
			else
			{
				st->rows = repalloc_huge(st->rows, rowbytes * newcap);
				st->refs = repalloc_huge(st->refs, sizeof(int32) * newcap);
				st->free_slots = repalloc_huge(st->free_slots, sizeof(int32) * newcap);
			}
			st->bytes += grow;
			st->capacity = newcap;
		}
		slot = st->used++;
	}
	memcpy(st->rows + (Size) slot * st->nfeatures, x, rowbytes);
	st->refs[slot] = 0;
	return slot;
}

static inline void
pool_release(IForestState *st, int32 slot)
{
	if (--st->refs[slot] == 0)
		st->free_slots[st->nfree++] = slot;
}

/* Restore the max-heap on keys below position i. */
static void
heap_sift_down(IForestReservoir *r, int i)
{
	double		key = r->keys[i];
	int32		slot = r->slots[i];

	for (;;)
	{
		int			c = 2 * i + 1;

		if (c >= r->m)
			break;
		if (c + 1 < r->m && r->keys[c + 1] > r->keys[c])
			c++;
		if (r->keys[c] <= key)
			break;
		r->keys[i] = r->keys[c];
		r->slots[i] = r->slots[c];
		i = c;
	}
	r->keys[i] = key;
	r->slots[i] = slot;
}

static void
heapify(IForestReservoir *r)
{
	for (int i = r->m / 2 - 1; i >= 0; i--)
		heap_sift_down(r, i);
}

/*
 * A full reservoir takes a later row when its key falls below W, the
 * largest kept key: the rows skipped before that are geometric(W).
 */
static void
reservoir_schedule(IForestReservoir *r, EcmlRng *rng, int64 after)
{
	double		w = r->keys[0];
	double		u = 1.0 - ecml_rng_uniform(rng);	/* (0, 1] */
	double		skip;

	if (!(w > 0.0))
	{
		r->next = NEVER;
		return;
	}
	skip = w >= 1.0 ? 0.0 : floor(log(u) / log1p(-w));
	r->next = (skip >= (double) (NEVER - after - 1)) ? NEVER : after + 1 + (int64) skip;
}

/* Restore the min-heap of trees on their next row below position i. */
static void
due_sift_down(IForestState *st, int i)
{
	int32		t = st->due[i];
	int64		key = st->res[t].next;
	int			n = st->o.n_trees;

	for (;;)
	{
		int			c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && st->res[st->due[c + 1]].next < st->res[st->due[c]].next)
			c++;
		if (st->res[st->due[c]].next >= key)
			break;
		st->due[i] = st->due[c];
		i = c;
	}
	st->due[i] = t;
}

static void
due_heapify(IForestState *st)
{
	for (int i = st->o.n_trees / 2 - 1; i >= 0; i--)
		due_sift_down(st, i);
}

/* Offer row x (the row numbered st->nrows) to every reservoir. */
static void
iforest_offer(IForestState *st, const float *x, MemoryContext aggcxt)
{
	int64		i = st->nrows;
	int			psi = st->o.sample_size;

	if (i < psi)
	{
		/* filling: every tree takes the row, with its own key */
		int32		slot = pool_store(st, x, aggcxt);

		for (int t = 0; t < st->o.n_trees; t++)
		{
			IForestReservoir *r = &st->res[t];

			reservoir_reserve(st, r, r->m + 1, aggcxt);
			r->keys[r->m] = ecml_rng_uniform(&st->rng);
			r->slots[r->m] = slot;
			r->m++;
			if (r->m == psi)
			{
				heapify(r);
				reservoir_schedule(r, &st->rng, i);
			}
		}
		st->refs[slot] = st->o.n_trees;
		if (i + 1 == psi)
			due_heapify(st);
	}
	else if (i == st->res[st->due[0]].next)
	{
		int32		slot = -1;

		/* every tree due at this row, soonest first off the heap */
		while (st->res[st->due[0]].next == i)
		{
			IForestReservoir *r = &st->res[st->due[0]];

			/* the new key is uniform below W; it evicts the row holding W */
			pool_release(st, r->slots[0]);
			if (slot < 0)
				slot = pool_store(st, x, aggcxt);
			st->refs[slot]++;
			r->keys[0] = r->keys[0] * ecml_rng_uniform(&st->rng);
			r->slots[0] = slot;
			heap_sift_down(r, 0);
			reservoir_schedule(r, &st->rng, i);
			due_sift_down(st, 0);
		}
	}
	st->nrows++;
}

/* transition: offer one row to the reservoirs; NULL rows are counted and skipped */
PG_FUNCTION_INFO_V1(anomaly_train_transfn);
Datum
anomaly_train_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	IForestState *st;
	float	   *x;
	int			n;

	aggcxt = ecml_agg_context(fcinfo, "anomaly_train_transfn");

	st = PG_ARGISNULL(0) ? NULL : (IForestState *) PG_GETARG_POINTER(0);
	if (st == NULL)
		st = iforest_state_new(aggcxt, (PG_NARGS() > 2 && !PG_ARGISNULL(2)) ?
							   PG_GETARG_JSONB_P(2) : NULL);

	if (PG_ARGISNULL(1))
	{
		st->nskipped++;
		PG_RETURN_POINTER(st);
	}

	x = ecml_array_float4(PG_GETARG_ARRAYTYPE_P(1), "feature vector", -1, &n, false);
	ecml_check_feature_count(n, IFOREST_MAX_FEATURES, TRAINER);
	if (st->nfeatures < 0)
		iforest_state_start(st, aggcxt, n);
	ecml_check_same_width(st->nfeatures, n, TRAINER);

	iforest_offer(st, x, aggcxt);
	PG_RETURN_POINTER(st);
}

typedef struct KeyedRow
{
	double		key;
	int32		slot;
	bool		from2;
} KeyedRow;

static int
keyed_row_cmp(const void *a, const void *b)
{
	const KeyedRow *x = a;
	const KeyedRow *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	/* equal keys (probability ~2^-53): a fixed order keeps the merge deterministic */
	if (x->from2 != y->from2)
		return x->from2 ? 1 : -1;
	return (x->slot > y->slot) - (x->slot < y->slot);
}

/*
 * Tree t's reservoir of s1 becomes the psi smallest keys of both parts.
 * items: scratch of 2 psi; map: s2's pool slots already copied into s1's.
 */
static void
merge_reservoir(IForestState *s1, const IForestState *s2, int t, KeyedRow *items,
				int32 *map, MemoryContext aggcxt)
{
	IForestReservoir *r1 = &s1->res[t];
	const IForestReservoir *r2 = &s2->res[t];
	int			psi = s1->o.sample_size;
	int			n = 0;
	int			keep;

	for (int part = 0; part < 2; part++)
	{
		const IForestReservoir *r = part == 0 ? r1 : r2;

		for (int k = 0; k < r->m; k++, n++)
		{
			items[n].key = r->keys[k];
			items[n].slot = r->slots[k];
			items[n].from2 = part == 1;
		}
	}
	/* when both fit, all are kept: the order within a reservoir is free */
	if (n > psi)
		qsort(items, n, sizeof(KeyedRow), keyed_row_cmp);
	keep = Min(n, psi);

	/* release the rows s1 drops first, so that their slots can be reused */
	reservoir_reserve(s1, r1, keep, aggcxt);
	for (int k = keep; k < n; k++)
		if (!items[k].from2)
			pool_release(s1, items[k].slot);
	for (int k = 0; k < keep; k++)
	{
		int32		slot = items[k].slot;

		if (items[k].from2)
		{
			if (map[slot] < 0)
				map[slot] = pool_store(s1, s2->rows + (Size) slot * s2->nfeatures, aggcxt);
			slot = map[slot];
			s1->refs[slot]++;
		}
		r1->keys[k] = items[k].key;
		r1->slots[k] = slot;
	}
	r1->m = keep;
	if (keep == psi)
	{
		heapify(r1);
		reservoir_schedule(r1, &s1->rng, s1->nrows + s2->nrows - 1);
	}
}

/*
 * combine: the psi smallest keys of both parts, per tree.  Rows of s2 that
 * survive are copied into s1's pool, once however many trees keep them.
 */
PG_FUNCTION_INFO_V1(anomaly_train_combinefn);
Datum
anomaly_train_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	IForestState *s1 = PG_ARGISNULL(0) ? NULL : (IForestState *) PG_GETARG_POINTER(0);
	IForestState *s2 = PG_ARGISNULL(1) ? NULL : (IForestState *) PG_GETARG_POINTER(1);
	int			psi;
	int32	   *map;
	KeyedRow   *items;

	aggcxt = ecml_agg_context(fcinfo, "anomaly_train_combinefn");
	if (s2 == NULL)
		PG_RETURN_POINTER(s1);
	if (s1 == NULL)
		PG_RETURN_POINTER(s2);
	if (s1->o.n_trees != s2->o.n_trees || s1->o.sample_size != s2->o.sample_size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s options differ between rows", TRAINER),
				 errhint("Pass the same options to every row, for example as a constant.")));
	if (s2->nrows == 0)
	{
		s1->nskipped += s2->nskipped;
		PG_RETURN_POINTER(s1);
	}
	if (s1->nrows == 0)
	{
		s2->nskipped += s1->nskipped;
		PG_RETURN_POINTER(s2);
	}
	ecml_check_same_width(s1->nfeatures, s2->nfeatures, TRAINER);

	psi = s1->o.sample_size;
	/* both states, the merge list and the slot map are held at once */
	ecml_check_train_memory(s1->bytes + s2->bytes + sizeof(KeyedRow) * 2 * (Size) psi +
							sizeof(int32) * (Size) Max(1, s2->used), TRAINER);
	map = palloc(sizeof(int32) * Max(1, s2->used));
	for (int k = 0; k < s2->used; k++)
		map[k] = -1;
	items = palloc(sizeof(KeyedRow) * 2 * (Size) psi);

	for (int t = 0; t < s1->o.n_trees; t++)
	{
		CHECK_FOR_INTERRUPTS();
		merge_reservoir(s1, s2, t, items, map, aggcxt);
	}
	s1->nrows += s2->nrows;
	s1->nskipped += s2->nskipped;
	due_heapify(s1);
	pfree(map);
	pfree(items);
	PG_RETURN_POINTER(s1);
}

/*
 * Serialized state (native byte order, between processes of one server):
 * int32 nfeatures, n_trees, sample_size, options length, live rows;
 * int32 zero; int64 nrows, nskipped; uint64 rng[4]; the options jsonb;
 * the live rows; then per tree int32 m, int32 zero, m float8 keys and
 * m int32 slots (numbered among the live rows), each part padded to 8.
 */
#define SERIAL_HEAD (6 * sizeof(int32) + 2 * sizeof(int64) + 4 * sizeof(uint64))
#define PAD8(n) TYPEALIGN(8, (n))

PG_FUNCTION_INFO_V1(anomaly_train_serialfn);
Datum
anomaly_train_serialfn(PG_FUNCTION_ARGS)
{
	IForestState *st = (IForestState *) PG_GETARG_POINTER(0);
	int32		optlen = st->options ? VARSIZE(st->options) : 0;
	int32		ntrees = st->o.n_trees;
	int32		nlive = 0;
	int32	   *renum = NULL;
	int32		zero = 0;
	Size		rowbytes;
	Size		payload;
	bytea	   *out;
	char	   *head;
	char	   *body;
	char	   *p;

	/* number the live rows 0..nlive-1 */
	if (st->used > 0)
	{
		renum = palloc(sizeof(int32) * st->used);
		for (int k = 0; k < st->used; k++)
			renum[k] = st->refs[k] > 0 ? nlive++ : -1;
	}
	rowbytes = PAD8(sizeof(float) * (Size) nlive * Max(st->nfeatures, 0));
	payload = rowbytes;
	if (st->res != NULL)
		for (int t = 0; t < ntrees; t++)
			payload += 8 + PAD8((Size) st->res[t].m * (sizeof(double) + sizeof(int32)));
	out = rowbuf_frame_new(TRAINER, " or lower n_trees or sample_size", SERIAL_HEAD,
						   st->options, payload, &head, &body);
	memcpy(head, &st->nfeatures, 4);
	memcpy(head + 4, &ntrees, 4);
	memcpy(head + 8, &st->o.sample_size, 4);
	memcpy(head + 12, &optlen, 4);
	memcpy(head + 16, &nlive, 4);
	memcpy(head + 20, &zero, 4);
	memcpy(head + 24, &st->nrows, 8);
	memcpy(head + 32, &st->nskipped, 8);
	memcpy(head + 40, st->rng.s, 32);
	p = body;
	for (int k = 0; k < st->used; k++)
		if (renum[k] >= 0)
		{
			if ((k & (IFOREST_ROWS_PER_CHECK - 1)) == 0)
				CHECK_FOR_INTERRUPTS();
			memcpy(p, st->rows + (Size) k * st->nfeatures, sizeof(float) * st->nfeatures);
			p += sizeof(float) * st->nfeatures;
		}
	p = body + rowbytes;
	if (st->res != NULL)
		for (int t = 0; t < ntrees; t++)
		{
			IForestReservoir *r = &st->res[t];
			int32	   *slots;

			CHECK_FOR_INTERRUPTS();
			memcpy(p, &r->m, 4);
			p += 8;
			memcpy(p, r->keys, sizeof(double) * r->m);
			slots = (int32 *) (p + sizeof(double) * r->m);
			for (int k = 0; k < r->m; k++)
				slots[k] = renum[r->slots[k]];
			p += PAD8((Size) r->m * (sizeof(double) + sizeof(int32)));
		}
	PG_RETURN_BYTEA_P(out);
}

PG_FUNCTION_INFO_V1(anomaly_train_deserialfn);
Datum
anomaly_train_deserialfn(PG_FUNCTION_ARGS)
{
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	const char *p;
	const char *end;
	MemoryContext aggcxt;
	IForestState *st;
	int32		nfeatures,
				ntrees,
				psi,
				optlen,
				nlive;
	Jsonb	   *options = NULL;

	aggcxt = ecml_agg_context(fcinfo, "anomaly_train_deserialfn");
	p = rowbuf_frame_head(in, SERIAL_HEAD, "anomaly_train");
	end = p + VARSIZE_ANY_EXHDR(in);
	memcpy(&nfeatures, p, 4);
	memcpy(&ntrees, p + 4, 4);
	memcpy(&psi, p + 8, 4);
	memcpy(&optlen, p + 12, 4);
	memcpy(&nlive, p + 16, 4);
	if (optlen < 0 || nlive < 0 || nfeatures < -1 || nfeatures == 0 ||
		nfeatures > IFOREST_MAX_FEATURES ||
		end - p < (long) (SERIAL_HEAD + MAXALIGN(optlen)))
		ecml_partial_state_invalid("anomaly_train");
	if (optlen > 0)
		options = (Jsonb *) (p + SERIAL_HEAD);

	st = iforest_state_new(aggcxt, options);
	if (st->o.n_trees != ntrees || st->o.sample_size != psi)
		ecml_partial_state_invalid("anomaly_train");
	memcpy(&st->nrows, p + 24, 8);
	memcpy(&st->nskipped, p + 32, 8);
	memcpy(st->rng.s, p + 40, 32);
	p += SERIAL_HEAD + MAXALIGN(optlen);
	if (nfeatures < 0)
	{
		if (st->nrows != 0 || nlive != 0)
			ecml_partial_state_invalid("anomaly_train");
		PG_RETURN_POINTER(st);
	}

	iforest_state_start(st, aggcxt, nfeatures);
	if ((Size) (end - p) < PAD8(sizeof(float) * (Size) nlive * nfeatures) ||
		(int64) nlive > (int64) ntrees * psi)
		ecml_partial_state_invalid("anomaly_train");
	for (int k = 0; k < nlive; k++)
	{
		if ((k & (IFOREST_ROWS_PER_CHECK - 1)) == 0)
			CHECK_FOR_INTERRUPTS();
		pool_store(st, (const float *) (p + sizeof(float) * (Size) k * nfeatures), aggcxt);
	}
	p += PAD8(sizeof(float) * (Size) nlive * nfeatures);
	for (int t = 0; t < ntrees; t++)
	{
		IForestReservoir *r = &st->res[t];
		int32		m;

		CHECK_FOR_INTERRUPTS();
		if (end - p < 8)
			ecml_partial_state_invalid("anomaly_train");
		memcpy(&m, p, 4);
		p += 8;
		if (m < 0 || m > psi || (int64) m != Min(st->nrows, (int64) psi) ||
			(Size) (end - p) < PAD8((Size) m * (sizeof(double) + sizeof(int32))))
			ecml_partial_state_invalid("anomaly_train");
		reservoir_reserve(st, r, Max(m, 1), aggcxt);
		memcpy(r->keys, p, sizeof(double) * m);
		memcpy(r->slots, p + sizeof(double) * m, sizeof(int32) * m);
		r->m = m;
		for (int k = 0; k < m; k++)
		{
			if (r->slots[k] < 0 || r->slots[k] >= nlive)
				ecml_partial_state_invalid("anomaly_train");
			st->refs[r->slots[k]]++;
		}
		p += PAD8((Size) m * (sizeof(double) + sizeof(int32)));
		if (m == psi)
		{
			heapify(r);
			reservoir_schedule(r, &st->rng, st->nrows - 1);
		}
	}
	if (p != end)
		ecml_partial_state_invalid("anomaly_train");
	for (int k = 0; k < nlive; k++)
		if (st->refs[k] == 0)
			ecml_partial_state_invalid("anomaly_train");
	due_heapify(st);
	PG_RETURN_POINTER(st);
}

/* ---------------- growing the trees ---------------- */

typedef struct IForestBuild
{
	const IForestSample *s;
	EcmlTrainMemory mem;		/* the sample pool, scratch and nodes */
	EcmlRng		rng;
	int			height_limit;
	int32	   *idx;			/* the tree's sample, as pool slots */
	float	   *vals;			/* scratch: the split feature's values in a node */
	int32	   *cand;			/* the tree's features, shuffled as drawn */
	int			ncand;
	/* the forest's nodes so far */
	int32	   *feature;
	float	   *value;
	int32	   *left;
	int			nnodes;
	int			capacity;
	int64		splits;
} IForestBuild;

/* Room for k more nodes; returns the first. */
static int
build_alloc(IForestBuild *b, int k)
{
	int			first;

	if (b->nnodes + k > b->capacity)
	{
		int			newcap = Max(1024, b->capacity * 2);

		if (newcap > INT_MAX / 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s: the forest has too many nodes", b->s->trainer),
					 errhint("Lower n_trees or sample_size.")));
		ecml_train_memory_charge(&b->mem, (Size) (newcap - b->capacity) * 12, "forest nodes");
		b->feature = repalloc_huge(b->feature, sizeof(int32) * newcap);
		b->value = repalloc_huge(b->value, sizeof(float) * newcap);
		b->left = repalloc_huge(b->left, sizeof(int32) * newcap);
		b->capacity = newcap;
	}
	first = b->nnodes;
	b->nnodes += k;
	return first;
}

/*
 * iTree(X, e, l) of the paper (Algorithm 2), over idx[lo, hi) at depth e,
 * written into node.  The split attribute is drawn among those that vary
 * in X (a constant one cannot split it); when none varies, or at the height
 * limit, the node is external and stores e + c(|X|), the path length that
 * PathLength (Algorithm 3) adds for it.
 */
static void
build_node(IForestBuild *b, int node, int lo, int hi, int depth)
{
	const float *rows = b->s->rows;
	int			f = b->s->nfeatures;
	int			n = hi - lo;
	int			remaining = b->ncand;
	int			feat = -1;
	float		lo_v = 0,
				hi_v = 0;

	CHECK_FOR_INTERRUPTS();
	if (depth < b->height_limit && n > 1)
	{
		while (remaining > 0)
		{
			int			r = (int) ecml_rng_below(&b->rng, remaining);
			int			c = b->cand[r];

			b->cand[r] = b->cand[remaining - 1];
			b->cand[remaining - 1] = c;
			remaining--;
			/* one gather of the column serves the range and the partition */
			lo_v = hi_v = rows[(Size) b->idx[lo] * f + c];
			for (int k = lo; k < hi; k++)
			{
				float		v = rows[(Size) b->idx[k] * f + c];

				b->vals[k] = v;
				lo_v = Min(lo_v, v);
				hi_v = Max(hi_v, v);
			}
			if (hi_v > lo_v)
			{
				feat = c;
				break;
			}
		}
	}
	if (feat < 0)
	{
		b->feature[node] = -1;
		b->left[node] = -1;
		b->value[node] = (float) (depth + iforest_c(n));
		return;
	}
	else
	{
		/* p uniform in [min, max); x < p goes left, so both sides are non-empty */
		double		p = lo_v + ecml_rng_uniform(&b->rng) * ((double) hi_v - lo_v);
		float		pf = (float) p;
		int			mid = lo;
		int			child;

		if (!(pf > lo_v))
			pf = nextafterf(lo_v, hi_v);
		/* positions before k are never read again, so vals need no swap */
		for (int k = lo; k < hi; k++)
		{
			if (b->vals[k] < pf)
			{
				int32		tmp = b->idx[k];

				b->idx[k] = b->idx[mid];
				b->idx[mid++] = tmp;
			}
		}
		Assert(mid > lo && mid < hi);
		child = build_alloc(b, 2);	/* children adjacent */
		b->feature[node] = feat;
		b->value[node] = pf;
		b->left[node] = child;
		b->splits++;
		build_node(b, child, lo, mid, depth + 1);
		build_node(b, child + 1, mid, hi, depth + 1);
	}
}

/* At least two rows to isolate. */
static void
iforest_check_rows(const IForestSample *s)
{
	if (s->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no training rows", s->trainer),
				 errdetail("Rows seen: " INT64_FORMAT ", skipped for a NULL feature vector: " INT64_FORMAT ".",
						   s->nrows + s->nskipped, s->nskipped),
				 errhint("Check the query's WHERE clause and the NULLs in the features column.")));
	if (s->nrows < 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: an isolation forest needs at least 2 training rows, got 1", s->trainer)));
}

/* The build's scratch for samples of psi rows, charged to the budget. */
static void
iforest_build_init(IForestBuild *b, const IForestSample *s, const IForestOptions *o, int psi)
{
	int			f = s->nfeatures;
	Size		scratch = (sizeof(int32) + sizeof(float)) * (Size) psi;

	/* the sample, the features, the roots and the first 1024 nodes */
	scratch += sizeof(int32) * ((Size) f + o->n_trees + 1) + (Size) 1024 * 12;
	memset(b, 0, sizeof(*b));
	b->s = s;
	ecml_train_memory_init(&b->mem, s->trainer, s->held);
	ecml_train_memory_charge(&b->mem, scratch, "tree scratch");
	/* l = ceiling(log2 psi), the average tree height (Liu et al. 2008, 4.1) */
	b->height_limit = (int) ceil(log2((double) psi));
	ecml_rng_seed(&b->rng, (uint64) o->seed ^ TREE_STREAM);
	b->idx = palloc(sizeof(int32) * psi);
	b->vals = palloc(sizeof(float) * psi);
	b->cand = palloc(sizeof(int32) * f);
	b->capacity = 1024;
	b->feature = palloc_extended(sizeof(int32) * b->capacity, MCXT_ALLOC_HUGE);
	b->value = palloc_extended(sizeof(float) * b->capacity, MCXT_ALLOC_HUGE);
	b->left = palloc_extended(sizeof(int32) * b->capacity, MCXT_ALLOC_HUGE);
}

/* The tree's features: a partial Fisher-Yates shuffle picks nsub of f. */
static void
iforest_pick_features(IForestBuild *b, int f, int nsub)
{
	for (int j = 0; j < f; j++)
		b->cand[j] = j;
	for (int j = 0; j < nsub; j++)
	{
		int			k = j + (int) ecml_rng_below(&b->rng, f - j);
		int32		tmp = b->cand[j];

		b->cand[j] = b->cand[k];
		b->cand[k] = tmp;
	}
	b->ncand = nsub;
}

/* The model: options, shape, metrics, then the trees' roots and nodes. */
static bytea *
iforest_write(const IForestBuild *b, const IForestOptions *o, int psi, int nsub,
			  const int32 *roots, TimestampTz start)
{
	const IForestSample *s = b->s;
	int			f = s->nfeatures;
	int			ntrees = o->n_trees;
	int32		params[4];
	EcmlModelBuilder mb;
	StringInfoData json;

	ecml_builder_init(&mb, ECML_KIND_IFOREST);
	initStringInfo(&json);
	ecml_options_to_json(&json, iforest_option_specs, N_IFOREST_OPTIONS, o);
	ecml_builder_add_json(&mb, ECML_TAG_HYPERPARAMS, json.data);

	resetStringInfo(&json);
	appendStringInfo(&json,
					 "{\"features\": %d, \"trees\": %d, \"sample_size\": %d, "
					 "\"features_per_tree\": %d, \"height_limit\": %d, \"nodes\": %d, "
					 "\"normalizer\": %.17g}",
					 f, ntrees, psi, nsub, b->height_limit, b->nnodes, iforest_c(psi));
	ecml_builder_add_json(&mb, ECML_TAG_INFO, json.data);

	resetStringInfo(&json);
	appendStringInfo(&json,
					 "{\"splits\": " INT64_FORMAT ", \"training_seconds\": %.3f",
					 b->splits, ecml_elapsed_seconds(start));
	if (s->metrics)
		s->metrics(&json, s->metrics_arg);
	appendStringInfoChar(&json, '}');
	ecml_builder_add_json(&mb, ECML_TAG_METRICS, json.data);

	params[0] = f;
	params[1] = ntrees;
	params[2] = psi;
	params[3] = b->height_limit;
	ecml_builder_add(&mb, IFOREST_TAG_PARAMS, ECML_SECTION_INT32, params, sizeof(params));
	ecml_builder_add(&mb, IFOREST_TAG_TREES, ECML_SECTION_INT32, roots,
					 sizeof(int32) * (ntrees + 1));
	ecml_builder_add(&mb, IFOREST_TAG_FEATURE, ECML_SECTION_INT32, b->feature,
					 sizeof(int32) * b->nnodes);
	ecml_builder_add(&mb, IFOREST_TAG_VALUE, ECML_SECTION_FLOAT32, b->value,
					 sizeof(float) * b->nnodes);
	ecml_builder_add(&mb, IFOREST_TAG_LEFT, ECML_SECTION_INT32, b->left,
					 sizeof(int32) * b->nnodes);
	return ecml_builder_finish(&mb, s->nrows + s->nskipped, s->nskipped);
}

/*
 * Grow one isolation tree per sample and return the model: the part of
 * training after sampling, shared by ecml.anomaly_train and
 * ecml.train('iforest') (iforest_passes.c).
 */
bytea *
iforest_grow(const IForestSample *s, const IForestOptions *o)
{
	TimestampTz start = GetCurrentTimestamp();
	IForestBuild b;
	int			f = s->nfeatures;
	int			ntrees;
	int			psi;
	int			nsub;
	int32	   *roots;

	iforest_check_rows(s);
	ntrees = o->n_trees;
	psi = (int) Min((int64) o->sample_size, s->nrows);
	/* each tree may split on a random subset of the features (as scikit-learn) */
	nsub = Max(1, (int) floor(o->max_features * f + 1e-9));
	nsub = Min(nsub, f);
	iforest_build_init(&b, s, o, psi);
	roots = palloc(sizeof(int32) * (ntrees + 1));

	for (int t = 0; t < ntrees; t++)
	{
		CHECK_FOR_INTERRUPTS();
		/* the sample's order: a function of the rows, their order and the seed */
		s->tree_rows(s->arg, t, psi, b.idx);
		iforest_pick_features(&b, f, nsub);
		roots[t] = build_alloc(&b, 1);
		build_node(&b, roots[t], 0, psi, 0);
		if ((t + 1) % Max(1, ntrees / 10) == 0)
			ecml_progress_notice("%s: %d of %d trees grown, %.1f s elapsed",
								 s->trainer, t + 1, ntrees, ecml_elapsed_seconds(start));
	}
	roots[ntrees] = b.nnodes;
	if (b.splits == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no feature varies in the training sample", s->trainer),
				 errdetail("Every tree is a single leaf, so every row would score 0.5."),
				 errhint("Train on features that vary between rows.")));

	/* the model copies the nodes */
	ecml_train_memory_charge(&b.mem, (Size) b.nnodes * 12 + sizeof(int32) * (Size) (ntrees + 1),
							 "model");
	return iforest_write(&b, o, psi, nsub, roots, start);
}

/* A reservoir's rows as pool slots, checked to be full. */
static void
reservoir_rows(void *arg, int t, int psi, int32 *idx)
{
	const IForestReservoir *r = &((const IForestState *) arg)->res[t];

	if (r->m != psi)
		elog(ERROR, "ecml: isolation forest reservoir %d holds %d rows, expected %d",
			 t, r->m, psi);
	memcpy(idx, r->slots, sizeof(int32) * psi);
}

/* final: grow one tree per reservoir and return the model */
PG_FUNCTION_INFO_V1(anomaly_train_finalfn);
Datum
anomaly_train_finalfn(PG_FUNCTION_ARGS)
{
	IForestState *st = PG_ARGISNULL(0) ? NULL : (IForestState *) PG_GETARG_POINTER(0);
	IForestSample s;

	memset(&s, 0, sizeof(s));
	s.trainer = TRAINER;
	s.nfeatures = st ? st->nfeatures : 0;
	s.nrows = st ? st->nrows : 0;
	s.nskipped = st ? st->nskipped : 0;
	if (st == NULL || st->nrows == 0)
	{
		iforest_check_rows(&s); /* raises "no training rows" */
		pg_unreachable();
	}
	s.rows = st->rows;
	s.held = st->bytes;
	s.tree_rows = reservoir_rows;
	s.arg = st;
	PG_RETURN_BYTEA_P(iforest_grow(&s, &st->o));
}
