/*
 * mf_train.c
 *	  ecml.mf_train(user_id bigint, item_id bigint, value real [, options]):
 *	  the aggregate that buffers interactions and alternating least squares
 *	  over them.
 *
 * Implicit feedback (Hu, Koren, Volinsky 2008): preference p_ui = 1 when
 * the summed value r_ui > 0, confidence c_ui = 1 + alpha r_ui, and
 *
 *	 min  sum_{u,i} c_ui (p_ui - x_u.y_i)^2 + lambda (sum |x_u|^2 + sum |y_i|^2)
 *
 * over all (user, item) pairs; unobserved pairs have c = 1, p = 0.  With
 * the item factors Y fixed, user u solves (eq. 4)
 *
 *	 (Y'Y + Y'(C_u - I)Y + lambda I) x_u = Y'C_u p(u),
 *
 * where Y'Y is shared by all users (computed once per sweep with BLIS) and
 * the correction runs over u's items only.  The conjugate-gradient solver
 * (Takacs, Pilaszy, Tikk 2011) takes a few CG steps from the previous x_u
 * and never forms the matrix: a product is Y'Y p + lambda p plus a sparse
 * sum over u's items.  The Cholesky solver forms and factors it exactly.
 *
 * Explicit ratings: biased matrix factorization
 *
 *	 min  sum_{(u,i) observed} (r_ui - mu - b_u - b_i - x_u.y_i)^2
 *		  + lambda (sum_u n_u (|x_u|^2 + b_u^2) + sum_i n_i (|y_i|^2 + b_i^2))
 *
 * by ALS with regularization weighted by the number of ratings (ALS-WR,
 * Zhou et al. 2008).  A user solves for (x_u, b_u) against (y_i, 1) and
 * targets r_ui - mu - b_i; items alike.  Without biases, mu = b = 0.
 *
 * Each iteration solves the items, then the users: the user factors of a
 * model are then the exact (Cholesky) or warm-started (CG) solution
 * against its final item factors, which is what fold-in computes for a
 * new user.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "arrays.h"
#include "blas.h"
#include "ecml.h"
#include "mf.h"
#include "miscadmin.h"
#include "rowbuf.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define TRAINER "ecml.mf_train"

#define CHUNK_MIN_ROWS 4096
#define CHUNK_MAX_ROWS (1024 * 1024)
#define ROW_BYTES (sizeof(int64) * 2 + sizeof(float))

static const char *const solver_choices[] = {"cg", "cholesky", NULL};

static const EcmlOptionSpec mf_option_specs[] = {
	{"factors", ECML_OPT_INT, offsetof(MfOptions, factors), MF_FACTORS_MIN, MF_FACTORS_MAX},
	{"iterations", ECML_OPT_INT, offsetof(MfOptions, iterations),
	MF_ITERATIONS_MIN, MF_ITERATIONS_MAX},
	{"regularization", ECML_OPT_REAL, offsetof(MfOptions, regularization), MF_REG_MIN, MF_REG_MAX},
	{"implicit", ECML_OPT_BOOL, offsetof(MfOptions, implicit)},
	{"alpha", ECML_OPT_REAL, offsetof(MfOptions, alpha), MF_ALPHA_MIN, MF_ALPHA_MAX},
	{"solver", ECML_OPT_CHOICE, offsetof(MfOptions, solver), 0, 0, false, solver_choices},
	{"cg_steps", ECML_OPT_INT, offsetof(MfOptions, cg_steps), MF_CG_STEPS_MIN, MF_CG_STEPS_MAX},
	{"biases", ECML_OPT_BOOL, offsetof(MfOptions, biases)},
	{"seed", ECML_OPT_INT64, offsetof(MfOptions, seed), 0, 9007199254740991.0},
	{"store_interactions", ECML_OPT_BOOL, offsetof(MfOptions, store_interactions)},
};

#define N_MF_OPTIONS lengthof(mf_option_specs)

/* Buffered interactions, in arrival order. */
typedef struct MfChunk
{
	int64	   *users;
	int64	   *items;
	float	   *values;
	int			n;
	int			capacity;
} MfChunk;

typedef struct MfState
{
	int64		nrows;
	int64		nskipped;
	int			nchunks;
	int			maxchunks;
	MfChunk    *chunks;
	Size		bytes;
	bool		implicit;		/* from the options: refuse negative values */
	Jsonb	   *options;
} MfState;

void
mf_parse_options(Jsonb *opts, MfOptions *o)
{
	o->factors = MF_FACTORS_DEFAULT;
	o->iterations = MF_ITERATIONS_DEFAULT;
	o->regularization = MF_REG_DEFAULT;
	o->implicit = true;
	o->alpha = MF_ALPHA_DEFAULT;
	o->solver = MF_SOLVER_CG;
	o->cg_steps = MF_CG_STEPS_DEFAULT;
	o->biases = true;
	o->seed = MF_SEED_DEFAULT;
	o->store_interactions = true;
	ecml_parse_options(opts, mf_option_specs, N_MF_OPTIONS, o, TRAINER);
}

static MfState *
mf_state_new(MemoryContext aggcxt)
{
	MfState    *st = MemoryContextAllocZero(aggcxt, sizeof(MfState));

	st->implicit = true;
	return st;
}

static void
mf_add_chunk(MfState *st, MemoryContext aggcxt, MfChunk chunk)
{
	if (st->nchunks == st->maxchunks)
	{
		int			newmax = Max(16, st->maxchunks * 2);

		if (st->chunks == NULL)
			st->chunks = MemoryContextAlloc(aggcxt, sizeof(MfChunk) * newmax);
		else
			st->chunks = repalloc(st->chunks, sizeof(MfChunk) * newmax);
		st->maxchunks = newmax;
	}
	st->chunks[st->nchunks++] = chunk;
}

static MfChunk
mf_chunk_alloc(MfState *st, MemoryContext aggcxt, int capacity)
{
	MfChunk		c;

	ecml_check_train_memory(st->bytes + (Size) capacity * ROW_BYTES, TRAINER);
	c.users = MemoryContextAllocHuge(aggcxt, sizeof(int64) * Max(capacity, 1));
	c.items = MemoryContextAllocHuge(aggcxt, sizeof(int64) * Max(capacity, 1));
	c.values = MemoryContextAllocHuge(aggcxt, sizeof(float) * Max(capacity, 1));
	c.n = 0;
	c.capacity = capacity;
	st->bytes += (Size) capacity * ROW_BYTES;
	return c;
}

/* transition: buffer one interaction; rows with a NULL are counted and skipped */
PG_FUNCTION_INFO_V1(mf_train_transfn);
Datum
mf_train_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	MfState    *st;
	MfChunk    *last;
	float		value;

	aggcxt = ecml_agg_context(fcinfo, "mf_train_transfn");

	st = PG_ARGISNULL(0) ? NULL : (MfState *) PG_GETARG_POINTER(0);
	if (st == NULL)
	{
		st = mf_state_new(aggcxt);
		st->options = ecml_options_arg(fcinfo, 4, aggcxt);
		/* parse now so a bad option fails before the scan, not after */
		if (st->options != NULL)
		{
			MfOptions	o;

			mf_parse_options(st->options, &o);
			st->implicit = o.implicit;
		}
	}

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		st->nskipped++;
		PG_RETURN_POINTER(st);
	}
	value = PG_GETARG_FLOAT4(3);
	if (!isfinite(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: interaction value is %s", TRAINER, isnan(value) ? "NaN" : "infinite"),
				 errhint("Filter or replace non-finite values (for example WHERE value <> 'NaN').")));
	if (st->implicit && value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: negative interaction value %g in implicit mode", TRAINER, value),
				 errhint("Implicit feedback counts or weights events and must be at least 0; pass '{\"implicit\": false}' to fit ratings.")));

	last = st->nchunks > 0 ? &st->chunks[st->nchunks - 1] : NULL;
	if (last == NULL || last->n == last->capacity)
	{
		int			cap = (int) Min((int64) CHUNK_MAX_ROWS, Max((int64) CHUNK_MIN_ROWS, st->nrows / 4));

		mf_add_chunk(st, aggcxt, mf_chunk_alloc(st, aggcxt, cap));
		last = &st->chunks[st->nchunks - 1];
	}
	last->users[last->n] = PG_GETARG_INT64(1);
	last->items[last->n] = PG_GETARG_INT64(2);
	last->values[last->n] = value;
	last->n++;
	st->nrows++;
	PG_RETURN_POINTER(st);
}

/* combine: move state2's chunks into state1 */
PG_FUNCTION_INFO_V1(mf_train_combinefn);
Datum
mf_train_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	MfState    *s1 = PG_ARGISNULL(0) ? NULL : (MfState *) PG_GETARG_POINTER(0);
	MfState    *s2 = PG_ARGISNULL(1) ? NULL : (MfState *) PG_GETARG_POINTER(1);

	aggcxt = ecml_agg_context(fcinfo, "mf_train_combinefn");
	if (s2 == NULL)
		PG_RETURN_POINTER(s1);
	if (s1 == NULL)
		PG_RETURN_POINTER(s2);
	ecml_check_train_memory(s1->bytes + s2->bytes, TRAINER);
	for (int i = 0; i < s2->nchunks; i++)
		mf_add_chunk(s1, aggcxt, s2->chunks[i]);
	s1->nrows += s2->nrows;
	s1->nskipped += s2->nskipped;
	s1->bytes += s2->bytes;
	if (s1->options == NULL)
	{
		s1->options = s2->options;
		s1->implicit = s2->implicit;
	}
	PG_RETURN_POINTER(s1);
}

/*
 * Serialized state: int32 options length, int32 zero, int64 nrows,
 * nskipped, zero; the options jsonb padded to 8; then nrows user ids,
 * nrows item ids, nrows values.
 */
#define SERIAL_HEAD 32

PG_FUNCTION_INFO_V1(mf_train_serialfn);
Datum
mf_train_serialfn(PG_FUNCTION_ARGS)
{
	MfState    *st = (MfState *) PG_GETARG_POINTER(0);
	int32		optlen = st->options ? VARSIZE(st->options) : 0;
	bytea	   *out;
	char	   *p;
	char	   *pu,
			   *pi,
			   *pv;

	out = rowbuf_frame_new(TRAINER, " or train on a sample", SERIAL_HEAD, st->options,
						   (Size) st->nrows * ROW_BYTES, &p, &pu);
	memcpy(p, &optlen, 4);
	memcpy(p + 8, &st->nrows, 8);
	memcpy(p + 16, &st->nskipped, 8);
	pi = pu + (Size) st->nrows * sizeof(int64);
	pv = pi + (Size) st->nrows * sizeof(int64);
	for (int c = 0; c < st->nchunks; c++)
	{
		MfChunk    *ch = &st->chunks[c];

		ecml_copy_interruptible(pu, ch->users, sizeof(int64) * ch->n);
		ecml_copy_interruptible(pi, ch->items, sizeof(int64) * ch->n);
		ecml_copy_interruptible(pv, ch->values, sizeof(float) * ch->n);
		pu += sizeof(int64) * ch->n;
		pi += sizeof(int64) * ch->n;
		pv += sizeof(float) * ch->n;
	}
	PG_RETURN_BYTEA_P(out);
}

PG_FUNCTION_INFO_V1(mf_train_deserialfn);
Datum
mf_train_deserialfn(PG_FUNCTION_ARGS)
{
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	const char *p;
	MemoryContext aggcxt;
	MfState    *st;
	int32		optlen;

	aggcxt = ecml_agg_context(fcinfo, "mf_train_deserialfn");
	st = mf_state_new(aggcxt);
	p = rowbuf_frame_head(in, SERIAL_HEAD, "mf_train");
	memcpy(&optlen, p, 4);
	memcpy(&st->nrows, p + 8, 8);
	memcpy(&st->nskipped, p + 16, 8);
	if (st->nrows < 0 || st->nrows > INT_MAX)
		ecml_partial_state_invalid("mf_train");
	p = rowbuf_frame_body(in, SERIAL_HEAD, optlen, (Size) st->nrows * ROW_BYTES,
						  aggcxt, "mf_train", &st->options);
	if (st->options != NULL)
	{
		MfOptions	o;

		mf_parse_options(st->options, &o);
		st->implicit = o.implicit;
	}
	if (st->nrows > 0)
	{
		int			n = (int) st->nrows;
		MfChunk		c = mf_chunk_alloc(st, aggcxt, n);

		ecml_copy_interruptible(c.users, p, sizeof(int64) * n);
		ecml_copy_interruptible(c.items, p + sizeof(int64) * n, sizeof(int64) * n);
		ecml_copy_interruptible(c.values, p + sizeof(int64) * 2 * n, sizeof(float) * n);
		c.n = n;
		mf_add_chunk(st, aggcxt, c);
	}
	PG_RETURN_POINTER(st);
}

/* ---------------- from triples to CSR ---------------- */

/* A sparse matrix by rows: row r holds idx[ptr[r] .. ptr[r+1]) and val. */
typedef struct MfCsr
{
	int			nrows;
	int64	   *ptr;
	int32	   *idx;
	float	   *val;
} MfCsr;

/* Sorted distinct ids of one column of the buffered rows. */
static int64 *
mf_distinct_ids(MfState *st, bool users, int *n_out)
{
	int64	   *ids = palloc_extended(sizeof(int64) * Max(st->nrows, 1), MCXT_ALLOC_HUGE);
	Size		n = 0;
	Size		m = 0;

	for (int c = 0; c < st->nchunks; c++)
	{
		MfChunk    *ch = &st->chunks[c];

		memcpy(ids + n, users ? ch->users : ch->items, sizeof(int64) * ch->n);
		n += ch->n;
	}
	CHECK_FOR_INTERRUPTS();
	ecml_sort_ids(ids, n);
	CHECK_FOR_INTERRUPTS();
	for (Size i = 0; i < n; i++)
		if (m == 0 || ids[i] != ids[m - 1])
			ids[m++] = ids[i];
	if (m > MF_MAX_IDS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: %zu distinct %s ids, at most %d are supported",
						TRAINER, m, users ? "user" : "item", MF_MAX_IDS)));
	*n_out = (int) m;
	return repalloc_huge(ids, sizeof(int64) * Max(m, 1));
}

/* The buffered rows as dense (user, item, value) triples; chunks freed. */
static void
mf_dense_triples(MfState *st, const int64 *user_ids, int nusers, const int64 *item_ids,
				 int nitems, int32 *uidx, int32 *iidx, float *val)
{
	int64		t = 0;

	for (int c = 0; c < st->nchunks; c++)
	{
		MfChunk    *ch = &st->chunks[c];

		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < ch->n; r++, t++)
		{
			uidx[t] = ecml_find_int64(user_ids, nusers, ch->users[r]);
			iidx[t] = ecml_find_int64(item_ids, nitems, ch->items[r]);
			val[t] = ch->values[r];
		}
		pfree(ch->users);
		pfree(ch->items);
		pfree(ch->values);
		ch->n = 0;
	}
	st->nchunks = 0;
}

/* Prefix sums of the counts of idx[0 .. n) into ptr[0 .. nrows] (zeroed). */
static void
csr_offsets(int64 *ptr, int nrows, const int32 *idx, int64 n)
{
	memset(ptr, 0, sizeof(int64) * (nrows + 1));
	for (int64 e = 0; e < n; e++)
		ptr[idx[e] + 1]++;
	for (int i = 0; i < nrows; i++)
		ptr[i + 1] += ptr[i];
}

/*
 * The transpose of a (nrows x ncols) CSR matrix by counting sort: rows of
 * the result are the columns, and within each the old rows ascend.
 * pos: scratch of ncols.
 */
static void
csr_transpose(const int64 *ptr, const int32 *idx, const float *val, int nrows,
			  int ncols, int64 *tptr, int32 *tidx, float *tval, int64 *pos)
{
	csr_offsets(tptr, ncols, idx, ptr[nrows]);
	memcpy(pos, tptr, sizeof(int64) * ncols);
	for (int r = 0; r < nrows; r++)
		for (int64 e = ptr[r]; e < ptr[r + 1]; e++)
		{
			int64		d = pos[idx[e]]++;

			tidx[d] = r;
			tval[d] = val[e];
		}
	CHECK_FOR_INTERRUPTS();
}

/* Sum the duplicates of each row (adjacent), compacting in place; nnz. */
static int64
csr_sum_duplicates(int64 *ptr, int32 *idx, float *val, int nrows)
{
	int64		nnz = 0;

	for (int u = 0; u < nrows; u++)
	{
		int64		start = ptr[u];
		int64		end = ptr[u + 1];

		ptr[u] = nnz;
		for (int64 e = start; e < end;)
		{
			int32		item = idx[e];
			double		sum = 0.0;

			for (; e < end && idx[e] == item; e++)
				sum += val[e];
			/* each value is finite, but their sum may not fit a real */
			if (!isfinite((float) sum))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("%s: the summed values of a duplicated (user, item) pair are out of range for type real",
								TRAINER),
						 errhint("Scale the values down.")));
			idx[nnz] = item;
			val[nnz] = (float) sum;
			nnz++;
		}
	}
	ptr[nrows] = nnz;
	return nnz;
}

/*
 * Map the buffered rows to dense indices and build the interaction matrix
 * by user (items ascending within a row, duplicates summed) and by item
 * (users ascending).  The buffered chunks are freed on the way.
 */
static int64
mf_build_csr(MfState *st, const int64 *user_ids, int nusers, const int64 *item_ids,
			 int nitems, MfCsr *byuser, MfCsr *byitem)
{
	int64		n = st->nrows;
	int32	   *uidx = palloc_extended(sizeof(int32) * n, MCXT_ALLOC_HUGE);
	int32	   *iidx = palloc_extended(sizeof(int32) * n, MCXT_ALLOC_HUGE);
	float	   *val = palloc_extended(sizeof(float) * n, MCXT_ALLOC_HUGE);
	int64	   *iptr = palloc_extended(sizeof(int64) * (nitems + 1), MCXT_ALLOC_HUGE);
	int64	   *uptr = palloc_extended(sizeof(int64) * (nusers + 1), MCXT_ALLOC_HUGE);
	int64	   *pos = palloc_extended(sizeof(int64) * Max(nusers, nitems), MCXT_ALLOC_HUGE);
	int32	   *tu = palloc_extended(sizeof(int32) * n, MCXT_ALLOC_HUGE);
	float	   *tv = palloc_extended(sizeof(float) * n, MCXT_ALLOC_HUGE);
	int64		nnz;

	mf_dense_triples(st, user_ids, nusers, item_ids, nitems, uidx, iidx, val);

	/* counting sort by item (stable: arrival order within an item) */
	csr_offsets(iptr, nitems, iidx, n);
	memcpy(pos, iptr, sizeof(int64) * nitems);
	for (int64 e = 0; e < n; e++)
	{
		int64		d = pos[iidx[e]]++;

		tu[d] = uidx[e];
		tv[d] = val[e];
	}
	pfree(uidx);
	CHECK_FOR_INTERRUPTS();

	/* then by user, walking items in order: each user's items ascend */
	csr_transpose(iptr, tu, tv, nitems, nusers, uptr, iidx, val, pos);
	nnz = csr_sum_duplicates(uptr, iidx, val, nusers);

	/* the item-major copy of the merged matrix (users ascend per item) */
	csr_transpose(uptr, iidx, val, nusers, nitems, iptr, tu, tv, pos);
	pfree(pos);

	byuser->nrows = nusers;
	byuser->ptr = uptr;
	byuser->idx = iidx;
	byuser->val = val;
	byitem->nrows = nitems;
	byitem->ptr = iptr;
	byitem->idx = tu;
	byitem->val = tv;
	return nnz;
}

/* ---------------- the solver ---------------- */

typedef struct MfTrainer
{
	int			f;				/* factors */
	int			d;				/* unknowns per row: f, or f + 1 with a bias */
	bool		implicit;
	bool		biases;			/* explicit mode with biases */
	double		lambda;
	double		alpha;
	double		mu;				/* global mean (explicit with biases) */
	int			solver;
	int			cg_steps;
	/* scratch */
	float	   *w;				/* per entry of a row: weight in the product */
	float	   *t;				/* per entry: target, so b = sum t_j y~_j */
	float	   *x;
	float	   *r;
	float	   *p;
	float	   *ap;
	double	   *A;
	double	   *b;
	float	   *gram;			/* f x f, full */
} MfTrainer;

/*
 * A p for one row: gram p + lambda_row p + sum_j w_j (y~_j . p) y~_j, with
 * y~_j = other row idx[j], extended by a constant 1 when the row has a bias.
 */
MF_INLINE void
mf_apply(const MfTrainer *tr, const float *gram, const float *other, int n,
		 const int32 *idx, const float *w, float lambda_row, const float *p, float *out)
{
	int			f = tr->f;
	int			d = tr->d;

	for (int a = 0; a < d; a++)
		out[a] = lambda_row * p[a];
	if (gram)
		for (int a = 0; a < f; a++)
			out[a] += ecml_dot_inline(gram + (Size) a * f, p, f);
	for (int j = 0; j < n; j++)
	{
		const float *y = other + (Size) idx[j] * f;
		float		s;

		if (j + 4 < n)
			mf_prefetch_row(other + (Size) idx[j + 4] * f, f);
		s = ecml_dot_inline(y, p, f);
		if (d > f)
			s += p[f];
		s *= w[j];
		ecml_axpy_inline(out, s, y, f);
		if (d > f)
			out[f] += s;
	}
}

/*
 * Conjugate gradient on A x = b from the current x, cg_steps steps
 * (Takacs, Pilaszy, Tikk 2011: a few warm-started steps per sweep suffice).  The first residual b - A x is one sparse
 * pass: sum_j (t_j - w_j y~_j.x) y~_j - gram x - lambda x.
 */
MF_INLINE void
mf_cg_row_body(const MfTrainer *tr, const float *gram, const float *other, int n,
			   const int32 *idx, const float *w, const float *t, float lambda_row,
			   float *x, float *r, float *p, float *ap)
{
	int			f = tr->f;
	int			d = tr->d;
	float		rs;

	for (int a = 0; a < d; a++)
		r[a] = -lambda_row * x[a];
	if (gram)
		for (int a = 0; a < f; a++)
			r[a] -= ecml_dot_inline(gram + (Size) a * f, x, f);
	for (int j = 0; j < n; j++)
	{
		const float *y = other + (Size) idx[j] * f;
		float		s;
		float		c;

		if (j + 4 < n)
			mf_prefetch_row(other + (Size) idx[j + 4] * f, f);
		s = ecml_dot_inline(y, x, f);
		if (d > f)
			s += x[f];
		c = t[j] - w[j] * s;
		ecml_axpy_inline(r, c, y, f);
		if (d > f)
			r[f] += c;
	}
	memcpy(p, r, sizeof(float) * d);
	rs = ecml_dot_inline(r, r, d);
	for (int step = 0; step < tr->cg_steps; step++)
	{
		float		pap;
		float		step_len;
		float		rsnew;

		if (rs < 1e-20f)
			break;
		mf_apply(tr, gram, other, n, idx, w, lambda_row, p, ap);
		pap = ecml_dot_inline(p, ap, d);
		if (!(pap > 0))
			break;
		step_len = rs / pap;
		ecml_axpy_inline(x, step_len, p, d);
		ecml_axpy_inline(r, -step_len, ap, d);
		rsnew = ecml_dot_inline(r, r, d);
		for (int a = 0; a < d; a++)
			p[a] = r[a] + (rsnew / rs) * p[a];
		rs = rsnew;
	}
}

/* The exact solve: form A and b for one row and factor A. */
MF_INLINE void
mf_cholesky_row_body(const MfTrainer *tr, const float *gram, const float *other, int n,
					 const int32 *idx, const float *w, const float *t, float lambda_row,
					 float *x)
{
	int			f = tr->f;
	int			d = tr->d;
	double	   *A = tr->A;
	double	   *b = tr->b;

	memset(A, 0, sizeof(double) * d * d);
	memset(b, 0, sizeof(double) * d);
	for (int a = 0; a < d; a++)
		A[a * d + a] = lambda_row;
	if (gram)
		for (int a = 0; a < f; a++)
			for (int c = 0; c <= a; c++)
				A[a * d + c] += gram[(Size) a * f + c];
	for (int j = 0; j < n; j++)
	{
		const float *y = other + (Size) idx[j] * f;

		for (int a = 0; a < f; a++)
		{
			double		wa = (double) w[j] * y[a];

			for (int c = 0; c <= a; c++)
				A[a * d + c] += wa * y[c];
			b[a] += (double) t[j] * y[a];
		}
		if (d > f)
		{
			for (int c = 0; c < f; c++)
				A[f * d + c] += (double) w[j] * y[c];
			A[f * d + f] += w[j];
			b[f] += t[j];
		}
	}
	mf_cholesky_solve(A, b, d);
	for (int a = 0; a < d; a++)
		x[a] = (float) b[a];
}


static void
mf_cg_row_base(const MfTrainer *tr, const float *gram, const float *other, int n,
			   const int32 *idx, const float *w, const float *t, float lambda_row,
			   float *x, float *r, float *p, float *ap)
{
	mf_cg_row_body(tr, gram, other, n, idx, w, t, lambda_row, x, r, p, ap);
}

static void
mf_cholesky_row_base(const MfTrainer *tr, const float *gram, const float *other, int n,
					 const int32 *idx, const float *w, const float *t, float lambda_row,
					 float *x)
{
	mf_cholesky_row_body(tr, gram, other, n, idx, w, t, lambda_row, x);
}

#ifdef MF_HAVE_AVX2_BUILD
MF_TARGET_AVX2
static void
mf_cg_row_avx2(const MfTrainer *tr, const float *gram, const float *other, int n,
			   const int32 *idx, const float *w, const float *t, float lambda_row,
			   float *x, float *r, float *p, float *ap)
{
	mf_cg_row_body(tr, gram, other, n, idx, w, t, lambda_row, x, r, p, ap);
}

MF_TARGET_AVX2
static void
mf_cholesky_row_avx2(const MfTrainer *tr, const float *gram, const float *other, int n,
					 const int32 *idx, const float *w, const float *t, float lambda_row,
					 float *x)
{
	mf_cholesky_row_body(tr, gram, other, n, idx, w, t, lambda_row, x);
}
#endif

typedef void (*MfCgRowFn) (const MfTrainer *, const float *, const float *, int,
						   const int32 *, const float *, const float *, float,
						   float *, float *, float *, float *);
typedef void (*MfCholeskyRowFn) (const MfTrainer *, const float *, const float *, int,
								 const int32 *, const float *, const float *, float,
								 float *);


/* gram (f,f), full = M' M for M (rows, f) */
static void
mf_gram(const float *M, int rows, int f, float *gram)
{
	ecml_blas_prepare();
	ecml_ssyrk_t(f, rows, 1.0f, M, f, 0.0f, gram, f);
	for (int a = 0; a < f; a++)
		for (int c = a + 1; c < f; c++)
			gram[(Size) a * f + c] = gram[(Size) c * f + a];
}

/*
 * Solve every row of one side given the other side fixed: out (rows, f)
 * and out_bias from other (orows, f) and other_bias.
 */
static void
mf_solve_side(MfTrainer *tr, const MfCsr *m, float *out, float *out_bias,
			  const float *other, int orows, const float *other_bias)
{
	int			f = tr->f;
	int			d = tr->d;
	const float *gram = NULL;

	MfCgRowFn	cg_row = mf_cg_row_base;
	MfCholeskyRowFn cholesky_row = mf_cholesky_row_base;

#ifdef MF_HAVE_AVX2_BUILD
	if (mf_cpu_has_avx2())
	{
		cg_row = mf_cg_row_avx2;
		cholesky_row = mf_cholesky_row_avx2;
	}
#endif
	if (tr->implicit)
	{
		mf_gram(other, orows, f, tr->gram);
		gram = tr->gram;
	}
	for (int row = 0; row < m->nrows; row++)
	{
		int64		start = m->ptr[row];
		int			n = (int) (m->ptr[row + 1] - start);
		const int32 *idx = m->idx + start;
		const float *val = m->val + start;
		float		lambda_row;

		/* a Cholesky row at many factors takes milliseconds: check every row */
		CHECK_FOR_INTERRUPTS();
		if (tr->implicit)
		{
			/* c - 1 = alpha r in the product; b = sum c p y (p = [r > 0]) */
			for (int j = 0; j < n; j++)
			{
				tr->w[j] = (float) (tr->alpha * val[j]);
				tr->t[j] = val[j] > 0 ? (float) (1.0 + tr->alpha * val[j]) : 0.0f;
			}
			lambda_row = (float) tr->lambda;
		}
		else
		{
			for (int j = 0; j < n; j++)
			{
				tr->w[j] = 1.0f;
				tr->t[j] = (float) (val[j] - tr->mu - (other_bias ? other_bias[idx[j]] : 0.0));
			}
			/* ALS-WR: lambda scaled by the row's number of ratings */
			lambda_row = (float) (tr->lambda * n);
		}
		memcpy(tr->x, out + (Size) row * f, sizeof(float) * f);
		if (d > f)
			tr->x[f] = out_bias[row];
		if (tr->solver == MF_SOLVER_CG)
			cg_row(tr, gram, other, n, idx, tr->w, tr->t, lambda_row,
				   tr->x, tr->r, tr->p, tr->ap);
		else
			cholesky_row(tr, gram, other, n, idx, tr->w, tr->t, lambda_row, tr->x);
		memcpy(out + (Size) row * f, tr->x, sizeof(float) * f);
		if (d > f)
			out_bias[row] = tr->x[f];
	}
}

static double
sum_squares(const float *x, Size n)
{
	double		s = 0.0;

	for (Size i = 0; i < n; i++)
		s += (double) x[i] * x[i];
	return s;
}

/*
 * The objective after a sweep.  Implicit: sum over all pairs, as
 * sum_u x_u' (Y'Y) x_u + sum_observed [c (p - s)^2 - s^2] + penalty, with
 * gram = Y'Y.  Explicit: squared error over the ratings + penalty; *sse
 * gets the squared error alone.
 */
static double
mf_objective(MfTrainer *tr, const MfCsr *byuser, const MfCsr *byitem,
			 const float *X, const float *Y, const float *ub, const float *ib,
			 const float *gram, double *sse)
{
	int			f = tr->f;
	int			nusers = byuser->nrows;
	int			nitems = byitem->nrows;
	double		obs = 0.0;
	double		penalty = 0.0;

	for (int u = 0; u < nusers; u++)
	{
		const float *x = X + (Size) u * f;

		if ((u & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int64 e = byuser->ptr[u]; e < byuser->ptr[u + 1]; e++)
		{
			int			i = byuser->idx[e];
			double		s = ecml_dot_inline(x, Y + (Size) i * f, f);
			double		r = byuser->val[e];

			if (tr->implicit)
			{
				double		c = 1.0 + tr->alpha * r;
				double		pref = r > 0 ? 1.0 : 0.0;

				obs += c * (pref - s) * (pref - s) - s * s;
			}
			else
			{
				double		err;

				if (tr->biases)
					s += tr->mu + ub[u] + ib[i];
				err = r - s;
				obs += err * err;
			}
		}
	}
	if (tr->implicit)
	{
		/* sum_u x_u' G x_u = trace(G X'X) */
		float	   *h = palloc(sizeof(float) * f * f);
		double		tr_gh = 0.0;

		mf_gram(X, nusers, f, h);
		for (Size a = 0; a < (Size) f * f; a++)
			tr_gh += (double) gram[a] * h[a];
		pfree(h);
		*sse = obs;
		penalty = tr->lambda * (sum_squares(X, (Size) nusers * f) + sum_squares(Y, (Size) nitems * f));
		return tr_gh + obs + penalty;
	}
	for (int u = 0; u < nusers; u++)
	{
		double		n = (double) (byuser->ptr[u + 1] - byuser->ptr[u]);

		penalty += n * (sum_squares(X + (Size) u * f, f) + (ub ? (double) ub[u] * ub[u] : 0.0));
	}
	for (int i = 0; i < nitems; i++)
	{
		double		n = (double) (byitem->ptr[i + 1] - byitem->ptr[i]);

		penalty += n * (sum_squares(Y + (Size) i * f, f) + (ib ? (double) ib[i] * ib[i] : 0.0));
	}
	*sse = obs;
	return obs + tr->lambda * penalty;
}

static void
report_progress(const MfTrainer *tr, int it, int iterations, double loss,
				TimestampTz start)
{
	double		elapsed;

	if (!ecml_progress)
		return;
	elapsed = ecml_elapsed_seconds(start);
	ecml_progress_notice("%s (%s, %s): iteration %d of %d, loss %.6g, %.2f s elapsed, about %.1f s left",
						 TRAINER, tr->implicit ? "implicit" : "explicit",
						 tr->solver == MF_SOLVER_CG ? "cg" : "cholesky",
						 it, iterations, loss, elapsed,
						 ecml_seconds_left(elapsed, it, iterations));
}

/* ecml_all_finite over a buffer that may hold more than INT_MAX floats */
static bool
mf_all_finite(const float *x, Size n)
{
	for (Size done = 0; done < n;)
	{
		int			part = (int) Min(n - done, (Size) (1 << 30));

		if (!ecml_all_finite(x + done, part))
			return false;
		done += part;
	}
	return true;
}

static void
mf_init_factors(EcmlRng *rng, float *M, Size n, double scale)
{
	for (Size i = 0; i < n; i++)
		M[i] = (float) (ecml_rng_normal(rng) * scale);
}

/*
 * One factorization: mf_train_finalfn collects the interactions into a
 * matrix both ways (mf_collect), fits the factors (mf_prepare, mf_fit) and
 * writes the model (mf_write).
 */
typedef struct MfRun
{
	MfState    *st;
	MfOptions	o;
	MfTrainer	tr;
	EcmlTrainMemory mem;
	TimestampTz start;
	int64	   *user_ids;
	int64	   *item_ids;
	int			nusers;
	int			nitems;
	int64		nnz;
	MfCsr		byuser;
	MfCsr		byitem;
	float	   *X;				/* [nusers x f] */
	float	   *Y;				/* [nitems x f] */
	float	   *ub;				/* [nusers] with biases, else NULL */
	float	   *ib;				/* [nitems] with biases, else NULL */
	float	   *gram_y;			/* [f x f] Y'Y */
	double		loss;
	double		sse;
	StringInfoData hist;		/* the loss of each iteration */
} MfRun;

/* The buffered interactions: some, and few enough for int32 indices. */
static void
mf_check_rows(const MfState *st)
{
	if (st == NULL || st->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no training rows", TRAINER),
				 errdetail("Rows seen: " INT64_FORMAT ", skipped for a NULL user, item or value: " INT64_FORMAT ".",
						   st ? st->nrows + st->nskipped : 0, st ? st->nskipped : 0),
				 errhint("Check the query's WHERE clause and the NULLs in the user, item and value columns.")));
	if (st->nrows > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: " INT64_FORMAT " interactions, at most %d are supported",
						TRAINER, st->nrows, INT_MAX)));
}

/* The distinct ids and the interaction matrix by user and by item. */
static void
mf_collect(MfRun *run)
{
	MfState    *st = run->st;
	Size		csr_bytes;

	/*
	 * Everything below is charged to one account that starts with the
	 * buffered interactions: the id sort buffers, the interaction matrix
	 * both ways, the factors and the solver's scratch, then the model.
	 */
	ecml_train_memory_init(&run->mem, TRAINER, st->bytes);
	ecml_train_memory_check(&run->mem, sizeof(int64) * (Size) st->nrows, "user id sort buffer");
	run->user_ids = mf_distinct_ids(st, true, &run->nusers);
	ecml_train_memory_charge(&run->mem, sizeof(int64) * (Size) run->nusers, "user ids");
	ecml_train_memory_check(&run->mem, sizeof(int64) * (Size) st->nrows, "item id sort buffer");
	run->item_ids = mf_distinct_ids(st, false, &run->nitems);
	ecml_train_memory_charge(&run->mem, sizeof(int64) * (Size) run->nitems, "item ids");

	/*
	 * The matrix by user and by item: 16 bytes an interaction plus the row
	 * pointers.  It is built while the buffered chunks are freed, whose 20
	 * bytes an interaction cover the build's transient arrays.
	 */
	csr_bytes = 4 * sizeof(int32) * (Size) st->nrows +
				sizeof(int64) * ((Size) run->nusers + run->nitems + 2 + Max(run->nusers, run->nitems));
	ecml_train_memory_check(&run->mem, csr_bytes, "interaction matrix by user and by item");
	run->nnz = mf_build_csr(st, run->user_ids, run->nusers, run->item_ids, run->nitems,
							&run->byuser, &run->byitem);
	ecml_train_memory_release(&run->mem, st->bytes);
	st->bytes = 0;
	ecml_train_memory_charge(&run->mem, csr_bytes, "interaction matrix by user and by item");
}

/* The solver's settings and scratch, and the starting factors. */
static void
mf_prepare(MfRun *run)
{
	MfTrainer  *tr = &run->tr;
	int			f = run->o.factors;
	int64		maxrow = 0;
	Size		scratch;
	EcmlRng		rng;

	memset(tr, 0, sizeof(*tr));
	tr->f = f;
	tr->implicit = run->o.implicit;
	tr->biases = !run->o.implicit && run->o.biases;
	tr->d = f + (tr->biases ? 1 : 0);
	tr->lambda = run->o.regularization;
	tr->alpha = run->o.alpha;
	tr->solver = run->o.solver;
	tr->cg_steps = run->o.cg_steps;
	if (tr->biases)
	{
		double		s = 0.0;

		for (int64 e = 0; e < run->nnz; e++)
			s += run->byuser.val[e];
		tr->mu = s / (double) run->nnz;
	}
	for (int u = 0; u < run->nusers; u++)
		maxrow = Max(maxrow, run->byuser.ptr[u + 1] - run->byuser.ptr[u]);
	for (int i = 0; i < run->nitems; i++)
		maxrow = Max(maxrow, run->byitem.ptr[i + 1] - run->byitem.ptr[i]);

	/* factors with biases; scratch: row weights and targets, A, three f x f */
	ecml_train_memory_charge(&run->mem, sizeof(float) * ((Size) run->nusers + run->nitems) * (f + 1),
							 psprintf("user and item factors (%d x %d and %d x %d float4)",
									  run->nusers, f, run->nitems, f));
	scratch = 2 * sizeof(float) * (Size) maxrow + sizeof(double) * (Size) tr->d * tr->d;
	scratch += 3 * sizeof(float) * (Size) f * f;
	ecml_train_memory_charge(&run->mem, scratch,
							 "solver scratch (normal equations and Gram matrices)");
	tr->w = palloc_extended(sizeof(float) * maxrow, MCXT_ALLOC_HUGE);
	tr->t = palloc_extended(sizeof(float) * maxrow, MCXT_ALLOC_HUGE);
	tr->x = palloc(sizeof(float) * tr->d);
	tr->r = palloc(sizeof(float) * tr->d);
	tr->p = palloc(sizeof(float) * tr->d);
	tr->ap = palloc(sizeof(float) * tr->d);
	tr->A = palloc(sizeof(double) * tr->d * tr->d);
	tr->b = palloc(sizeof(double) * tr->d);
	tr->gram = palloc(sizeof(float) * f * f);

	run->X = palloc_extended(sizeof(float) * (Size) run->nusers * f, MCXT_ALLOC_HUGE);
	run->Y = palloc_extended(sizeof(float) * (Size) run->nitems * f, MCXT_ALLOC_HUGE);
	ecml_rng_seed(&rng, (uint64) run->o.seed);
	/* small random factors; for implicit data ~0.01 as in Hu et al.'s setup */
	mf_init_factors(&rng, run->X, (Size) run->nusers * f, run->o.implicit ? 0.01 : 0.1 / sqrt(f));
	mf_init_factors(&rng, run->Y, (Size) run->nitems * f, run->o.implicit ? 0.01 : 0.1 / sqrt(f));
	if (tr->biases)
	{
		run->ub = palloc0(sizeof(float) * run->nusers);
		run->ib = palloc0(sizeof(float) * run->nitems);
	}
}

/* Alternate the two sides for the iterations; the factors must stay finite. */
static void
mf_fit(MfRun *run)
{
	MfTrainer  *tr = &run->tr;
	int			f = run->o.factors;

	initStringInfo(&run->hist);
	for (int it = 1; it <= run->o.iterations; it++)
	{
		/* items given the users, then users given the items */
		mf_solve_side(tr, &run->byitem, run->Y, run->ib, run->X, run->nusers, run->ub);
		mf_solve_side(tr, &run->byuser, run->X, run->ub, run->Y, run->nitems, run->ib);
		run->loss = mf_objective(tr, &run->byuser, &run->byitem, run->X, run->Y, run->ub,
								 run->ib, tr->gram, &run->sse);
		appendStringInfo(&run->hist, "%s%.10g", it > 1 ? ", " : "", run->loss);
		report_progress(tr, it, run->o.iterations, run->loss, run->start);
	}
	/* Y'Y for fold-in: what the last user sweep solved against */
	run->gram_y = palloc(sizeof(float) * f * f);
	mf_gram(run->Y, run->nitems, f, run->gram_y);
	if (!isfinite(run->loss) || !isfinite(tr->mu) ||
		!mf_all_finite(run->X, (Size) run->nusers * f) ||
		!mf_all_finite(run->Y, (Size) run->nitems * f) ||
		(tr->biases && (!ecml_all_finite(run->ub, run->nusers) ||
						!ecml_all_finite(run->ib, run->nitems))))
		ereport(ERROR,
				(errcode(ERRCODE_FLOATING_POINT_EXCEPTION),
				 errmsg("%s: the factorization diverged (non-finite factors)", TRAINER),
				 errhint("Increase \"regularization\" or scale the values down.")));
}

/* The model: ids, factors, biases, Y'Y, the metrics and (optionally) the interactions. */
static bytea *
mf_write(MfRun *run)
{
	int			f = run->o.factors;
	Size		model_bytes;
	MfFit		fit;
	StringInfoData json;

	/* the item-major copy is not part of the model: free it before writing */
	pfree(run->byitem.ptr);
	pfree(run->byitem.idx);
	pfree(run->byitem.val);
	ecml_train_memory_release(&run->mem, 2 * sizeof(int32) * (Size) run->st->nrows +
											 sizeof(int64) * ((Size) run->nitems + 1));

	/* room for every section at once: no doubling of a large buffer */
	model_bytes = 64 * 1024 + sizeof(int64) * ((Size) run->nusers + run->nitems) * 2 +
				  sizeof(float) * ((Size) run->nusers + run->nitems) * (f + 1) +
				  sizeof(float) * f * f +
				  (run->o.store_interactions ? sizeof(int32) * run->nnz : 0);
	ecml_train_memory_charge(&run->mem, model_bytes, "model");

	memset(&fit, 0, sizeof(fit));
	fit.o = &run->o;
	fit.nusers = run->nusers;
	fit.nitems = run->nitems;
	fit.biases = run->tr.biases;
	fit.mu = run->tr.mu;
	fit.user_ids = run->user_ids;
	fit.item_ids = run->item_ids;
	fit.X = run->X;
	fit.Y = run->Y;
	fit.ub = run->ub;
	fit.ib = run->ib;
	fit.gram_y = run->gram_y;
	fit.nnz = run->nnz;
	fit.nrows = run->st->nrows;
	fit.nskipped = run->st->nskipped;
	if (run->o.store_interactions)
	{
		fit.seen_ptr = run->byuser.ptr;
		fit.seen_idx = run->byuser.idx;
	}
	initStringInfo(&json);
	appendStringInfo(&json, "{\"iterations\": %d, \"final_loss\": %.17g, ",
					 run->o.iterations, run->loss);
	if (!run->o.implicit)
		appendStringInfo(&json, "\"train_rmse\": %.10g, ", sqrt(run->sse / (double) run->nnz));
	appendStringInfo(&json, "\"training_seconds\": %.3f, \"loss_history\": [%s]}",
					 ecml_elapsed_seconds(run->start), run->hist.data);
	fit.metrics_json = json.data;
	return mf_model_write(&fit, model_bytes);
}

/* final: factorize the buffered interactions and return the model */
PG_FUNCTION_INFO_V1(mf_train_finalfn);
Datum
mf_train_finalfn(PG_FUNCTION_ARGS)
{
	MfRun		run;

	memset(&run, 0, sizeof(run));
	run.start = GetCurrentTimestamp();
	run.st = PG_ARGISNULL(0) ? NULL : (MfState *) PG_GETARG_POINTER(0);
	mf_check_rows(run.st);
	mf_parse_options(run.st->options, &run.o);

	mf_collect(&run);
	mf_prepare(&run);
	mf_fit(&run);
	PG_RETURN_BYTEA_P(mf_write(&run));
}

/*
 * The model of a fit: hyperparameters, facts, metrics, then the sections
 * mf.h lists.  Shared by ecml.mf_train and ecml.train('mf').
 */
bytea *
mf_model_write(const MfFit *fit, Size model_bytes)
{
	const MfOptions *o = fit->o;
	int			f = o->factors;
	int			nusers = fit->nusers;
	int			nitems = fit->nitems;
	EcmlModelBuilder b;
	StringInfoData json;
	int64		shape[4];
	double		params[2];

	ecml_builder_init(&b, ECML_KIND_MF);
	enlargeStringInfo(&b.buf, (int) Min((Size) MaxAllocSize - (Size) b.buf.len - 1, model_bytes));
	initStringInfo(&json);
	ecml_options_to_json(&json, mf_option_specs, N_MF_OPTIONS, o);
	ecml_builder_add_json(&b, ECML_TAG_HYPERPARAMS, json.data);

	resetStringInfo(&json);
	appendStringInfo(&json,
					 "{\"users\": %d, \"items\": %d, \"interactions\": " INT64_FORMAT
					 ", \"duplicates_merged\": " INT64_FORMAT ", \"factors\": %d, "
					 "\"implicit\": %s, \"biases\": %s, \"global_mean\": %.17g, "
					 "\"interactions_stored\": %s}",
					 nusers, nitems, fit->nnz, fit->nrows - fit->nnz, f,
					 o->implicit ? "true" : "false", fit->biases ? "true" : "false",
					 fit->mu, o->store_interactions ? "true" : "false");
	ecml_builder_add_json(&b, ECML_TAG_INFO, json.data);
	ecml_builder_add_json(&b, ECML_TAG_METRICS, fit->metrics_json);

	shape[0] = nusers;
	shape[1] = nitems;
	shape[2] = f;
	shape[3] = (o->implicit ? MF_FLAG_IMPLICIT : 0) | (fit->biases ? MF_FLAG_BIASES : 0) |
		(o->store_interactions ? MF_FLAG_SEEN : 0);
	ecml_builder_add(&b, MF_TAG_SHAPE, ECML_SECTION_INT64, shape, sizeof(shape));
	params[0] = o->regularization;
	params[1] = o->alpha;
	ecml_builder_add(&b, MF_TAG_PARAMS, ECML_SECTION_FLOAT64, params, sizeof(params));
	ecml_builder_add(&b, MF_TAG_GLOBAL_MEAN, ECML_SECTION_FLOAT64, &fit->mu, sizeof(double));
	ecml_builder_add(&b, MF_TAG_USER_IDS, ECML_SECTION_INT64, fit->user_ids, sizeof(int64) * nusers);
	ecml_builder_add(&b, MF_TAG_ITEM_IDS, ECML_SECTION_INT64, fit->item_ids, sizeof(int64) * nitems);
	ecml_builder_add(&b, MF_TAG_USER_FACTORS, ECML_SECTION_FLOAT32, fit->X, sizeof(float) * (Size) nusers * f);
	ecml_builder_add(&b, MF_TAG_ITEM_FACTORS, ECML_SECTION_FLOAT32, fit->Y, sizeof(float) * (Size) nitems * f);
	if (fit->biases)
	{
		ecml_builder_add(&b, MF_TAG_USER_BIAS, ECML_SECTION_FLOAT32, fit->ub, sizeof(float) * nusers);
		ecml_builder_add(&b, MF_TAG_ITEM_BIAS, ECML_SECTION_FLOAT32, fit->ib, sizeof(float) * nitems);
	}
	ecml_builder_add(&b, MF_TAG_GRAM, ECML_SECTION_FLOAT32, fit->gram_y, sizeof(float) * f * f);
	if (o->store_interactions)
	{
		ecml_builder_add(&b, MF_TAG_SEEN_PTR, ECML_SECTION_INT64, fit->seen_ptr,
						 sizeof(int64) * (nusers + 1));
		ecml_builder_add(&b, MF_TAG_SEEN_IDX, ECML_SECTION_INT32, fit->seen_idx,
						 sizeof(int32) * fit->nnz);
	}
	return ecml_builder_finish(&b, fit->nrows + fit->nskipped, fit->nskipped);
}
