/*
 * mf_passes.c
 *	  Matrix factorization in bounded memory: ecml.train('mf', source) runs
 *	  alternating least squares with each half-step as one grouped SQL
 *	  aggregate, ecml.mf_pass, over the source.
 *
 * A half-step solves every item given the user factors (then every user
 * given the item factors).  Item i's row solves the normal equations
 *
 *	 (G + lambda_i I + sum_u w_ui a_u a_u') x_i = sum_u t_ui a_u
 *
 * (mf_train.c derives the weights, targets and G for implicit and explicit
 * data), and the sums over the item's users are exactly what an aggregate
 * GROUP BY item computes: ecml.mf_pass's state is those normal equations, a
 * bytea of O(factors^2) doubles with a combine function, and its final
 * function solves them by Cholesky.  The fixed side travels as a query
 * parameter: the model as the last half-step left it (an ordinary mf
 * model, parsed once per query by the model cache), with G in the
 * parameters; each row looks its partner up by binary search and no rows
 * are gathered, so parallel workers and Citus workers each add their
 * share.  The backend holds the two factor matrices, the model's own size.
 *
 * Duplicate (user, item) rows are summed in SQL before the half-steps, as
 * ecml.mf_train merges them.  With the same seed the user factors start as
 * ecml.mf_train's, and the solves are ecml.mf_train's Cholesky solves, so
 * the model is the buffering trainer's with solver "cholesky" up to the
 * order of floating-point sums.
 */
#include "postgres.h"

#include <math.h>

#include "arrays.h"
#include "catalog/pg_type.h"
#include "ecml.h"
#include "executor/spi.h"
#include "mf.h"
#include "miscadmin.h"
#include "train.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#define PASS_TRAINER "ecml.train(mf)"
#define PASS_AGG "ecml.mf_pass"
#define MF_PASS_MAGIC 0x4D465053	/* "MFPS" */

/*
 * params (float8[]): implicit, alpha, lambda, mu, the fixed side (0: the
 * model's users, 1: its items), then with implicit data G (f x f), the
 * Gram matrix of the fixed side's factors.  Explicit targets are value -
 * mu - the partner's bias.
 */
#define MF_PASS_HEAD 5

/*
 * The state of one row's normal equations: this header, then the packed
 * lower triangle of A (d(d+1)/2), b (d) and, with implicit data, a copy of
 * G (f x f) for the final function.
 */
typedef struct MfPassState
{
	int32		vl_len_;
	int32		magic;
	int32		f;
	int32		d;
	int32		implicit;
	int32		pad;
	int64		n;				/* interactions summed */
	double		lambda;
	double		checksum;		/* sum of the values: a changed source */
} MfPassState;

#define PASS_A(s) ((double *) ((char *) (s) + sizeof(MfPassState)))
#define PASS_B(s) (PASS_A(s) + (Size) (s)->d * ((s)->d + 1) / 2)
#define PASS_G(s) (PASS_B(s) + (s)->d)

static Size
pass_size(int f, int d, bool implicit)
{
	return sizeof(MfPassState) +
		sizeof(double) * ((Size) d * (d + 1) / 2 + d + (implicit ? (Size) f * f : 0));
}

#define pass_corrupt(what) ecml_pass_state_invalid(PASS_AGG, "mf", (what))

/* The fixed side of the model in argument argno, as params name it. */
typedef struct MfFixed
{
	const int64 *ids;
	int			n;
	const float *rows;			/* [n x f] */
	const float *bias;			/* [n] or NULL */
	int			f;
	int			d;
} MfFixed;

static void
fixed_side(FunctionCallInfo fcinfo, int argno, bool items, MfFixed *x)
{
	MfModel    *m = (MfModel *) ecml_model_cached(fcinfo, argno, ECML_KIND_MF, mf_parse);

	x->ids = items ? m->item_ids : m->user_ids;
	x->n = items ? m->nitems : m->nusers;
	x->rows = items ? m->item_factors : m->user_factors;
	x->bias = m->biases ? (items ? m->item_bias : m->user_bias) : NULL;
	x->f = m->factors;
	x->d = m->factors + (m->biases ? 1 : 0);
}

/* An id the model so far does not hold: the source changed between passes. */
static void
unknown_id(int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s: id " INT64_FORMAT " was not in the source's first pass", PASS_TRAINER, id),
			 errhint("The source must return the same rows in every pass: avoid volatile functions and LIMIT without ORDER BY.")));
}

static void
pass_check(const MfPassState *s)
{
	if (VARSIZE(s) < sizeof(MfPassState) || s->magic != MF_PASS_MAGIC ||
		s->f < MF_FACTORS_MIN || s->f > MF_FACTORS_MAX ||
		(s->d != s->f && s->d != s->f + 1) || (s->implicit != 0 && s->implicit != 1) ||
		s->n < 0 || VARSIZE(s) != pass_size(s->f, s->d, s->implicit))
		pass_corrupt("partial state");
}

/* The state argument: in place in an aggregate, a checked copy otherwise. */
static MfPassState *
pass_arg(FunctionCallInfo fcinfo, int argno)
{
	MfPassState *s;

	if (PG_ARGISNULL(argno))
		return NULL;
	s = (MfPassState *) ecml_agg_writable_arg(fcinfo, argno);
	pass_check(s);
	return s;
}

/* params, checked against the fixed side's factor count */
static const double *
pass_params(ArrayType *params, int f)
{
	const double *pv;
	int			n;

	if (ARR_ELEMTYPE(params) != FLOAT8OID || ARR_NDIM(params) != 1 || ARR_HASNULL(params))
		pass_corrupt("params: not a double precision array without NULLs");
	n = ArrayGetNItems(ARR_NDIM(params), ARR_DIMS(params));
	pv = (const double *) ARR_DATA_PTR(params);
	if (n < MF_PASS_HEAD)
		pass_corrupt("params: too short");
	if ((pv[0] != 0 && pv[0] != 1) || !(pv[1] >= 0 && pv[2] >= 0) ||
		!isfinite(pv[1]) || !isfinite(pv[2]) || !isfinite(pv[3]) || (pv[4] != 0 && pv[4] != 1))
		pass_corrupt("params: values out of range");
	if (n != MF_PASS_HEAD + (pv[0] != 0 ? f * f : 0))
		pass_corrupt("params: length does not match the model's factors");
	return pv;
}

static MfPassState *
pass_new(const MfFixed *x, const double *pv)
{
	bool		implicit = pv[0] != 0;
	Size		size = pass_size(x->f, x->d, implicit);
	MfPassState *s = palloc0(size);

	SET_VARSIZE(s, size);
	s->magic = MF_PASS_MAGIC;
	s->f = x->f;
	s->d = x->d;
	s->implicit = implicit;
	s->lambda = pv[2];
	if (implicit)
		memcpy(PASS_G(s), pv + MF_PASS_HEAD, sizeof(double) * x->f * x->f);
	return s;
}

/*
 * ecml.mf_pass_transfn(state, model, other_id, value, params) → bytea: add
 * one (id, partner, value) row's term to the row's normal equations, as
 * mf_solve_side does (mf_train.c).  The first row allocates the state in
 * the per-row context; the executor copies it into its own.
 */
PG_FUNCTION_INFO_V1(mf_pass_transfn);
Datum
mf_pass_transfn(PG_FUNCTION_ARGS)
{
	MfPassState *s = pass_arg(fcinfo, 0);
	MfFixed		x;
	ArrayType  *params;
	const double *pv;
	int64		other;
	double		value;
	int			k;
	const float *y;
	double		w,
				t;
	double	   *A,
			   *b;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(4))
		pass_corrupt("model or params: NULL");
	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(s);
	}
	params = PG_GETARG_ARRAYTYPE_P(4);
	if (ARR_ELEMTYPE(params) != FLOAT8OID || ARR_NDIM(params) != 1 || ARR_HASNULL(params) ||
		ArrayGetNItems(ARR_NDIM(params), ARR_DIMS(params)) < MF_PASS_HEAD)
		pass_corrupt("params: not a double precision array of the pass's parameters");
	fixed_side(fcinfo, 1, ((double *) ARR_DATA_PTR(params))[4] != 0, &x);
	pv = pass_params(params, x.f);
	other = PG_GETARG_INT64(2);
	value = PG_GETARG_FLOAT4(3);
	if (!isfinite(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: interaction value is %s", PASS_AGG, isnan(value) ? "NaN" : "infinite"),
				 errhint("Filter or replace non-finite values (for example WHERE value <> 'NaN').")));
	if (s == NULL)
		s = pass_new(&x, pv);
	else if (s->f != x.f || s->d != x.d || s->implicit != (pv[0] != 0))
		pass_corrupt("model: factors differ from the state's");

	k = ecml_find_int64(x.ids, x.n, other);
	if (k < 0)
		unknown_id(other);
	y = x.rows + (Size) k * x.f;
	if (s->implicit)
	{
		/* c - 1 = alpha r in A; b gets c p with p = [r > 0] */
		w = (float) (pv[1] * value);
		t = value > 0 ? (float) (1.0 + pv[1] * value) : 0.0f;
	}
	else
	{
		w = 1.0;
		t = (float) (value - pv[3] - (x.bias ? x.bias[k] : 0.0));
	}
	A = PASS_A(s);
	b = PASS_B(s);
	for (int a = 0; a < s->d; a++)
	{
		double		ya = a < s->f ? y[a] : 1.0;
		double		wa = w * ya;

		for (int c = 0; c <= a; c++)
			A[c] += wa * (c < s->f ? y[c] : 1.0);
		A += a + 1;
		b[a] += t * ya;
	}
	s->n++;
	s->checksum += value;
	PG_RETURN_BYTEA_P(s);
}

/* ecml.mf_pass_combinefn(state, other) → bytea: add two partial states */
PG_FUNCTION_INFO_V1(mf_pass_combinefn);
Datum
mf_pass_combinefn(PG_FUNCTION_ARGS)
{
	MfPassState *s = pass_arg(fcinfo, 0);
	MfPassState *o;
	Size		nsum;

	if (PG_ARGISNULL(1))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(s);
	}
	o = (MfPassState *) PG_GETARG_BYTEA_P_COPY(1);
	pass_check(o);
	if (s == NULL)
		PG_RETURN_BYTEA_P(o);
	if (s->f != o->f || s->d != o->d || s->implicit != o->implicit || s->lambda != o->lambda)
		pass_corrupt("partial states of different shapes");
	nsum = (Size) s->d * (s->d + 1) / 2 + s->d;
	for (Size j = 0; j < nsum; j++)
		PASS_A(s)[j] += PASS_A(o)[j];
	s->n += o->n;
	s->checksum += o->checksum;
	PG_RETURN_BYTEA_P(s);
}

/*
 * ecml.mf_pass_finalfn(state) → real[]: the row's solution, factors then
 * bias: A plus lambda (explicit: lambda times the row's interactions,
 * ALS-WR) and G, solved by Cholesky.
 */
PG_FUNCTION_INFO_V1(mf_pass_finalfn);
Datum
mf_pass_finalfn(PG_FUNCTION_ARGS)
{
	MfPassState *s = pass_arg(fcinfo, 0);
	int			d,
				f;
	double	   *A,
			   *b;
	const double *packed;
	double		lambda_row;
	Datum	   *out;

	if (s == NULL)
		PG_RETURN_NULL();
	d = s->d;
	f = s->f;
	A = palloc0(sizeof(double) * d * d);
	b = palloc(sizeof(double) * d);
	packed = PASS_A(s);
	for (int a = 0; a < d; a++)
	{
		for (int c = 0; c <= a; c++)
			A[a * d + c] = packed[c];
		packed += a + 1;
	}
	memcpy(b, PASS_B(s), sizeof(double) * d);
	lambda_row = s->implicit ? s->lambda : s->lambda * (double) s->n;
	for (int a = 0; a < d; a++)
		A[a * d + a] += (float) lambda_row;
	if (s->implicit)
		for (int a = 0; a < f; a++)
			for (int c = 0; c <= a; c++)
				A[a * d + c] += PASS_G(s)[(Size) a * f + c];
	mf_cholesky_solve(A, b, d);
	out = palloc(sizeof(Datum) * d);
	for (int a = 0; a < d; a++)
		out[a] = Float4GetDatum((float) b[a]);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, d, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT));
}

/* ---- the driver ---- */

/* One side of the factorization as the trainer holds it. */
typedef struct MfSideRows
{
	int64	   *ids;			/* ascending */
	int			n;
	float	   *rows;			/* [n x f] */
	float	   *bias;			/* [n] with biases, else NULL */
} MfSideRows;

typedef struct MfPassRun
{
	EcmlTrainDriver *d;
	MfOptions	o;
	bool		biases;
	int			f;
	char	   *dedup;			/* the source with duplicates summed */
	int64		nnz;
	double		mu;
	MfSideRows	users;
	MfSideRows	items;
	/* the half-step being collected */
	MfSideRows *target;
	int64		seen;			/* interactions the half-step summed */
	int			solved;
} MfPassRun;

/* collect the ids of one side, ascending */
typedef struct IdCollect
{
	int64	   *ids;
	int64		n;
	int64		cap;
} IdCollect;

static void
collect_id(HeapTuple tup, TupleDesc desc, void *arg)
{
	IdCollect  *c = (IdCollect *) arg;
	bool		isnull;
	int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));

	if (c->n == c->cap)
	{
		c->cap = Max(1024, c->cap * 2);
		c->ids = c->ids ? repalloc_huge(c->ids, sizeof(int64) * c->cap)
			: palloc_extended(sizeof(int64) * c->cap, MCXT_ALLOC_HUGE);
	}
	if (c->n >= MF_MAX_IDS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: more than %d distinct ids, at most %d are supported",
						PASS_TRAINER, MF_MAX_IDS, MF_MAX_IDS)));
	c->ids[c->n++] = id;
}

static void
mf_collect_ids(MfPassRun *r, const char *col, const char *what, MfSideRows *side)
{
	IdCollect	c = {0};

	ecml_train_pass_rows(r->d, what,
						 psprintf("SELECT %s FROM %s GROUP BY 1 ORDER BY 1", col, r->dedup),
						 0, NULL, NULL, collect_id, &c);
	side->ids = c.ids;
	side->n = (int) c.n;
}

/* G = M'M of one side's factors (n x f), summed in double, full */
static double *
mf_gram_double(const MfSideRows *rows, int f)
{
	double	   *g = palloc0(sizeof(double) * f * f);

	for (int i = 0; i < rows->n; i++)
	{
		const float *m = rows->rows + (Size) i * f;

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int a = 0; a < f; a++)
			for (int c = 0; c <= a; c++)
				g[(Size) a * f + c] += (double) m[a] * m[c];
	}
	for (int a = 0; a < f; a++)
		for (int c = a + 1; c < f; c++)
			g[(Size) a * f + c] = g[(Size) c * f + a];
	return g;
}

static bytea *mf_passes_model(MfPassRun *r, const char *metrics, float *gram_y);

/* one solved row of a half-step: id, factors (+ bias), interactions */
static void
collect_solved(HeapTuple tup, TupleDesc desc, void *arg)
{
	MfPassRun  *r = (MfPassRun *) arg;
	MfSideRows *t = r->target;
	bool		isnull;
	int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	Datum		xd = SPI_getbinval(tup, desc, 2, &isnull);
	int64		cnt = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	int			k = ecml_find_int64(t->ids, t->n, id);
	int			n;
	ArrayType  *a;
	float	   *x;

	if (k < 0 || isnull)
		unknown_id(id);
	a = DatumGetArrayTypeP(xd);
	x = ecml_array_float4(a, "solved row", -1, &n, false);
	if (n != r->f + (r->biases ? 1 : 0))
		elog(ERROR, "%s: solved row of %d values", PASS_TRAINER, n);
	memcpy(t->rows + (Size) k * r->f, x, sizeof(float) * r->f);
	if (r->biases)
		t->bias[k] = x[r->f];
	/* a short row is copied out of the tuple: free it, or every pass leaks one a row */
	if ((Pointer) a != DatumGetPointer(xd))
		pfree(a);
	r->seen += cnt;
	r->solved++;
}

/*
 * Solve every row of target given the fixed side, in one grouped pass: the
 * model so far is the parameter the rows read their partners from.
 */
static void
mf_half_step(MfPassRun *r, MfSideRows *target, const MfSideRows *fixed, bool fixed_items,
			 const char *target_col, const char *fixed_col, const char *what)
{
	int			f = r->f;
	int			np = MF_PASS_HEAD + (r->o.implicit ? f * f : 0);
	Oid			types[2] = {BYTEAOID, FLOAT8ARRAYOID};
	Datum		values[2];
	Datum	   *pv = palloc(sizeof(Datum) * np);
	float	   *no_gram = palloc0(sizeof(float) * f * f);

	pv[0] = Float8GetDatum(r->o.implicit ? 1.0 : 0.0);
	pv[1] = Float8GetDatum(r->o.alpha);
	pv[2] = Float8GetDatum(r->o.regularization);
	pv[3] = Float8GetDatum(r->mu);
	pv[4] = Float8GetDatum(fixed_items ? 1.0 : 0.0);
	if (r->o.implicit)
	{
		double	   *g = mf_gram_double(fixed, f);

		for (int j = 0; j < f * f; j++)
			pv[MF_PASS_HEAD + j] = Float8GetDatum(g[j]);
		pfree(g);
	}
	values[0] = PointerGetDatum(mf_passes_model(r, "{}", no_gram));
	values[1] = PointerGetDatum(construct_array(pv, np, FLOAT8OID, 8,
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	r->target = target;
	r->seen = 0;
	r->solved = 0;
	ecml_train_pass_rows(r->d, what,
						 psprintf("SELECT %s, ecml.mf_pass($1, %s, r, $2), count(*) FROM %s GROUP BY 1",
								  target_col, fixed_col, r->dedup),
						 2, types, values, collect_solved, r);
	if (r->seen != r->nnz || r->solved != target->n)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s: the source changed between passes", PASS_TRAINER),
				 errdetail("The first pass saw " INT64_FORMAT " interactions of %d ids; this one " INT64_FORMAT " of %d.",
						   r->nnz, target->n, r->seen, r->solved),
				 errhint("The source must return the same rows in every pass: avoid volatile functions and LIMIT without ORDER BY.")));
	/* this half-step's model is not passed again: free its parse too */
	ecml_model_cache_forget((bytea *) DatumGetPointer(values[0]));
	pfree(DatumGetPointer(values[0]));
	pfree(DatumGetPointer(values[1]));
	pfree(pv);
	pfree(no_gram);
}

/* count and mean of the merged interactions */
static void
collect_totals(HeapTuple tup, TupleDesc desc, void *arg)
{
	MfPassRun  *r = (MfPassRun *) arg;
	bool		isnull;
	Datum		sum;

	r->nnz = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	sum = SPI_getbinval(tup, desc, 2, &isnull);
	r->mu = isnull || r->nnz == 0 ? 0.0 : DatumGetFloat8(sum) / (double) r->nnz;
}

/* options ecml.train('mf') cannot honour in bounded memory */
static void
mf_passes_options(Jsonb *options, MfOptions *o)
{
	JsonbValue	v;

	mf_parse_options(options, o);
	if (options && getKeyJsonValueFromContainer(&options->root, "store_interactions", 18, &v) &&
		v.type == jbvBool && v.val.boolean)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s: option \"store_interactions\" keeps every interaction in the model", PASS_TRAINER),
				 errhint("Exclude seen items with a join against the interactions table, or use ecml.mf_train.")));
	if (options && getKeyJsonValueFromContainer(&options->root, "solver", 6, &v) &&
		v.type == jbvString && v.val.string.len == 2 && strncmp(v.val.string.val, "cg", 2) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s: solver \"cg\" warm-starts each row from its last solution; the passes solve each row exactly", PASS_TRAINER),
				 errhint("Leave \"solver\" out (ecml.train uses \"cholesky\").")));
	o->store_interactions = false;
	o->solver = MF_SOLVER_CHOLESKY;
}

/* init the user factors as ecml.mf_train does: the same stream, the same order */
static void
mf_passes_init(MfPassRun *r)
{
	EcmlRng		rng;
	Size		n = (Size) r->users.n * r->f;
	double		scale = r->o.implicit ? 0.01 : 0.1 / sqrt(r->f);

	ecml_check_train_memory(sizeof(float) * ((Size) r->users.n + r->items.n) * (r->f + 1) * 2,
							PASS_TRAINER);
	r->users.rows = palloc_extended(sizeof(float) * n, MCXT_ALLOC_HUGE);
	r->items.rows = palloc_extended(sizeof(float) * (Size) r->items.n * r->f,
									MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	ecml_rng_seed(&rng, (uint64) r->o.seed);
	for (Size j = 0; j < n; j++)
		r->users.rows[j] = (float) (scale * ecml_rng_normal(&rng));
	if (r->biases)
	{
		r->users.bias = palloc0(sizeof(float) * Max(r->users.n, 1));
		r->items.bias = palloc0(sizeof(float) * Max(r->items.n, 1));
	}
}

/* a one-row, one-column float8 result (NaN when NULL) */
static void
collect_float8(HeapTuple tup, TupleDesc desc, void *arg)
{
	bool		isnull;
	Datum		v = SPI_getbinval(tup, desc, 1, &isnull);

	*(double *) arg = isnull ? NAN : DatumGetFloat8(v);
}

/* train RMSE of the explicit model over the merged interactions */
static double
mf_passes_rmse(MfPassRun *r, bytea *model)
{
	Oid			type = BYTEAOID;
	Datum		value = PointerGetDatum(model);
	double		rmse = NAN;

	ecml_train_pass_rows(r->d, "train rmse",
						 psprintf("SELECT sqrt(avg((r - ecml.mf_predict($1, u, i))^2)) FROM %s", r->dedup),
						 1, &type, &value, collect_float8, &rmse);
	return rmse;
}

static bytea *
mf_passes_model(MfPassRun *r, const char *metrics, float *gram_y)
{
	MfFit		fit;

	memset(&fit, 0, sizeof(fit));
	fit.o = &r->o;
	fit.nusers = r->users.n;
	fit.nitems = r->items.n;
	fit.biases = r->biases;
	fit.mu = r->mu;
	fit.user_ids = r->users.ids;
	fit.item_ids = r->items.ids;
	fit.X = r->users.rows;
	fit.Y = r->items.rows;
	fit.ub = r->users.bias;
	fit.ib = r->items.bias;
	fit.gram_y = gram_y;
	fit.nnz = r->nnz;
	fit.nrows = r->nnz;
	fit.metrics_json = metrics;
	return mf_model_write(&fit, 64 * 1024 + sizeof(float) * ((Size) r->users.n + r->items.n) * (r->f + 3));
}

/*
 * ecml.train('mf', source): ids and totals in three passes, then per
 * iteration one grouped pass for the items and one for the users.
 */
bytea *
mf_train_passes(EcmlTrainDriver *d, Jsonb *options)
{
	MfPassRun	r;
	float	   *gram_y;
	bytea	   *model;
	StringInfoData metrics;
	double		rmse = 0.0;		/* first the offending value, if any */
	int			f;

	memset(&r, 0, sizeof(r));
	r.d = d;
	mf_passes_options(options, &r.o);
	f = r.f = r.o.factors;
	r.biases = !r.o.implicit && r.o.biases;
	/* duplicates summed, as ecml.mf_train merges them; NULLs skipped */
	r.dedup = psprintf("(SELECT c1::bigint AS u, c2::bigint AS i, sum(c3::real) AS r FROM %s"
					   " WHERE c1 IS NOT NULL AND c2 IS NOT NULL AND c3 IS NOT NULL"
					   " GROUP BY 1, 2) AS ecml_interactions", d->from);

	ecml_train_pass_rows(d, "interactions",
						 psprintf("SELECT count(*), sum(r::float8) FROM %s", r.dedup),
						 0, NULL, NULL, collect_totals, &r);
	if (r.nnz == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no training rows", PASS_TRAINER),
				 errhint("Check the source's WHERE clause and the NULLs in the user, item and value columns.")));
	/* the values ecml.mf_train refuses row by row */
	ecml_train_pass_rows(d, "value check",
						 psprintf("SELECT c3::real::float8 FROM %s WHERE c3::real = 'NaN' OR abs(c3::real) = 'Infinity'%s LIMIT 1",
								  d->from, r.o.implicit ? " OR c3::real < 0" : ""),
						 0, NULL, NULL, collect_float8, &rmse);
	if (isnan(rmse) || isinf(rmse))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: interaction value is %s", PASS_TRAINER, isnan(rmse) ? "NaN" : "infinite"),
				 errhint("Filter or replace non-finite values (for example WHERE value <> 'NaN').")));
	if (rmse < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: negative interaction value %g in implicit mode", PASS_TRAINER, rmse),
				 errhint("Implicit feedback counts or weights events and must be at least 0; pass '{\"implicit\": false}' to fit ratings.")));
	if (!r.biases)
		r.mu = 0.0;
	mf_collect_ids(&r, "u", "user ids", &r.users);
	mf_collect_ids(&r, "i", "item ids", &r.items);
	mf_passes_init(&r);

	for (int it = 1; it <= r.o.iterations; it++)
	{
		/* items given the users, then users given the items, as ecml.mf_train */
		mf_half_step(&r, &r.items, &r.users, false, "i", "u", psprintf("items, iteration %d", it));
		mf_half_step(&r, &r.users, &r.items, true, "u", "i", psprintf("users, iteration %d", it));
	}
	for (Size j = 0; j < (Size) r.users.n * f; j++)
		if (!isfinite(r.users.rows[j]))
			ereport(ERROR,
					(errcode(ERRCODE_FLOATING_POINT_EXCEPTION),
					 errmsg("%s: the factorization diverged (non-finite factors)", PASS_TRAINER),
					 errhint("Increase \"regularization\" or scale the values down.")));

	/* Y'Y for fold-in, as ecml.mf_train stores it */
	gram_y = palloc(sizeof(float) * f * f);
	{
		double	   *g = mf_gram_double(&r.items, f);

		for (int j = 0; j < f * f; j++)
			gram_y[j] = (float) g[j];
		pfree(g);
	}

	initStringInfo(&metrics);
	appendStringInfo(&metrics, "{\"iterations\": %d, \"passes\": %d, \"pass_history\": [%s]}",
					 r.o.iterations, d->passes, d->history.data);
	model = mf_passes_model(&r, metrics.data, gram_y);
	if (r.o.implicit)
		return model;
	/* explicit ratings: the training RMSE, one more pass with the model */
	rmse = mf_passes_rmse(&r, model);
	resetStringInfo(&metrics);
	appendStringInfo(&metrics, "{\"iterations\": %d, \"train_rmse\": %.10g, \"passes\": %d, \"pass_history\": [%s]}",
					 r.o.iterations, rmse, d->passes, d->history.data);
	return mf_passes_model(&r, metrics.data, gram_y);
}
