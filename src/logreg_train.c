/*
 * logreg_train.c
 *	  ecml.logreg_train(features real[], label boolean [, options jsonb]):
 *	  the aggregate that buffers rows and the optimizer that fits them.
 *
 * Objective, with standardized features x and weights w_i from class_weight:
 *
 *	 L(b, beta) = (1/W) sum_i w_i log(1 + exp(-s_i (b + beta.x_i)))
 *				  + (l2/2) |beta|^2 + l1 |beta|_1,	  s_i = +-1, W = sum_i w_i
 *
 * so l2 = 1 / (C * n) gives scikit-learn's LogisticRegression(C=C).  The
 * intercept is not penalized.  Newton's method (IRLS) with a backtracking
 * line search for small dimensions; L-BFGS (Nocedal 1980) otherwise, and
 * its orthant-wise variant OWL-QN (Andrew & Gao 2007) when l1 > 0.
 *
 * Rows live in float32 chunks, each row its features followed by its label,
 * so a chunk is a strided matrix BLIS can read in place.  Sums over rows are
 * taken per chunk in float32 (BLIS) and across chunks in float64.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "arrays.h"
#include "blas.h"
#include "ecml.h"
#include "labelrows.h"
#include "logreg.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define TRAINER "ecml.logreg_train"

#define LOGREG_FTOL 1e-13		/* relative decrease below which we stop */
#define BLOCK_BYTES (256 * 1024)	/* a pass block: fits in L2 */
#define LBFGS_M 10				/* L-BFGS curvature pairs kept */

/*
 * Flops of one Hessian block product between interrupt checks: about a
 * tenth of a second.  At tens of thousands of features a single syrk over
 * a pass block would otherwise run for seconds without one.
 */
#define HESS_PANEL_FLOPS ((Size) 1 << 27)

static const char *const solver_choices[] = {"auto", "newton", "lbfgs", NULL};
static const char *const class_weight_choices[] = {"balanced", NULL};

static const EcmlOptionSpec logreg_option_specs[] = {
	{"l2", ECML_OPT_REAL, offsetof(LogregOptions, l2), LOGREG_L2_MIN, LOGREG_L2_MAX},
	{"l1", ECML_OPT_REAL, offsetof(LogregOptions, l1), 0.0, 1e6},
	{"fit_intercept", ECML_OPT_BOOL, offsetof(LogregOptions, fit_intercept)},
	{"standardize", ECML_OPT_BOOL, offsetof(LogregOptions, standardize)},
	{"class_weight", ECML_OPT_REAL_OR_CHOICE, offsetof(LogregOptions, class_weight),
	0.0, 1e6, true, class_weight_choices},
	{"max_iter", ECML_OPT_INT, offsetof(LogregOptions, max_iter),
	LOGREG_MAX_ITER_MIN, LOGREG_MAX_ITER_MAX},
	{"tol", ECML_OPT_REAL, offsetof(LogregOptions, tol), LOGREG_TOL_MIN, LOGREG_TOL_MAX},
	{"solver", ECML_OPT_CHOICE, offsetof(LogregOptions, solver), 0, 0, false, solver_choices},
	{"feature_names", ECML_OPT_TEXT_ARRAY, offsetof(LogregOptions, feature_names)},
};

#define N_LOGREG_OPTIONS lengthof(logreg_option_specs)

static void
logreg_parse_options(Jsonb *opts, LogregOptions *o)
{
	o->l2 = LOGREG_L2_DEFAULT;
	o->l1 = LOGREG_L1_DEFAULT;
	o->fit_intercept = true;
	o->standardize = true;
	o->class_weight.choice = -1;
	o->class_weight.value = 1.0;
	o->max_iter = LOGREG_MAX_ITER_DEFAULT;
	o->tol = LOGREG_TOL_DEFAULT;
	o->solver = LOGREG_SOLVER_AUTO;
	o->feature_names.n = 0;
	o->feature_names.items = NULL;
	ecml_parse_options(opts, logreg_option_specs, N_LOGREG_OPTIONS, o, TRAINER);
}

/* transition: buffer one row; NULL rows are counted and skipped */
PG_FUNCTION_INFO_V1(logreg_train_transfn);
Datum
logreg_train_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	LabelRows  *st;
	ArrayType  *arr;
	float	   *x;
	float	   *slot;
	int			n;
	bool		label;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "logreg_train_transfn called in non-aggregate context");

	st = PG_ARGISNULL(0) ? NULL : (LabelRows *) PG_GETARG_POINTER(0);
	if (st == NULL)
	{
		st = labelrows_new(aggcxt, LOGREG_MAX_FEATURES, PG_INT64_MAX);
		st->options = ecml_options_arg(fcinfo, 3, aggcxt);
		/* parse now so a bad option fails before the scan, not after */
		if (st->options != NULL)
		{
			LogregOptions o;

			logreg_parse_options(st->options, &o);
		}
	}

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		st->nskipped++;
		PG_RETURN_POINTER(st);
	}

	arr = PG_GETARG_ARRAYTYPE_P(1);
	label = PG_GETARG_BOOL(2);
	x = ecml_array_float4(arr, "feature vector", -1, &n, false);
	slot = labelrows_append(st, n, label, aggcxt, TRAINER);
	memcpy(slot, x, sizeof(float) * n);

	PG_RETURN_POINTER(st);
}

/* combine: move state2's chunks into state1 (both live in the aggregate context) */
PG_FUNCTION_INFO_V1(logreg_train_combinefn);
Datum
logreg_train_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	LabelRows  *s1 = PG_ARGISNULL(0) ? NULL : (LabelRows *) PG_GETARG_POINTER(0);
	LabelRows  *s2 = PG_ARGISNULL(1) ? NULL : (LabelRows *) PG_GETARG_POINTER(1);

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "logreg_train_combinefn called in non-aggregate context");
	if (s2 == NULL)
		PG_RETURN_POINTER(s1);
	if (s1 == NULL)
		PG_RETURN_POINTER(s2);

	labelrows_combine(s1, s2, aggcxt, TRAINER);
	PG_RETURN_POINTER(s1);
}

PG_FUNCTION_INFO_V1(logreg_train_serialfn);
Datum
logreg_train_serialfn(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(labelrows_serialize((LabelRows *) PG_GETARG_POINTER(0), TRAINER));
}

PG_FUNCTION_INFO_V1(logreg_train_deserialfn);
Datum
logreg_train_deserialfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "logreg_train_deserialfn called in non-aggregate context");
	PG_RETURN_POINTER(labelrows_deserialize(PG_GETARG_BYTEA_PP(0), aggcxt, LOGREG_MAX_FEATURES,
											PG_INT64_MAX, "logreg_train", TRAINER));
}

/* ---------------- the optimizer ---------------- */

typedef struct LogregProblem
{
	LabelRows  *st;
	int			f;				/* features */
	int			p;				/* parameters: f weights, then the intercept */
	int			stride;			/* floats per buffered row */
	int			block_rows;		/* rows per pass block (scratch size) */
	bool		fit_intercept;
	double		l2;
	double		l1;
	double		w_neg;			/* per-row weight of a negative row */
	double		w_pos;
	double		wsum;			/* W */
	/* scratch sized for the largest chunk */
	float	   *wf;
	float	   *z;
	float	   *g;
	float	   *d;
	float	   *xs;
	float	   *gtmp;
	float	   *hblock;
	double		logloss;		/* unweighted mean log loss of the last pass */
} LogregProblem;

/*
 * hblock (f,f) lower triangle = xs^T xs for xs (r,f).  One syrk when it is
 * short; else panels of hblock's rows, each one sgemm, with an interrupt
 * check between them (rows j0..j1 of the triangle = xs[:, j0:j1]^T xs[:, :j1]).
 */
static void
logreg_hessian_block(const float *xs, int r, int f, float *hblock)
{
	Size		panel = Max((Size) 64, HESS_PANEL_FLOPS / Max((Size) f * r, 1));

	if (panel >= (Size) f)
	{
		ecml_ssyrk_t(f, r, 1.0f, xs, f, 0.0f, hblock, f);
		return;
	}
	for (int j0 = 0; j0 < f; j0 += (int) panel)
	{
		int			j1 = (int) Min((Size) f, j0 + panel);

		CHECK_FOR_INTERRUPTS();
		ecml_sgemm(true, false, j1 - j0, j1, r, 1.0f, xs + j0, f, xs, f,
				   0.0f, hblock + (Size) j0 * f, f);
	}
}

/*
 * One pass over the rows at theta: returns the smooth objective (L without
 * the l1 term) and fills grad (p) and, if hess is not NULL, the lower
 * triangle of the Hessian (p,p), both of the smooth objective.  Matrix
 * offsets are Size: p * p passes INT_MAX from 46,341 parameters.
 */
static double
logreg_pass(LogregProblem *pb, const double *theta, double *grad, double *hess)
{
	int			f = pb->f;
	int			p = pb->p;
	double		b = pb->fit_intercept ? theta[f] : 0.0;
	double		loss = 0.0;
	double		unweighted = 0.0;
	double		gsum = 0.0;
	double		dsum = 0.0;

	memset(grad, 0, sizeof(double) * p);
	if (hess)
		memset(hess, 0, sizeof(double) * (Size) p * p);
	for (int j = 0; j < f; j++)
		pb->wf[j] = (float) theta[j];

	ecml_blas_prepare();
	/*
	 * Blocks of at most block_rows rows, so that X, z, g and d stay in cache
	 * between the sgemv, the loop and the transposed sgemv.  A chunk can be
	 * large: a parallel worker's whole share arrives as one.
	 */
	for (int c = 0; c < pb->st->rows.nchunks; c++)
	{
		RowbufChunk *ch = &pb->st->rows.chunks[c];

		for (int start = 0; start < ch->nrows; start += pb->block_rows)
		{
			int			r = Min(pb->block_rows, ch->nrows - start);
			const float *X = (const float *) ch->data + (Size) start * pb->stride;

			CHECK_FOR_INTERRUPTS();

			/* z (r) = X (r,f) . w (f) */
			ecml_sgemv(r, f, 1.0f, X, pb->stride, pb->wf, 0.0f, pb->z);
			for (int i = 0; i < r; i++)
			{
				double		zi = (double) pb->z[i] + b;
				bool		y = X[(Size) i * pb->stride + f] > 0.5f;
				double		wt = y ? pb->w_pos : pb->w_neg;
				/* one exp serves both: e = exp(-|z|) */
				double		e = exp(-fabs(zi));
				double		l = log1p(e) + Max(y ? -zi : zi, 0.0);
				double		prob = zi >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);

				loss += wt * l;
				unweighted += l;
				pb->g[i] = (float) (wt * (prob - (y ? 1.0 : 0.0)));
				gsum += pb->g[i];
				if (hess)
				{
					double		di = wt * prob * (1.0 - prob);

					pb->d[i] = (float) di;
					dsum += di;
				}
			}

			/* grad_w += X^T (f,r) . g (r) */
			ecml_sgemv_t(r, f, 1.0f, X, pb->stride, pb->g, 0.0f, pb->gtmp);
			for (int j = 0; j < f; j++)
				grad[j] += pb->gtmp[j];

			if (hess)
			{
				/* H_ww += (D^1/2 X)^T (D^1/2 X); H_bw += X^T d */
				for (int i = 0; i < r; i++)
				{
					float		sq = sqrtf(pb->d[i]);
					const float *xi = X + (Size) i * pb->stride;
					float	   *out = pb->xs + (Size) i * f;

					for (int j = 0; j < f; j++)
						out[j] = sq * xi[j];
				}
				logreg_hessian_block(pb->xs, r, f, pb->hblock);
				for (int j = 0; j < f; j++)
				{
					double	   *hrow = hess + (Size) j * p;
					const float *brow = pb->hblock + (Size) j * f;

					if ((j & 255) == 0)
						CHECK_FOR_INTERRUPTS();
					for (int k = 0; k <= j; k++)
						hrow[k] += brow[k];
				}
				if (pb->fit_intercept)
				{
					ecml_sgemv_t(r, f, 1.0f, X, pb->stride, pb->d, 0.0f, pb->gtmp);
					for (int j = 0; j < f; j++)
						hess[(Size) f * p + j] += pb->gtmp[j];
				}
			}
		}
	}

	/* means over the weights, then the ridge on the feature weights */
	loss /= pb->wsum;
	pb->logloss = unweighted / (double) pb->st->rows.nrows;
	for (int j = 0; j < f; j++)
	{
		grad[j] = grad[j] / pb->wsum + pb->l2 * theta[j];
		loss += 0.5 * pb->l2 * theta[j] * theta[j];
	}
	if (pb->fit_intercept)
		grad[f] = gsum / pb->wsum;
	if (hess)
	{
		for (int j = 0; j < p; j++)
		{
			double	   *hrow = hess + (Size) j * p;

			if ((j & 255) == 0)
				CHECK_FOR_INTERRUPTS();
			for (int k = 0; k <= j; k++)
				hrow[k] /= pb->wsum;
		}
		if (pb->fit_intercept)
			hess[(Size) f * p + f] = dsum / pb->wsum;
		for (int j = 0; j < f; j++)
			hess[(Size) j * p + j] += pb->l2;
	}
	return loss;
}

/*
 * In-place Cholesky of the lower triangle of A (n,n); false if not positive
 * definite.  O(n^3/3): minutes at tens of thousands of parameters, so an
 * interrupt check per column (each column is at most n^2 flops).
 */
static bool
cholesky(double *A, int n)
{
	for (int j = 0; j < n; j++)
	{
		double	   *aj = A + (Size) j * n;
		double		s = aj[j];

		CHECK_FOR_INTERRUPTS();
		for (int k = 0; k < j; k++)
			s -= aj[k] * aj[k];
		if (!(s > 0.0) || !isfinite(s))
			return false;
		aj[j] = sqrt(s);
		for (int i = j + 1; i < n; i++)
		{
			double	   *ai = A + (Size) i * n;
			double		t = ai[j];

			for (int k = 0; k < j; k++)
				t -= ai[k] * aj[k];
			ai[j] = t / aj[j];
		}
	}
	return true;
}

/* Solve L L^T x = b in place (b becomes x) with L from cholesky(). */
static void
cholesky_solve(const double *L, int n, double *b)
{
	for (int i = 0; i < n; i++)
	{
		const double *li = L + (Size) i * n;
		double		s = b[i];

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int k = 0; k < i; k++)
			s -= li[k] * b[k];
		b[i] = s / li[i];
	}
	for (int i = n - 1; i >= 0; i--)
	{
		double		s = b[i];

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int k = i + 1; k < n; k++)
			s -= L[(Size) k * n + i] * b[k];
		b[i] = s / L[(Size) i * n + i];
	}
}

typedef struct LogregFit
{
	int			iterations;
	bool		converged;
	double		loss;			/* final objective, l1 included */
	double		grad_norm;		/* max-norm of the (pseudo-)gradient */
	StringInfoData history;		/* JSON array of the objective per iteration */
} LogregFit;

static void
report_progress(const char *solver, int iter, int max_iter, double loss,
				double gnorm, TimestampTz start)
{
	double		elapsed = ecml_elapsed_seconds(start);

	if (!ecml_progress)
		return;
	ereport(NOTICE,
			(errmsg("%s (%s): iteration %d, loss %.6g, gradient %.3g, %.2f s elapsed, at most %.1f s left",
					TRAINER, solver, iter, loss, gnorm, elapsed,
					elapsed / Max(iter, 1) * (max_iter - iter))));
}

static double
max_abs(const double *v, int n)
{
	double		m = 0.0;

	for (int i = 0; i < n; i++)
		m = Max(m, fabs(v[i]));
	return m;
}

/*
 * Newton/IRLS with backtracking.  *hessp holds the Hessian at the final
 * theta (the buffer may change: the accepted trial Hessian is swapped in);
 * hnew and L are (p,p) scratch charged by the caller.
 */
static void
logreg_newton(LogregProblem *pb, const LogregOptions *o, double *theta,
			  double **hessp, double *hnew, double *L, LogregFit *fit,
			  TimestampTz start)
{
	int			p = pb->p;
	Size		pp = (Size) p * p;
	double	   *hess = *hessp;
	double	   *grad = palloc(sizeof(double) * p);
	double	   *gnew = palloc(sizeof(double) * p);
	double	   *step = palloc(sizeof(double) * p);
	double	   *tnew = palloc(sizeof(double) * p);
	double		loss = logreg_pass(pb, theta, grad, hess);

	fit->converged = false;
	for (fit->iterations = 0; fit->iterations < o->max_iter;)
	{
		double		gnorm = max_abs(grad, p);
		double		slope;
		double		alpha = 1.0;
		double		damping = 0.0;
		double		newloss = loss;

		if (gnorm <= o->tol)
		{
			fit->converged = true;
			break;
		}

		/* solve H step = -grad; damp a singular H (collinear features, l2 = 0) */
		for (;;)
		{
			memcpy(L, hess, sizeof(double) * pp);
			for (int j = 0; j < p; j++)
				L[(Size) j * p + j] += damping;
			if (cholesky(L, p))
				break;
			damping = damping == 0.0 ? 1e-10 : damping * 10.0;
			if (damping > 1e6)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("%s: the Hessian is not positive definite", TRAINER),
						 errhint("Check the features for infinite-like values, or add an l2 penalty.")));
		}
		for (int j = 0; j < p; j++)
			step[j] = -grad[j];
		cholesky_solve(L, p, step);
		slope = 0.0;
		for (int j = 0; j < p; j++)
			slope += grad[j] * step[j];

		/* backtracking line search (Armijo); the new Hessian comes with it */
		for (;;)
		{
			for (int j = 0; j < p; j++)
				tnew[j] = theta[j] + alpha * step[j];
			newloss = logreg_pass(pb, tnew, gnew, hnew);
			if (newloss <= loss + 1e-4 * alpha * slope || alpha < 1e-10)
				break;
			alpha *= 0.5;
		}
		fit->iterations++;
		if (!(newloss <= loss))
		{
			/* no decrease in float64: we are at the precision floor */
			fit->converged = gnorm <= Max(o->tol, 1e-4);
			break;
		}
		memcpy(theta, tnew, sizeof(double) * p);
		memcpy(grad, gnew, sizeof(double) * p);
		{
			double	   *tmp = hess;

			hess = hnew;
			hnew = tmp;
		}
		appendStringInfo(&fit->history, "%s%.10g", fit->iterations > 1 ? ", " : "", newloss);
		report_progress("newton", fit->iterations, o->max_iter, newloss, max_abs(grad, p), start);
		if (loss - newloss <= LOGREG_FTOL * Max(1.0, fabs(loss)))
		{
			/* no relative decrease left: the float32 noise floor */
			loss = newloss;
			fit->converged = max_abs(grad, p) <= Max(o->tol, 1e-4);
			break;
		}
		loss = newloss;
	}
	*hessp = hess;
	fit->loss = loss;
	fit->grad_norm = max_abs(grad, p);
	if (fit->grad_norm <= o->tol)
		fit->converged = true;
}

/* OWL-QN pseudo-gradient (Andrew & Gao 2007, eq. 4); plain gradient when l1 = 0. */
static void
pseudo_gradient(const LogregProblem *pb, const double *theta, const double *grad,
				double *pg)
{
	for (int j = 0; j < pb->p; j++)
	{
		double		l1 = j < pb->f ? pb->l1 : 0.0;

		if (l1 == 0.0)
			pg[j] = grad[j];
		else if (theta[j] > 0)
			pg[j] = grad[j] + l1;
		else if (theta[j] < 0)
			pg[j] = grad[j] - l1;
		else if (grad[j] + l1 < 0)
			pg[j] = grad[j] + l1;
		else if (grad[j] - l1 > 0)
			pg[j] = grad[j] - l1;
		else
			pg[j] = 0.0;
	}
}

static double
l1_term(const LogregProblem *pb, const double *theta)
{
	double		s = 0.0;

	if (pb->l1 == 0.0)
		return 0.0;
	for (int j = 0; j < pb->f; j++)
		s += fabs(theta[j]);
	return pb->l1 * s;
}

/* L-BFGS, orthant-wise when l1 > 0 (OWL-QN).  S and Y: (LBFGS_M,p) history. */
static void
logreg_lbfgs(LogregProblem *pb, const LogregOptions *o, double *theta,
			 double *S, double *Y, LogregFit *fit, TimestampTz start)
{
	int			p = pb->p;
	double		rho[LBFGS_M];
	double		alpha_hist[LBFGS_M];
	int			mem = 0;
	int			head = 0;
	double	   *grad = palloc(sizeof(double) * p);
	double	   *gnew = palloc(sizeof(double) * p);
	double	   *pg = palloc(sizeof(double) * p);
	double	   *dir = palloc(sizeof(double) * p);
	double	   *tnew = palloc(sizeof(double) * p);
	double		loss = logreg_pass(pb, theta, grad, NULL) + l1_term(pb, theta);
	const char *name = pb->l1 > 0 ? "owlqn" : "lbfgs";

	fit->converged = false;
	for (fit->iterations = 0; fit->iterations < o->max_iter;)
	{
		double		gnorm;
		double		alpha;
		double		newloss = loss;
		double		slope;
		bool		accepted = false;

		pseudo_gradient(pb, theta, grad, pg);
		gnorm = max_abs(pg, p);
		if (gnorm <= o->tol)
		{
			fit->converged = true;
			break;
		}

		/* two-loop recursion: dir = -H pg */
		for (int j = 0; j < p; j++)
			dir[j] = -pg[j];
		for (int k = 0; k < mem; k++)
		{
			int			i = (head - 1 - k + LBFGS_M) % LBFGS_M;
			double		a = 0.0;

			for (int j = 0; j < p; j++)
				a += S[i * p + j] * dir[j];
			a *= rho[i];
			alpha_hist[i] = a;
			for (int j = 0; j < p; j++)
				dir[j] -= a * Y[i * p + j];
		}
		if (mem > 0)
		{
			int			i = (head - 1 + LBFGS_M) % LBFGS_M;
			double		sy = 0.0,
						yy = 0.0;

			for (int j = 0; j < p; j++)
			{
				sy += S[i * p + j] * Y[i * p + j];
				yy += Y[i * p + j] * Y[i * p + j];
			}
			for (int j = 0; j < p; j++)
				dir[j] *= sy / yy;
		}
		for (int k = mem - 1; k >= 0; k--)
		{
			int			i = (head - 1 - k + LBFGS_M) % LBFGS_M;
			double		bcoef = 0.0;

			for (int j = 0; j < p; j++)
				bcoef += Y[i * p + j] * dir[j];
			bcoef *= rho[i];
			for (int j = 0; j < p; j++)
				dir[j] += S[i * p + j] * (alpha_hist[i] - bcoef);
		}
		/* OWL-QN: keep only the components that agree with -pg */
		if (pb->l1 > 0)
			for (int j = 0; j < pb->f; j++)
				if (dir[j] * pg[j] >= 0)
					dir[j] = 0.0;
		slope = 0.0;
		for (int j = 0; j < p; j++)
			slope += pg[j] * dir[j];
		if (!(slope < 0))
		{
			/* not a descent direction: forget the curvature pairs */
			mem = 0;
			for (int j = 0; j < p; j++)
				dir[j] = -pg[j];
			slope = 0.0;
			for (int j = 0; j < p; j++)
				slope += pg[j] * dir[j];
		}

		alpha = (mem == 0) ? Min(1.0, 1.0 / sqrt(-slope)) : 1.0;
		for (int tries = 0; tries < 50; tries++)
		{
			double		decrease = 0.0;

			for (int j = 0; j < p; j++)
			{
				tnew[j] = theta[j] + alpha * dir[j];
				/* project onto the orthant of theta (or of -pg at zero) */
				if (pb->l1 > 0 && j < pb->f)
				{
					double		orth = theta[j] != 0 ? theta[j] : -pg[j];

					if (tnew[j] * orth <= 0)
						tnew[j] = 0.0;
				}
				decrease += pg[j] * (tnew[j] - theta[j]);
			}
			newloss = logreg_pass(pb, tnew, gnew, NULL) + l1_term(pb, tnew);
			if (newloss <= loss + 1e-4 * decrease)
			{
				accepted = true;
				break;
			}
			alpha *= 0.5;
		}
		fit->iterations++;
		if (!accepted || loss - newloss <= LOGREG_FTOL * Max(1.0, fabs(loss)))
		{
			/*
			 * No relative decrease left: the gradient is at the noise floor of
			 * float32 rows (Byrd et al. 1995's factr test, as in L-BFGS-B).
			 */
			fit->converged = gnorm <= Max(o->tol, 1e-4);
			if (accepted)
			{
				memcpy(theta, tnew, sizeof(double) * p);
				memcpy(grad, gnew, sizeof(double) * p);
				loss = newloss;
			}
			break;
		}

		/* new curvature pair from the smooth gradient */
		{
			double		sy = 0.0;

			for (int j = 0; j < p; j++)
			{
				S[head * p + j] = tnew[j] - theta[j];
				Y[head * p + j] = gnew[j] - grad[j];
				sy += S[head * p + j] * Y[head * p + j];
			}
			if (sy > 1e-16)
			{
				rho[head] = 1.0 / sy;
				head = (head + 1) % LBFGS_M;
				mem = Min(mem + 1, LBFGS_M);
			}
		}
		memcpy(theta, tnew, sizeof(double) * p);
		memcpy(grad, gnew, sizeof(double) * p);
		loss = newloss;
		appendStringInfo(&fit->history, "%s%.10g", fit->iterations > 1 ? ", " : "", loss);
		report_progress(name, fit->iterations, o->max_iter, loss, gnorm, start);
	}
	pseudo_gradient(pb, theta, grad, pg);
	fit->loss = loss;
	fit->grad_norm = max_abs(pg, p);
	if (fit->grad_norm <= o->tol)
		fit->converged = true;
}

/* Means and scales of the features; standardizes the buffer in place. */
static void
logreg_standardize(LabelRows *st, bool standardize, double *mean, double *scale)
{
	int			f = st->nfeatures;
	int			stride = f + 1;
	double	   *ss = palloc0(sizeof(double) * f);

	memset(mean, 0, sizeof(double) * f);
	for (int j = 0; j < f; j++)
		scale[j] = 1.0;
	if (!standardize)
		return;

	/* two passes: the mean, then squared deviations (stable for large offsets) */
	for (int c = 0; c < st->rows.nchunks; c++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < st->rows.chunks[c].nrows; i++)
		{
			const float *x = (const float *) st->rows.chunks[c].data + (Size) i * stride;

			for (int j = 0; j < f; j++)
				mean[j] += x[j];
		}
	}
	for (int j = 0; j < f; j++)
		mean[j] /= (double) st->rows.nrows;
	for (int c = 0; c < st->rows.nchunks; c++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < st->rows.chunks[c].nrows; i++)
		{
			const float *x = (const float *) st->rows.chunks[c].data + (Size) i * stride;

			for (int j = 0; j < f; j++)
			{
				double		dev = x[j] - mean[j];

				ss[j] += dev * dev;
			}
		}
	}
	for (int j = 0; j < f; j++)
	{
		double		sd = sqrt(ss[j] / (double) st->rows.nrows);

		/* a constant feature keeps scale 1: centred, it is all zeros */
		scale[j] = sd > 0 ? sd : 1.0;
	}
	for (int c = 0; c < st->rows.nchunks; c++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < st->rows.chunks[c].nrows; i++)
		{
			float	   *x = (float *) st->rows.chunks[c].data + (Size) i * stride;

			for (int j = 0; j < f; j++)
				x[j] = (float) ((x[j] - mean[j]) / scale[j]);
		}
	}
}

/*
 * Standard errors in original units from the Hessian of the summed
 * (not averaged) penalized objective: Cov = (W H)^-1 in standardized
 * coordinates, mapped through beta_j = beta~_j / s_j and
 * b = b~ - sum_j beta~_j m_j / s_j.  NaN where H is singular.
 */
static void
logreg_stderrs(const LogregProblem *pb, const double *hess, double *L,
			   const double *mean, const double *scale, double *se)
{
	int			f = pb->f;
	int			p = pb->p;
	double	   *col = palloc(sizeof(double) * p);
	double	   *a = palloc(sizeof(double) * p);

	for (int j = 0; j <= f; j++)
		se[j] = get_float8_nan();
	for (int j = 0; j < p; j++)
	{
		if ((j & 255) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int k = 0; k <= j; k++)
			L[(Size) j * p + k] = hess[(Size) j * p + k] * pb->wsum;
	}
	if (!cholesky(L, p))
		return;

	/* var(beta_j) = Cov_jj / s_j^2: one solve per diagonal entry */
	for (int j = 0; j < f; j++)
	{
		CHECK_FOR_INTERRUPTS();
		memset(col, 0, sizeof(double) * p);
		col[j] = 1.0;
		cholesky_solve(L, p, col);
		se[j + 1] = sqrt(col[j]) / scale[j];
	}
	if (pb->fit_intercept)
	{
		double		v = 0.0;

		for (int j = 0; j < f; j++)
			a[j] = -mean[j] / scale[j];
		a[f] = 1.0;
		memcpy(col, a, sizeof(double) * p);
		cholesky_solve(L, p, col);
		for (int j = 0; j < p; j++)
			v += a[j] * col[j];
		se[0] = sqrt(v);
	}
}

/*
 * Charge the solver's whole working set to the training's account before
 * anything is allocated, so that a solver that cannot fit is refused at
 * once, naming its largest buffers.  Newton holds three (p,p) float8
 * matrices (the Hessian, the trial point's Hessian and the Cholesky
 * factor), 24 p^2 bytes: 60 GB at 50,000 features.  Every count here is at
 * most LOGREG_MAX_FEATURES + 1, so the products fit a 64-bit Size.
 */
static void
logreg_charge_memory(EcmlTrainMemory *mem, int solver, bool want_hess, int f, int p,
					 int maxrows)
{
	Size		pp = (Size) p * p;
	Size		vectors = sizeof(double) * (Size) p * 16 +
		sizeof(float) * ((Size) 2 * f + (Size) 3 * maxrows);

	ecml_train_memory_charge(mem, vectors, "parameter vectors");
	if (solver == LOGREG_SOLVER_NEWTON)
		ecml_train_memory_charge(mem, sizeof(double) * pp * 3 +
								 sizeof(float) * ((Size) f * f + (Size) maxrows * f),
								 psprintf("Newton solver's Hessian, trial Hessian and Cholesky factor (3 x %d x %d float8)",
										  p, p));
	else
	{
		ecml_train_memory_charge(mem, sizeof(double) * LBFGS_M * 2 * (Size) p,
								 psprintf("L-BFGS history (2 x %d x %d float8)", LBFGS_M, p));
		if (want_hess)
			ecml_train_memory_charge(mem, sizeof(double) * pp * 2 +
									 sizeof(float) * ((Size) f * f + (Size) maxrows * f),
									 psprintf("standard errors' Hessian and Cholesky factor (2 x %d x %d float8)",
											  p, p));
	}
}

/* final: fit the buffered rows and return the model */
PG_FUNCTION_INFO_V1(logreg_train_finalfn);
Datum
logreg_train_finalfn(PG_FUNCTION_ARGS)
{
	LabelRows  *st = PG_ARGISNULL(0) ? NULL : (LabelRows *) PG_GETARG_POINTER(0);
	LogregOptions o;
	LogregProblem pb;
	LogregFit	fit;
	TimestampTz start = GetCurrentTimestamp();
	double	   *mean;
	double	   *scale;
	double	   *theta;
	double	   *coef;
	double	   *se;
	double	   *hess = NULL;
	double	   *hnew = NULL;
	double	   *L = NULL;
	double	   *S = NULL;
	double	   *Y = NULL;
	int			solver;
	int			maxrows = 0;
	int			f;
	bool		want_hess;
	EcmlTrainMemory mem;
	EcmlModelBuilder b;
	StringInfoData json;
	int32		flags;

	if (st == NULL || st->rows.nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no training rows", TRAINER),
				 errdetail("Rows seen: " INT64_FORMAT ", skipped for NULL features or label: " INT64_FORMAT ".",
						   st ? st->rows.nrows + st->nskipped : 0, st ? st->nskipped : 0),
				 errhint("Check the query's WHERE clause and the NULLs in the features and label columns.")));
	if (st->npos == 0 || st->npos == st->rows.nrows)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: every label is %s; logistic regression needs both classes",
						TRAINER, st->npos == 0 ? "false" : "true"),
				 errhint("Train on rows that include both outcomes.")));

	logreg_parse_options(st->options, &o);
	f = st->nfeatures;
	if (o.feature_names.n > 0 && o.feature_names.n != f)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s option \"feature_names\" has %d names, the feature vectors have %d elements",
						TRAINER, o.feature_names.n, f)));
	solver = o.solver;
	if (solver == LOGREG_SOLVER_NEWTON && o.l1 > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s option \"solver\" \"newton\" does not support \"l1\"", TRAINER),
				 errhint("Use \"solver\": \"lbfgs\" (or \"auto\"), which handles l1 with OWL-QN.")));
	if (solver == LOGREG_SOLVER_AUTO)
		solver = (o.l1 == 0 && f + 1 <= LOGREG_NEWTON_MAX_FEATURES) ?
			LOGREG_SOLVER_NEWTON : LOGREG_SOLVER_LBFGS;

	memset(&pb, 0, sizeof(pb));
	pb.st = st;
	pb.f = f;
	pb.fit_intercept = o.fit_intercept;
	pb.p = f + (o.fit_intercept ? 1 : 0);
	pb.stride = f + 1;
	for (int c = 0; c < st->rows.nchunks; c++)
		maxrows = Max(maxrows, st->rows.chunks[c].nrows);
	pb.block_rows = Max(16, (int) (BLOCK_BYTES / (sizeof(float) * pb.stride)));
	maxrows = Min(maxrows, pb.block_rows);
	want_hess = solver == LOGREG_SOLVER_NEWTON ||
		(o.l1 == 0 && pb.p <= LOGREG_STDERR_MAX_FEATURES);

	/* the whole working set is refused or charged before anything is allocated */
	ecml_train_memory_init(&mem, TRAINER, st->rows.bytes);
	logreg_charge_memory(&mem, solver, want_hess, f, pb.p, maxrows);

	mean = palloc(sizeof(double) * f);
	scale = palloc(sizeof(double) * f);
	logreg_standardize(st, o.standardize, mean, scale);

	pb.l2 = o.l2;
	pb.l1 = o.l1;
	pb.w_neg = 1.0;
	pb.w_pos = 1.0;
	if (o.class_weight.choice == 0)
	{
		/* "balanced": n / (2 n_class), as scikit-learn */
		pb.w_pos = (double) st->rows.nrows / (2.0 * st->npos);
		pb.w_neg = (double) st->rows.nrows / (2.0 * (st->rows.nrows - st->npos));
	}
	else
		pb.w_pos = o.class_weight.value;
	pb.wsum = pb.w_pos * st->npos + pb.w_neg * (st->rows.nrows - st->npos);
	pb.wf = palloc(sizeof(float) * f);
	pb.gtmp = palloc(sizeof(float) * f);
	pb.z = palloc_extended(sizeof(float) * maxrows, MCXT_ALLOC_HUGE);
	pb.g = palloc_extended(sizeof(float) * maxrows, MCXT_ALLOC_HUGE);
	pb.d = palloc_extended(sizeof(float) * maxrows, MCXT_ALLOC_HUGE);

	theta = palloc0(sizeof(double) * pb.p);
	/* start the intercept at the log-odds of the (weighted) base rate */
	if (o.fit_intercept)
		theta[f] = log((pb.w_pos * st->npos) / (pb.w_neg * (st->rows.nrows - st->npos)));

	initStringInfo(&fit.history);
	if (want_hess)
	{
		/* row-scaled copy of a pass block and a float32 (f,f) block for syrk */
		pb.xs = palloc_extended(sizeof(float) * (Size) maxrows * f, MCXT_ALLOC_HUGE);
		pb.hblock = palloc_extended(sizeof(float) * (Size) f * f, MCXT_ALLOC_HUGE);
		hess = palloc_extended(sizeof(double) * (Size) pb.p * pb.p, MCXT_ALLOC_HUGE);
		L = palloc_extended(sizeof(double) * (Size) pb.p * pb.p, MCXT_ALLOC_HUGE);
	}
	if (solver == LOGREG_SOLVER_NEWTON)
	{
		hnew = palloc_extended(sizeof(double) * (Size) pb.p * pb.p, MCXT_ALLOC_HUGE);
		logreg_newton(&pb, &o, theta, &hess, hnew, L, &fit, start);
	}
	else
	{
		S = palloc_extended(sizeof(double) * LBFGS_M * (Size) pb.p, MCXT_ALLOC_HUGE);
		Y = palloc_extended(sizeof(double) * LBFGS_M * (Size) pb.p, MCXT_ALLOC_HUGE);
		logreg_lbfgs(&pb, &o, theta, S, Y, &fit, start);
		if (hess)
		{
			double	   *g = palloc(sizeof(double) * pb.p);

			logreg_pass(&pb, theta, g, hess);
		}
	}

	/* coefficients: intercept first, standardized units; SEs in original units */
	coef = palloc0(sizeof(double) * (f + 1));
	coef[0] = o.fit_intercept ? theta[f] : 0.0;
	memcpy(coef + 1, theta, sizeof(double) * f);
	se = palloc(sizeof(double) * (f + 1));
	for (int j = 0; j <= f; j++)
		se[j] = get_float8_nan();
	/*
	 * p solves of O(p^2) each: beyond LOGREG_STDERR_MAX_FEATURES (as README
	 * says) no covariance is formed, whichever solver ran.
	 */
	if (hess && o.l1 == 0 && pb.p <= LOGREG_STDERR_MAX_FEATURES)
		logreg_stderrs(&pb, hess, L, mean, scale, se);
	if (!o.fit_intercept)
		se[0] = get_float8_nan();

	ecml_builder_init(&b, ECML_KIND_LOGREG);

	initStringInfo(&json);
	ecml_options_to_json(&json, logreg_option_specs, N_LOGREG_OPTIONS, &o);
	ecml_builder_add_json(&b, ECML_TAG_HYPERPARAMS, json.data);

	resetStringInfo(&json);
	appendStringInfo(&json,
					 "{\"features\": %d, \"solver\": \"%s\", \"positive_rows\": " INT64_FORMAT
					 ", \"class_weights\": {\"false\": %.17g, \"true\": %.17g}}",
					 f, solver == LOGREG_SOLVER_NEWTON ? "newton" : (o.l1 > 0 ? "owlqn" : "lbfgs"),
					 st->npos, pb.w_neg, pb.w_pos);
	ecml_builder_add_json(&b, ECML_TAG_INFO, json.data);

	resetStringInfo(&json);
	appendStringInfo(&json,
					 "{\"iterations\": %d, \"converged\": %s, \"final_loss\": %.17g, "
					 "\"gradient_max_norm\": %.6g, \"tol\": %.6g, \"train_log_loss\": %.17g, "
					 "\"training_seconds\": %.3f, \"loss_history\": [%s]}",
					 fit.iterations, fit.converged ? "true" : "false", fit.loss,
					 fit.grad_norm, o.tol, pb.logloss, ecml_elapsed_seconds(start),
					 fit.history.data);
	ecml_builder_add_json(&b, ECML_TAG_METRICS, json.data);

	ecml_builder_add(&b, LOGREG_TAG_MEAN, ECML_SECTION_FLOAT64, mean, sizeof(double) * f);
	ecml_builder_add(&b, LOGREG_TAG_SCALE, ECML_SECTION_FLOAT64, scale, sizeof(double) * f);
	ecml_builder_add(&b, LOGREG_TAG_COEF, ECML_SECTION_FLOAT64, coef, sizeof(double) * (f + 1));
	ecml_builder_add(&b, LOGREG_TAG_STDERR, ECML_SECTION_FLOAT64, se, sizeof(double) * (f + 1));
	flags = o.fit_intercept ? 1 : 0;
	ecml_builder_add(&b, LOGREG_TAG_FLAGS, ECML_SECTION_INT32, &flags, sizeof(flags));
	if (o.feature_names.n > 0)
		ecml_builder_add_texts(&b, ECML_TAG_FEATURE_NAMES, o.feature_names.items, f);

	PG_RETURN_BYTEA_P(ecml_builder_finish(&b, st->rows.nrows + st->nskipped, st->nskipped));
}
