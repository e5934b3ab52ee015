/*
 * logreg_passes.c
 *	  Logistic regression in bounded memory: ecml.train('logreg', source)
 *	  runs the optimizer of logreg_fit.c with each pass over the rows as one
 *	  SQL aggregate query, ecml.logreg_pass(features, label, params).
 *
 * The pass aggregate's state is a bytea of O(p^2) doubles (sums, never
 * rows), updated in place in the aggregate context and merged by a combine
 * function, so parallel workers and Citus workers compute partial states
 * side by side.  Pass 0 gathers counts and the features' means and second
 * moments (Welford 1962, merged as Chan, Golub & LeVeque 1979); each later
 * pass the loss, gradient and, for Newton, the Hessian at the parameters
 * the optimizer sends in params.
 */
#include "postgres.h"

#include <math.h>

#include "arrays.h"
#include "catalog/pg_type.h"
#include "ecml.h"
#include "logreg_fit.h"
#include "miscadmin.h"
#include "train.h"
#include "utils/array.h"
#include "utils/builtins.h"

#define PASS_TRAINER "ecml.train(logreg)"
#define PASS_AGG "ecml.logreg_pass"
#define LOGREG_PASS_MAGIC 0x4C525053	/* "LRPS" */

typedef enum LogregPassKind
{
	LOGREG_PASS_STATS = 0,		/* counts, means, second moments */
	LOGREG_PASS_GRAD = 1,		/* loss and gradient */
	LOGREG_PASS_HESS = 2		/* loss, gradient and Hessian */
} LogregPassKind;

/*
 * params (float8[]): kind, f (-1: learn it from the first row),
 * fit_intercept, w_neg, w_pos; for the gradient passes then theta (p),
 * mean (f) and scale (f).
 */
#define PARAM_HEAD 5

/*
 * The state: this header, then doubles.  Stats: mean (f), m2 (f).
 * Gradient passes: theta (p), mean (f), scale (f) copied from params,
 * then grad (f), a row's standardized features (f, scratch) and the packed
 * lower triangle of the Hessian (p(p+1)/2).  f = -1 while only rows with
 * NULLs were seen in pass 0: the header alone.
 */
typedef struct LogregPassState
{
	int32		vl_len_;
	int32		magic;
	int32		kind;
	int32		f;
	int32		fit_intercept;
	int32		pad;
	int64		nrows;
	int64		npos;
	int64		nskipped;
	double		w_neg;
	double		w_pos;
	double		checksum;		/* sum of every feature: a changed source */
	double		abs_sum;		/* sum of |feature|: the checksum's scale */
	LogregSums	sums;
	double		data[FLEXIBLE_ARRAY_MEMBER];
} LogregPassState;

static int
pass_params_p(const LogregPassState *s)
{
	return s->f + (s->fit_intercept ? 1 : 0);
}

static Size
pass_ndoubles(int kind, int f, bool fit_intercept)
{
	Size		p = (Size) f + (fit_intercept ? 1 : 0);

	if (f < 0)
		return 0;
	if (kind == LOGREG_PASS_STATS)
		return 2 * (Size) f;
	return p + 4 * (Size) f + (kind == LOGREG_PASS_HESS ? p * (p + 1) / 2 : 0);
}

static Size
pass_state_size(int kind, int f, bool fit_intercept)
{
	return offsetof(LogregPassState, data) + sizeof(double) * pass_ndoubles(kind, f, fit_intercept);
}

#define pass_corrupt(what) ecml_pass_state_invalid(PASS_AGG, "logreg", (what))

/* A state of the given shape, zeroed, in CurrentMemoryContext. */
static LogregPassState *
pass_state_new(int kind, int f, bool fit_intercept, double w_neg, double w_pos)
{
	Size		size = pass_state_size(kind, f, fit_intercept);
	LogregPassState *s;

	ecml_check_train_memory(size, PASS_AGG);
	s = palloc_extended(size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	SET_VARSIZE(s, size);
	s->magic = LOGREG_PASS_MAGIC;
	s->kind = kind;
	s->f = f;
	s->fit_intercept = fit_intercept;
	s->w_neg = w_neg;
	s->w_pos = w_pos;
	return s;
}

/* A state that came from elsewhere (a worker, a Citus node) is whole. */
static void
logreg_pass_check(const LogregPassState *s)
{
	if (VARSIZE(s) < offsetof(LogregPassState, data) || s->magic != LOGREG_PASS_MAGIC ||
		s->kind < LOGREG_PASS_STATS || s->kind > LOGREG_PASS_HESS ||
		s->f < -1 || s->f > LOGREG_MAX_FEATURES || s->f == 0 ||
		(s->f < 0 && s->kind != LOGREG_PASS_STATS) ||
		VARSIZE(s) != pass_state_size(s->kind, s->f, s->fit_intercept))
		pass_corrupt("partial state");
}

/*
 * The first row's state, from params.  f_row is the row's feature count,
 * or -1 for a row with NULLs.
 */
static LogregPassState *
pass_state_from_params(ArrayType *params, int f_row)
{
	int			n;
	double	   *pv;
	int			kind;
	int			f;
	bool		fit_intercept;
	LogregPassState *s;

	if (ARR_ELEMTYPE(params) != FLOAT8OID || ARR_NDIM(params) != 1 || ARR_HASNULL(params))
		pass_corrupt("params: not a one-dimensional double precision array without NULLs");
	n = ArrayGetNItems(ARR_NDIM(params), ARR_DIMS(params));
	pv = (double *) ARR_DATA_PTR(params);
	if (n < PARAM_HEAD)
		pass_corrupt("params: too short");
	kind = (int) pv[0];
	f = (int) pv[1];
	fit_intercept = pv[2] != 0.0;
	if (pv[0] != kind || kind < LOGREG_PASS_STATS || kind > LOGREG_PASS_HESS)
		pass_corrupt("params: unknown pass kind");
	if (kind == LOGREG_PASS_STATS)
		f = f_row;
	else if (pv[1] != f || f < 1 || f > LOGREG_MAX_FEATURES)
		pass_corrupt("params: feature count");
	if (!(pv[3] > 0 && pv[4] > 0 && isfinite(pv[3]) && isfinite(pv[4])))
		pass_corrupt("params: class weights");
	s = pass_state_new(kind, f, fit_intercept, pv[3], pv[4]);
	if (kind != LOGREG_PASS_STATS)
	{
		Size		copy = (Size) pass_params_p(s) + 2 * (Size) f;

		if ((Size) n != PARAM_HEAD + copy)
			pass_corrupt("params: length does not match the feature count");
		memcpy(s->data, pv + PARAM_HEAD, sizeof(double) * copy);
		for (int j = 0; j < f; j++)
			if (!(s->data[pass_params_p(s) + f + j] > 0))
				pass_corrupt("params: a feature scale is not positive");
	}
	return s;
}

/* Pass 0: Welford's update of the running means and second moments. */
static void
pass_stats_row(LogregPassState *s, const float *x, bool y)
{
	double	   *mean = s->data;
	double	   *m2 = s->data + s->f;
	double		n = (double) s->nrows;

	for (int j = 0; j < s->f; j++)
	{
		double		delta = x[j] - mean[j];

		mean[j] += delta / n;
		m2[j] += delta * (x[j] - mean[j]);
	}
}

/* Gradient passes: one row's terms at the parameters in the state. */
static void
pass_grad_row(LogregPassState *s, const float *x, bool y)
{
	int			f = s->f;
	int			p = pass_params_p(s);
	const double *theta = s->data;
	const double *mean = theta + p;
	const double *scale = mean + f;
	double	   *grad = s->data + p + 2 * f;
	double	   *xstd = grad + f;
	double	   *hess = xstd + f;
	double		z = s->fit_intercept ? theta[f] : 0.0;
	double		wt = y ? s->w_pos : s->w_neg;
	double		prob;
	double		g;

	for (int j = 0; j < f; j++)
	{
		xstd[j] = (x[j] - mean[j]) / scale[j];
		z += theta[j] * xstd[j];
	}
	g = logreg_row_terms(z, y, wt, &s->sums, &prob);
	s->sums.gsum += g;
	for (int j = 0; j < f; j++)
		grad[j] += g * xstd[j];
	if (s->kind == LOGREG_PASS_HESS)
	{
		double		d = logreg_row_curvature(prob, wt, &s->sums);
		double	   *row = hess;

		/* packed lower triangle: row j holds columns 0..j */
		for (int j = 0; j < f; j++)
		{
			double		dxj = d * xstd[j];

			for (int k = 0; k <= j; k++)
				row[k] += dxj * xstd[k];
			row += j + 1;
		}
		if (s->fit_intercept)
			for (int k = 0; k < f; k++)
				row[k] += d * xstd[k];
	}
}

/*
 * A pass-0 state that has seen only rows with NULLs, grown to f features
 * with its counts kept.
 */
static LogregPassState *
pass_state_grow(LogregPassState *s, int f)
{
	LogregPassState *g = pass_state_new(s->kind, f, s->fit_intercept, s->w_neg, s->w_pos);

	g->nskipped = s->nskipped;
	return g;
}

/*
 * The state argument, checked.  Inside an aggregate it is updated in place
 * (it lives in the aggregate's context); called directly, on a copy.
 */
static LogregPassState *
pass_state_arg(FunctionCallInfo fcinfo, int argno)
{
	LogregPassState *s;

	if (PG_ARGISNULL(argno))
		return NULL;
	s = (LogregPassState *) ecml_agg_writable_arg(fcinfo, argno);
	logreg_pass_check(s);
	return s;
}

/* transition: add one row to the pass's sums */
PG_FUNCTION_INFO_V1(logreg_pass_transfn);
Datum
logreg_pass_transfn(PG_FUNCTION_ARGS)
{
	LogregPassState *s = pass_state_arg(fcinfo, 0);
	bool		skip = PG_ARGISNULL(1) || PG_ARGISNULL(2);
	float	   *x = NULL;
	int			n = -1;
	bool		y = false;

	if (!skip)
	{
		x = ecml_array_float4(PG_GETARG_ARRAYTYPE_P(1), "feature vector", -1, &n, false);
		ecml_check_feature_count(n, LOGREG_MAX_FEATURES, PASS_TRAINER);
		y = PG_GETARG_BOOL(2);
	}
	/* the first call allocates in the per-row context; the executor copies it once */
	if (s == NULL)
	{
		if (PG_ARGISNULL(3))
			pass_corrupt("params: NULL");
		s = pass_state_from_params(PG_GETARG_ARRAYTYPE_P(3), n);
	}
	if (skip)
	{
		s->nskipped++;
		PG_RETURN_BYTEA_P(s);
	}
	if (s->f < 0)
		s = pass_state_grow(s, n);
	ecml_check_same_width(s->f, n, PASS_TRAINER);

	s->nrows++;
	s->npos += y;
	for (int j = 0; j < n; j++)
	{
		s->checksum += x[j];
		s->abs_sum += fabs(x[j]);
	}
	if (s->kind == LOGREG_PASS_STATS)
		pass_stats_row(s, x, y);
	else
		pass_grad_row(s, x, y);
	PG_RETURN_BYTEA_P(s);
}

/* Chan et al.'s merge of two sets of means and second moments. */
static void
pass_stats_merge(LogregPassState *a, const LogregPassState *b)
{
	double		na = (double) a->nrows;
	double		nb = (double) b->nrows;
	double		n = na + nb;
	double	   *ma = a->data;
	double	   *qa = a->data + a->f;
	const double *mb = b->data;
	const double *qb = b->data + b->f;

	for (int j = 0; j < a->f; j++)
	{
		double		delta = mb[j] - ma[j];

		ma[j] += delta * nb / n;
		qa[j] += qb[j] + delta * delta * na * nb / n;
	}
}

/* combine: add s2's sums into s1, in place */
PG_FUNCTION_INFO_V1(logreg_pass_combinefn);
Datum
logreg_pass_combinefn(PG_FUNCTION_ARGS)
{
	LogregPassState *s1 = pass_state_arg(fcinfo, 0);
	LogregPassState *s2 = PG_ARGISNULL(1) ? NULL : (LogregPassState *) PG_GETARG_BYTEA_P(1);

	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(s1);
	}
	logreg_pass_check(s2);
	if (s1 == NULL)
		PG_RETURN_BYTEA_P(PG_GETARG_BYTEA_P_COPY(1));
	if (s1->kind != s2->kind || s1->fit_intercept != s2->fit_intercept)
		pass_corrupt("state: partial states of different passes");
	if (s2->f >= 0 && s1->f < 0)
		s1 = pass_state_grow(s1, s2->f);
	if (s2->f >= 0)
	{
		Size		nd = pass_ndoubles(s1->kind, s1->f, s1->fit_intercept);
		int			p = pass_params_p(s1);

		ecml_check_same_width(s1->f, s2->f, PASS_TRAINER);
		if (s1->kind == LOGREG_PASS_STATS)
		{
			if (s2->nrows > 0)
				pass_stats_merge(s1, s2);
		}
		else
		{
			/* theta, mean and scale are the same params; add what follows */
			for (Size i = p + 2 * (Size) s1->f; i < nd; i++)
				s1->data[i] += s2->data[i];
		}
	}
	s1->nrows += s2->nrows;
	s1->npos += s2->npos;
	s1->nskipped += s2->nskipped;
	s1->checksum += s2->checksum;
	s1->abs_sum += s2->abs_sum;
	s1->sums.loss += s2->sums.loss;
	s1->sums.unweighted += s2->sums.unweighted;
	s1->sums.gsum += s2->sums.gsum;
	s1->sums.dsum += s2->sums.dsum;
	PG_RETURN_BYTEA_P(s1);
}

/* ---------------- the multi-pass trainer ---------------- */

/* What every pass must find again: the rows of pass 0. */
typedef struct LogregSqlPass
{
	EcmlTrainDriver *d;
	const double *mean;
	const double *scale;
	int64		nrows;
	int64		npos;
	int64		nskipped;
	double		checksum;
	double		abs_sum;
} LogregSqlPass;

static LogregPassState *
logreg_run_pass(EcmlTrainDriver *d, const char *what, ArrayType *params)
{
	bool		isnull;
	Datum		r;
	LogregPassState *s;

	r = ecml_train_pass(d, what, "ecml.logreg_pass(c1::real[], c2::boolean, $1)",
						FLOAT8ARRAYOID, PointerGetDatum(params), &isnull);
	if (isnull)
		return NULL;
	s = (LogregPassState *) DatumGetByteaP(r);
	logreg_pass_check(s);
	return s;
}

static void
logreg_check_same_source(const LogregSqlPass *sp, const LogregPassState *s)
{
	int64		nrows = s ? s->nrows : 0;
	int64		npos = s ? s->npos : 0;
	int64		nskipped = s ? s->nskipped : 0;
	double		checksum = s ? s->checksum : 0.0;

	if (nrows != sp->nrows || npos != sp->npos || nskipped != sp->nskipped ||
		fabs(checksum - sp->checksum) > 1e-9 * Max(sp->abs_sum, 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s: the source returned other rows in pass %d than in pass 1",
						PASS_TRAINER, sp->d->passes),
				 errdetail("Pass 1: " INT64_FORMAT " rows (" INT64_FORMAT " positive, " INT64_FORMAT
						   " skipped), feature sum %.17g; pass %d: " INT64_FORMAT " rows (" INT64_FORMAT
						   " positive, " INT64_FORMAT " skipped), feature sum %.17g.",
						   sp->nrows, sp->npos, sp->nskipped, sp->checksum, sp->d->passes,
						   nrows, npos, nskipped, checksum),
				 errhint("Every pass reads the caller's snapshot, so only a volatile source (random(), TABLESAMPLE without REPEATABLE, a volatile function) can change; make it deterministic.")));
}

/* The pass callback (logreg_fit.h): one aggregate query at theta. */
static void
logreg_sql_pass(LogregProblem *pb, const double *theta, double *grad, double *hess,
				LogregSums *sums)
{
	LogregSqlPass *sp = (LogregSqlPass *) pb->pass_arg;
	int			f = pb->f;
	int			p = pb->p;
	double	   *pv = palloc(sizeof(double) * (PARAM_HEAD + p + 2 * (Size) f));
	LogregPassState *s;
	const double *packed;

	pv[0] = hess ? LOGREG_PASS_HESS : LOGREG_PASS_GRAD;
	pv[1] = f;
	pv[2] = pb->fit_intercept ? 1 : 0;
	pv[3] = pb->w_neg;
	pv[4] = pb->w_pos;
	memcpy(pv + PARAM_HEAD, theta, sizeof(double) * p);
	memcpy(pv + PARAM_HEAD + p, sp->mean, sizeof(double) * f);
	memcpy(pv + PARAM_HEAD + p + f, sp->scale, sizeof(double) * f);
	s = logreg_run_pass(sp->d, hess ? "gradient and Hessian" : "gradient",
						ecml_float8_array(pv, PARAM_HEAD + p + 2 * f));
	logreg_check_same_source(sp, s);

	*sums = s->sums;
	memcpy(grad, s->data + p + 2 * f, sizeof(double) * f);
	if (hess == NULL)
		return;
	packed = s->data + p + 4 * (Size) f;
	for (int j = 0; j < f; j++)
	{
		memcpy(hess + (Size) j * p, packed, sizeof(double) * (j + 1));
		packed += j + 1;
	}
	if (pb->fit_intercept)
		memcpy(hess + (Size) f * p, packed, sizeof(double) * f);
}

/* Pass 0: counts, and the standardization (mean 0, scale 1 without it). */
static LogregPassState *
logreg_stats_pass(EcmlTrainDriver *d, const LogregOptions *o, double **mean,
				  double **scale)
{
	double		pv[PARAM_HEAD] = {LOGREG_PASS_STATS, -1, o->fit_intercept ? 1 : 0, 1, 1};
	LogregPassState *s = logreg_run_pass(d, "row counts and feature moments",
										 ecml_float8_array(pv, PARAM_HEAD));
	int			f = s && s->f > 0 ? s->f : 0;

	*mean = palloc0(sizeof(double) * Max(f, 1));
	*scale = palloc(sizeof(double) * Max(f, 1));
	for (int j = 0; j < f; j++)
	{
		double		sd = s->nrows > 0 ? sqrt(s->data[f + j] / (double) s->nrows) : 0.0;

		/* a constant feature keeps scale 1: centred, it is all zeros */
		(*scale)[j] = (o->standardize && sd > 0) ? sd : 1.0;
		if (o->standardize)
			(*mean)[j] = s->data[j];
	}
	return s;
}

static void
logreg_pass_metrics(StringInfo buf, void *arg)
{
	EcmlTrainDriver *d = (EcmlTrainDriver *) arg;

	appendStringInfo(buf, ", \"passes\": %d, \"pass_history\": [%s]", d->passes, d->history.data);
}

bytea *
logreg_train_passes(EcmlTrainDriver *d, Jsonb *options)
{
	LogregOptions o;
	LogregProblem pb;
	LogregSqlPass sp;
	LogregPassState *s;
	EcmlTrainMemory mem;
	double	   *mean;
	double	   *scale;

	logreg_parse_options(options, &o, PASS_TRAINER);
	s = logreg_stats_pass(d, &o, &mean, &scale);

	memset(&sp, 0, sizeof(sp));
	sp.d = d;
	sp.mean = mean;
	sp.scale = scale;
	if (s)
	{
		sp.nrows = s->nrows;
		sp.npos = s->npos;
		sp.nskipped = s->nskipped;
		sp.checksum = s->checksum;
		sp.abs_sum = s->abs_sum;
	}

	memset(&pb, 0, sizeof(pb));
	pb.trainer = PASS_TRAINER;
	pb.nrows = sp.nrows;
	pb.npos = sp.npos;
	logreg_problem_init(&pb, &o, s ? Max(s->f, 0) : 0, sp.nskipped);
	/* no rows are held: the solver and one pass state are all there is */
	ecml_train_memory_init(&mem, PASS_TRAINER, s ? VARSIZE(s) : 0);
	logreg_charge_solver(&mem, &o, pb.f);
	pb.pass = logreg_sql_pass;
	pb.pass_arg = &sp;
	return logreg_fit_model(&pb, &o, mean, scale, sp.nrows + sp.nskipped, sp.nskipped,
							logreg_pass_metrics, d);
}
