/*
 * iforest_passes.c
 *	  The isolation forest in one pass whose state merges:
 *	  ecml.train('iforest', source) and its aggregate ecml.iforest_pass.
 *
 * An isolation forest only ever looks at t samples of psi rows, so its
 * memory is bounded by sampling, not by the table (iforest_train.c).  What
 * ecml.anomaly_train lacks for Citus is a state that is not `internal`:
 * ecml.iforest_pass keeps the same per-tree bottom-k reservoirs (a uniform
 * key per row and tree, the psi smallest kept; Algorithm L's geometric
 * skips once full) in one flat bytea of t * psi rows, updated in place, and
 * its combine function keeps the psi smallest keys of two partial samples,
 * which are the psi smallest of the union.  Parallel workers and Citus
 * shards therefore each sample their own rows and the leader or the
 * coordinator merges the samples; the trees are then grown from them by
 * iforest_grow, as ecml.anomaly_train grows them.
 *
 * Keys: each process draws them from a generator seeded by the seed
 * option mixed with the hash of the first row it samples, so that shards
 * (which all see the same seed and no parallel worker number) do not draw
 * the same key sequence.  A serial plan over the same rows in the same
 * order gives the same model; a parallel or distributed plan gives an
 * equally uniform sample, but another one.
 */
#include "postgres.h"

#include <math.h>

#include "arrays.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "ecml.h"
#include "iforest.h"
#include "miscadmin.h"
#include "train.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#define PASS_TRAINER "ecml.train(iforest)"
#define PASS_AGG "ecml.iforest_pass"
#define IFOREST_PASS_MAGIC 0x49465053	/* "IFPS" */
#define NEVER PG_INT64_MAX
/* params: n_trees, sample_size, seed */
#define IFOREST_PASS_NPARAMS 3

/*
 * The state: this header, then per tree the row at which a full reservoir
 * next takes one (int64[t]), the keys (double[t][psi], a max-heap once
 * full), the rows held (int32[t]), each key's row slot (int32[t][psi]) and
 * the rows (float[t][psi][nfeatures]).  Before the first row with features
 * it is the header alone, with nfeatures = 0.
 */
typedef struct IForestPassState
{
	int32		vl_len_;
	int32		magic;
	int32		ntrees;
	int32		psi;
	int32		nfeatures;
	int32		seeded;			/* the generator has been seeded */
	int64		seed;
	int64		nrows;			/* rows offered */
	int64		nskipped;		/* rows with a NULL feature vector */
	int64		due;			/* the smallest next[] of the trees */
	EcmlRng		rng;
} IForestPassState;

typedef struct PassLayout
{
	int64	   *next;
	double	   *keys;
	int32	   *held;
	int32	   *slots;
	float	   *rows;
} PassLayout;

static Size
pass_size(int ntrees, int psi, int nfeatures)
{
	Size		per_tree;

	if (nfeatures == 0)
		return sizeof(IForestPassState);
	per_tree = sizeof(int64) + sizeof(int32) +
		(Size) psi * (sizeof(double) + sizeof(int32) + sizeof(float) * (Size) nfeatures);
	return ecml_add_size(sizeof(IForestPassState), ecml_mul_size(ntrees, per_tree));
}

static void
pass_layout(IForestPassState *s, PassLayout *l)
{
	char	   *p = (char *) s + sizeof(IForestPassState);
	Size		cells = (Size) s->ntrees * s->psi;

	l->next = (int64 *) p;
	l->keys = (double *) (l->next + s->ntrees);
	l->held = (int32 *) (l->keys + cells);
	l->slots = l->held + s->ntrees;
	l->rows = (float *) (l->slots + cells);
}

#define pass_corrupt(what) ecml_pass_state_invalid(PASS_AGG, "iforest", (what))

static void
pass_check(IForestPassState *s)
{
	PassLayout	l;

	if (VARSIZE(s) < sizeof(IForestPassState) || s->magic != IFOREST_PASS_MAGIC ||
		s->ntrees < IFOREST_N_TREES_MIN || s->ntrees > IFOREST_N_TREES_MAX ||
		s->psi < IFOREST_SAMPLE_SIZE_MIN || s->psi > IFOREST_SAMPLE_SIZE_MAX ||
		s->nfeatures < 0 || s->nfeatures > IFOREST_MAX_FEATURES ||
		s->nrows < 0 || s->nskipped < 0 ||
		VARSIZE(s) != pass_size(s->ntrees, s->psi, s->nfeatures))
		pass_corrupt("partial state");
	if (s->nfeatures == 0)
	{
		if (s->nrows != 0)
			pass_corrupt("partial state");
		return;
	}
	pass_layout(s, &l);
	for (int t = 0; t < s->ntrees; t++)
	{
		int32		m = l.held[t];

		if (m < 0 || m > s->psi || m != Min((int64) s->psi, s->nrows))
			pass_corrupt("partial state: reservoir size");
		for (int k = 0; k < m; k++)
		{
			int32		slot = l.slots[(Size) t * s->psi + k];
			double		key = l.keys[(Size) t * s->psi + k];

			if (slot < 0 || slot >= s->psi || !(key >= 0.0 && key < 1.0))
				pass_corrupt("partial state: reservoir entry");
		}
	}
}

/*
 * The state argument: in place in an aggregate, a checked copy otherwise.
 * Slots and counts index the rows, so every entry of a state is checked
 * before it is used, also in an aggregate (CREATE AGGREGATE can hand this
 * function any INITCOND); the state the last call returned is ours and is
 * not checked again, so a plain aggregate checks once per group.
 */
static IForestPassState *
pass_arg(FunctionCallInfo fcinfo, int argno)
{
	IForestPassState *s;

	if (PG_ARGISNULL(argno))
		return NULL;
	if (!AggCheckCallContext(fcinfo, NULL))
	{
		s = (IForestPassState *) PG_GETARG_BYTEA_P_COPY(argno);
		pass_check(s);
		return s;
	}
	s = (IForestPassState *) PG_GETARG_BYTEA_P(argno);
	if ((void *) s != fcinfo->flinfo->fn_extra)
		pass_check(s);
	return s;
}

/* Remember the state returned, as checked. */
#define PASS_RETURN(s) \
	do { \
		fcinfo->flinfo->fn_extra = (s); \
		PG_RETURN_BYTEA_P(s); \
	} while (0)

/* A new state: the header, or the whole sample for nfeatures > 0. */
static IForestPassState *
pass_new(int ntrees, int psi, int64 seed, int nfeatures, const IForestPassState *from)
{
	Size		size = pass_size(ntrees, psi, nfeatures);
	IForestPassState *s;

	if (size == SIZE_MAX || size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: %d trees x %d rows x %d features do not fit in one state",
						PASS_TRAINER, ntrees, psi, nfeatures),
				 errhint("Lower n_trees or sample_size.")));
	ecml_check_train_memory(size, PASS_TRAINER);
	s = palloc0(size);
	SET_VARSIZE(s, size);
	s->magic = IFOREST_PASS_MAGIC;
	s->ntrees = ntrees;
	s->psi = psi;
	s->seed = seed;
	s->nfeatures = nfeatures;
	if (from)
		s->nskipped = from->nskipped;
	return s;
}

/* Restore the max-heap on the keys of tree t below position i. */
static void
sift_down(double *keys, int32 *slots, int m, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1;
		int			big = i;

		if (l < m && keys[l] > keys[big])
			big = l;
		if (l + 1 < m && keys[l + 1] > keys[big])
			big = l + 1;
		if (big == i)
			return;
		{
			double		k = keys[i];
			int32		sl = slots[i];

			keys[i] = keys[big];
			slots[i] = slots[big];
			keys[big] = k;
			slots[big] = sl;
		}
		i = big;
	}
}

static void
heapify(double *keys, int32 *slots, int m)
{
	for (int i = m / 2 - 1; i >= 0; i--)
		sift_down(keys, slots, m, i);
}

/*
 * Put (key, x) into tree t's reservoir if it is among the psi smallest
 * keys; returns whether it was taken.
 */
static bool
reservoir_put(IForestPassState *s, PassLayout *l, int t, double key, const float *x)
{
	double	   *keys = l->keys + (Size) t * s->psi;
	int32	   *slots = l->slots + (Size) t * s->psi;
	int32		m = l->held[t];
	int32		slot;

	if (m < s->psi)
	{
		slot = m;
		keys[m] = key;
		slots[m] = slot;
		l->held[t] = ++m;
		if (m == s->psi)
			heapify(keys, slots, m);
	}
	else if (key < keys[0])
	{
		slot = slots[0];
		keys[0] = key;
		sift_down(keys, slots, m, 0);
	}
	else
		return false;
	memcpy(l->rows + ((Size) t * s->psi + slot) * s->nfeatures, x,
		   sizeof(float) * s->nfeatures);
	return true;
}

/*
 * Once full, a reservoir takes a later row when its key falls below W,
 * the largest kept key: the rows skipped before that are geometric(W)
 * (Li 1994, Algorithm L).
 */
static int64
schedule(double w, EcmlRng *rng, int64 after)
{
	double		u = 1.0 - ecml_rng_uniform(rng);	/* (0, 1] */
	double		skip;

	if (!(w > 0.0))
		return NEVER;
	skip = w >= 1.0 ? 0.0 : floor(log(u) / log1p(-w));
	return (skip >= (double) (NEVER - after - 1)) ? NEVER : after + 1 + (int64) skip;
}

/* Offer row x, the row numbered s->nrows of this process, to every tree. */
static void
pass_offer(IForestPassState *s, const float *x)
{
	PassLayout	l;
	int64		i = s->nrows;

	pass_layout(s, &l);
	if (!s->seeded)
	{
		uint64		h = hash_bytes_extended((const unsigned char *) x,
											sizeof(float) * s->nfeatures, (uint64) s->seed);

		ecml_rng_seed(&s->rng, (uint64) s->seed ^ h);
		s->seeded = 1;
	}
	if (i < s->psi)
	{
		/* filling: every tree takes the row, with its own key */
		for (int t = 0; t < s->ntrees; t++)
		{
			reservoir_put(s, &l, t, ecml_rng_uniform(&s->rng), x);
			if (l.held[t] == s->psi)
				l.next[t] = schedule(l.keys[(Size) t * s->psi], &s->rng, i);
		}
	}
	else if (i == s->due)
	{
		/* the trees due at this row: the new key is uniform below W */
		for (int t = 0; t < s->ntrees; t++)
		{
			double	   *keys = l.keys + (Size) t * s->psi;

			if (l.next[t] != i)
				continue;
			reservoir_put(s, &l, t, keys[0] * ecml_rng_uniform(&s->rng), x);
			l.next[t] = schedule(keys[0], &s->rng, i);
		}
	}
	s->nrows++;
	if (s->nrows >= s->psi && (i == s->due || s->nrows == s->psi))
	{
		s->due = NEVER;
		for (int t = 0; t < s->ntrees; t++)
			s->due = Min(s->due, l.next[t]);
	}
}

/* params: {n_trees, sample_size, seed}, checked */
static void
pass_params(ArrayType *params, int *ntrees, int *psi, int64 *seed)
{
	const double *pv;

	if (ARR_ELEMTYPE(params) != FLOAT8OID || ARR_NDIM(params) != 1 || ARR_HASNULL(params) ||
		ArrayGetNItems(ARR_NDIM(params), ARR_DIMS(params)) != IFOREST_PASS_NPARAMS)
		pass_corrupt("params: not {n_trees, sample_size, seed}");
	pv = (const double *) ARR_DATA_PTR(params);
	if (!(pv[0] >= IFOREST_N_TREES_MIN && pv[0] <= IFOREST_N_TREES_MAX && pv[0] == floor(pv[0])) ||
		!(pv[1] >= IFOREST_SAMPLE_SIZE_MIN && pv[1] <= IFOREST_SAMPLE_SIZE_MAX &&
		  pv[1] == floor(pv[1])) ||
		!(pv[2] >= 0 && pv[2] <= IFOREST_SEED_MAX && pv[2] == floor(pv[2])))
		pass_corrupt("params: values out of range");
	*ntrees = (int) pv[0];
	*psi = (int) pv[1];
	*seed = (int64) pv[2];
}

/*
 * ecml.iforest_pass_transfn(state, features, params) → bytea: offer one
 * row to the reservoirs; a NULL feature vector is counted and skipped.
 * The first row with features allocates the whole sample; the executor
 * copies it into the aggregate's context once, and later rows change it
 * there in place.
 */
PG_FUNCTION_INFO_V1(iforest_pass_transfn);
Datum
iforest_pass_transfn(PG_FUNCTION_ARGS)
{
	IForestPassState *s = pass_arg(fcinfo, 0);
	int			ntrees,
				psi,
				n;
	int64		seed;
	float	   *x;

	if (PG_ARGISNULL(2))
		pass_corrupt("params: NULL");
	pass_params(PG_GETARG_ARRAYTYPE_P(2), &ntrees, &psi, &seed);
	if (s && (s->ntrees != ntrees || s->psi != psi || s->seed != seed))
		pass_corrupt("params: they changed between rows");
	if (PG_ARGISNULL(1))
	{
		if (s == NULL)
			s = pass_new(ntrees, psi, seed, 0, NULL);
		s->nskipped++;
		PASS_RETURN(s);
	}
	x = ecml_array_float4(PG_GETARG_ARRAYTYPE_P(1), "feature vector", -1, &n, false);
	ecml_check_feature_count(n, IFOREST_MAX_FEATURES, PASS_TRAINER);
	if (s == NULL || s->nfeatures == 0)
		s = pass_new(ntrees, psi, seed, n, s);
	ecml_check_same_width(s->nfeatures, n, PASS_TRAINER);
	pass_offer(s, x);
	PASS_RETURN(s);
}

/*
 * ecml.iforest_pass_combinefn(state, other) → bytea: per tree, the psi
 * smallest keys of both samples.  The result takes no more rows.
 */
PG_FUNCTION_INFO_V1(iforest_pass_combinefn);
Datum
iforest_pass_combinefn(PG_FUNCTION_ARGS)
{
	IForestPassState *s = pass_arg(fcinfo, 0);
	IForestPassState *o;
	PassLayout	ls,
				lo;

	if (PG_ARGISNULL(1))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PASS_RETURN(s);
	}
	o = (IForestPassState *) PG_GETARG_BYTEA_P_COPY(1);
	pass_check(o);
	if (s == NULL)
		PASS_RETURN(o);
	if (s->ntrees != o->ntrees || s->psi != o->psi || s->seed != o->seed)
		pass_corrupt("partial states of different shapes");
	if (o->nfeatures == 0)
	{
		s->nskipped += o->nskipped;
		PASS_RETURN(s);
	}
	if (s->nfeatures == 0)
	{
		o->nskipped += s->nskipped;
		PASS_RETURN(o);
	}
	ecml_check_same_width(s->nfeatures, o->nfeatures, PASS_TRAINER);
	pass_layout(s, &ls);
	pass_layout(o, &lo);
	for (int t = 0; t < s->ntrees; t++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int k = 0; k < lo.held[t]; k++)
		{
			Size		cell = (Size) t * o->psi + k;

			reservoir_put(s, &ls, t, lo.keys[cell],
						  lo.rows + ((Size) t * o->psi + lo.slots[cell]) * o->nfeatures);
		}
	}
	s->nrows += o->nrows;
	s->nskipped += o->nskipped;
	/* a merged sample is final: no row numbering continues it */
	s->due = NEVER;
	for (int t = 0; t < s->ntrees; t++)
		ls.next[t] = NEVER;
	PASS_RETURN(s);
}

/* ---------------- the driver's side ---------------- */

typedef struct PassSample
{
	IForestPassState *s;
	PassLayout	l;
	EcmlTrainDriver *d;
} PassSample;

static void
pass_tree_rows(void *arg, int t, int psi, int32 *idx)
{
	PassSample *ps = (PassSample *) arg;

	if (ps->l.held[t] != psi)
		elog(ERROR, "ecml: isolation forest sample %d holds %d rows, expected %d",
			 t, ps->l.held[t], psi);
	for (int k = 0; k < psi; k++)
		idx[k] = t * ps->s->psi + ps->l.slots[(Size) t * ps->s->psi + k];
}

static void
pass_metrics(StringInfo buf, void *arg)
{
	EcmlTrainDriver *d = ((PassSample *) arg)->d;

	appendStringInfo(buf, ", \"passes\": %d, \"pass_history\": [%s]", d->passes, d->history.data);
}

/*
 * ecml.train('iforest', source, options): one sampling pass, then the
 * trees.  The backend holds one merged sample, t * psi rows.
 */
bytea *
iforest_train_passes(EcmlTrainDriver *d, Jsonb *options)
{
	IForestOptions o;
	double		pv[IFOREST_PASS_NPARAMS];
	Datum		r;
	bool		isnull;
	PassSample	ps;
	IForestSample smp;

	iforest_parse_options(options, &o, PASS_TRAINER);
	pv[0] = o.n_trees;
	pv[1] = o.sample_size;
	pv[2] = (double) o.seed;
	r = ecml_train_pass(d, "per-tree samples", "ecml.iforest_pass(c1::real[], $1)",
						FLOAT8ARRAYOID, PointerGetDatum(ecml_float8_array(pv, IFOREST_PASS_NPARAMS)),
						&isnull);

	memset(&ps, 0, sizeof(ps));
	memset(&smp, 0, sizeof(smp));
	smp.trainer = PASS_TRAINER;
	if (!isnull)
	{
		ps.s = (IForestPassState *) DatumGetByteaP(r);
		pass_check(ps.s);
		pass_layout(ps.s, &ps.l);
		smp.nfeatures = ps.s->nfeatures;
		smp.nrows = ps.s->nrows;
		smp.nskipped = ps.s->nskipped;
		smp.rows = ps.l.rows;
		smp.held = VARSIZE(ps.s);
	}
	ps.d = d;
	smp.tree_rows = pass_tree_rows;
	smp.arg = &ps;
	smp.metrics = pass_metrics;
	smp.metrics_arg = &ps;
	return iforest_grow(&smp, &o);
}
