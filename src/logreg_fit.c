/*
 * logreg_fit.c
 *	  The logistic regression optimizer behind both trainers: options,
 *	  Newton/IRLS, L-BFGS / OWL-QN, standard errors and the model written.
 *	  Where the rows live is the pass callback's business (logreg_fit.h).
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
 */
#include "postgres.h"

#include <math.h>

#include "ecml.h"
#include "logreg_fit.h"
#include "miscadmin.h"
#include "utils/float.h"
#include "utils/timestamp.h"

#define LOGREG_FTOL 1e-13		/* relative decrease below which we stop */
#define LBFGS_M 10				/* L-BFGS curvature pairs kept */

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

void
logreg_parse_options(Jsonb *opts, LogregOptions *o, const char *trainer)
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
	ecml_parse_options(opts, logreg_option_specs, N_LOGREG_OPTIONS, o, trainer);
}
/*
 * The smooth objective at theta (L without the l1 term) with its gradient
 * (p) and, if hess is not NULL, the lower triangle of its Hessian (p,p):
 * one pass, then the means over the weights and the ridge.
 */
static double
logreg_objective(LogregProblem *pb, const double *theta, double *grad, double *hess)
{
	int			f = pb->f;
	int			p = pb->p;
	LogregSums	sums = {0};
	double		loss;

	memset(grad, 0, sizeof(double) * p);
	if (hess)
		memset(hess, 0, sizeof(double) * (Size) p * p);
	pb->pass(pb, theta, grad, hess, &sums);

	loss = sums.loss / pb->wsum;
	pb->logloss = sums.unweighted / (double) pb->nrows;
	for (int j = 0; j < f; j++)
	{
		grad[j] = grad[j] / pb->wsum + pb->l2 * theta[j];
		loss += 0.5 * pb->l2 * theta[j] * theta[j];
	}
	if (pb->fit_intercept)
		grad[f] = sums.gsum / pb->wsum;
	if (hess)
	{
		/* Size offsets: p * p passes INT_MAX from 46,341 parameters */
		for (int j = 0; j < p; j++)
		{
			double	   *hrow = hess + (Size) j * p;

			if ((j & 255) == 0)
				CHECK_FOR_INTERRUPTS();
			for (int k = 0; k <= j; k++)
				hrow[k] /= pb->wsum;
		}
		if (pb->fit_intercept)
			hess[(Size) f * p + f] = sums.dsum / pb->wsum;
		for (int j = 0; j < f; j++)
			hess[(Size) j * p + j] += pb->l2;
	}
	return loss;
}

void
logreg_problem_init(LogregProblem *pb, const LogregOptions *o, int f, int64 nskipped)
{
	int64		nneg = pb->nrows - pb->npos;

	if (pb->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no training rows", pb->trainer),
				 errdetail("Rows seen: " INT64_FORMAT ", skipped for NULL features or label: " INT64_FORMAT ".",
						   nskipped, nskipped),
				 errhint("Check the query's WHERE clause and the NULLs in the features and label columns.")));
	if (pb->npos == 0 || nneg == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: every label is %s; logistic regression needs both classes",
						pb->trainer, pb->npos == 0 ? "false" : "true"),
				 errhint("Train on rows that include both outcomes.")));
	if (o->feature_names.n > 0 && o->feature_names.n != f)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s option \"feature_names\" has %d names, the feature vectors have %d elements",
						pb->trainer, o->feature_names.n, f)));
	if (o->solver == LOGREG_SOLVER_NEWTON && o->l1 > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s option \"solver\" \"newton\" does not support \"l1\"", pb->trainer),
				 errhint("Use \"solver\": \"lbfgs\" (or \"auto\"), which handles l1 with OWL-QN.")));

	pb->f = f;
	pb->fit_intercept = o->fit_intercept;
	pb->p = f + (o->fit_intercept ? 1 : 0);
	pb->l2 = o->l2;
	pb->l1 = o->l1;
	pb->w_neg = 1.0;
	pb->w_pos = 1.0;
	if (o->class_weight.choice == 0)
	{
		/* "balanced": n / (2 n_class), as scikit-learn */
		pb->w_pos = (double) pb->nrows / (2.0 * pb->npos);
		pb->w_neg = (double) pb->nrows / (2.0 * nneg);
	}
	else
		pb->w_pos = o->class_weight.value;
	pb->wsum = pb->w_pos * pb->npos + pb->w_neg * nneg;
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
report_progress(const char *trainer, const char *solver, int iter, int max_iter, double loss,
				double gnorm, TimestampTz start)
{
	double		elapsed = ecml_elapsed_seconds(start);

	ecml_progress_notice("%s (%s): iteration %d, loss %.6g, gradient %.3g, %.2f s elapsed, at most %.1f s left",
						 trainer, solver, iter, loss, gnorm, elapsed,
						 ecml_seconds_left(elapsed, iter, max_iter));
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
	double		loss = logreg_objective(pb, theta, grad, hess);

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
						 errmsg("%s: the Hessian is not positive definite", pb->trainer),
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
			newloss = logreg_objective(pb, tnew, gnew, hnew);
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
		report_progress(pb->trainer, "newton", fit->iterations, o->max_iter, newloss, max_abs(grad, p), start);
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

/* The last LBFGS_M curvature pairs (s, y), a ring in S and Y: (LBFGS_M,p). */
typedef struct LbfgsMemory
{
	double	   *S;
	double	   *Y;
	double		rho[LBFGS_M];	/* 1 / s'y */
	double		alpha[LBFGS_M];	/* the two-loop recursion's scratch */
	int			mem;			/* pairs held */
	int			head;			/* where the next pair goes */
} LbfgsMemory;

static double
dot(const double *a, const double *b, int p)
{
	double		s = 0.0;

	for (int j = 0; j < p; j++)
		s += a[j] * b[j];
	return s;
}

/* dir = -H pg by the two-loop recursion (Nocedal & Wright, alg. 7.4). */
static void
lbfgs_two_loop(LbfgsMemory *lm, const double *pg, double *dir, int p)
{
	for (int j = 0; j < p; j++)
		dir[j] = -pg[j];
	for (int k = 0; k < lm->mem; k++)
	{
		int			i = (lm->head - 1 - k + LBFGS_M) % LBFGS_M;
		double		a = lm->rho[i] * dot(lm->S + i * p, dir, p);

		lm->alpha[i] = a;
		for (int j = 0; j < p; j++)
			dir[j] -= a * lm->Y[i * p + j];
	}
	if (lm->mem > 0)
	{
		int			i = (lm->head - 1 + LBFGS_M) % LBFGS_M;
		double		sy = dot(lm->S + i * p, lm->Y + i * p, p);
		double		scale = sy / dot(lm->Y + i * p, lm->Y + i * p, p);

		for (int j = 0; j < p; j++)
			dir[j] *= scale;
	}
	for (int k = lm->mem - 1; k >= 0; k--)
	{
		int			i = (lm->head - 1 - k + LBFGS_M) % LBFGS_M;
		double		bcoef = lm->rho[i] * dot(lm->Y + i * p, dir, p);

		for (int j = 0; j < p; j++)
			dir[j] += lm->S[i * p + j] * (lm->alpha[i] - bcoef);
	}
}

/*
 * The search direction and its slope pg'dir.  OWL-QN keeps only the
 * components that agree with -pg; a direction that is not a descent one
 * forgets the curvature pairs and falls back to -pg.
 */
static double
lbfgs_direction(const LogregProblem *pb, LbfgsMemory *lm, const double *pg, double *dir)
{
	int			p = pb->p;
	double		slope;

	lbfgs_two_loop(lm, pg, dir, p);
	if (pb->l1 > 0)
		for (int j = 0; j < pb->f; j++)
			if (dir[j] * pg[j] >= 0)
				dir[j] = 0.0;
	slope = dot(pg, dir, p);
	if (!(slope < 0))
	{
		lm->mem = 0;
		for (int j = 0; j < p; j++)
			dir[j] = -pg[j];
		slope = dot(pg, dir, p);
	}
	return slope;
}

/*
 * Backtracking (Armijo) along dir from theta, projected onto theta's
 * orthant (or -pg's at zero) when l1 > 0.  True when a step was accepted:
 * tnew, gnew and *newloss then hold it.
 */
static bool
lbfgs_line_search(LogregProblem *pb, const LbfgsMemory *lm, const double *theta,
				  double loss, const double *pg, const double *dir, double slope,
				  double *tnew, double *gnew, double *newloss)
{
	int			p = pb->p;
	double		alpha = (lm->mem == 0) ? Min(1.0, 1.0 / sqrt(-slope)) : 1.0;

	for (int tries = 0; tries < 50; tries++)
	{
		double		decrease = 0.0;

		for (int j = 0; j < p; j++)
		{
			tnew[j] = theta[j] + alpha * dir[j];
			if (pb->l1 > 0 && j < pb->f)
			{
				double		orth = theta[j] != 0 ? theta[j] : -pg[j];

				if (tnew[j] * orth <= 0)
					tnew[j] = 0.0;
			}
			decrease += pg[j] * (tnew[j] - theta[j]);
		}
		*newloss = logreg_objective(pb, tnew, gnew, NULL) + l1_term(pb, tnew);
		if (*newloss <= loss + 1e-4 * decrease)
			return true;
		alpha *= 0.5;
	}
	return false;
}

/* Remember the step's curvature pair (from the smooth gradient) if s'y > 0. */
static void
lbfgs_push(LbfgsMemory *lm, const double *theta, const double *tnew,
		   const double *grad, const double *gnew, int p)
{
	double	   *s = lm->S + lm->head * p;
	double	   *y = lm->Y + lm->head * p;
	double		sy;

	for (int j = 0; j < p; j++)
	{
		s[j] = tnew[j] - theta[j];
		y[j] = gnew[j] - grad[j];
	}
	sy = dot(s, y, p);
	if (sy > 1e-16)
	{
		lm->rho[lm->head] = 1.0 / sy;
		lm->head = (lm->head + 1) % LBFGS_M;
		lm->mem = Min(lm->mem + 1, LBFGS_M);
	}
}

/* L-BFGS, orthant-wise when l1 > 0 (OWL-QN).  S and Y: (LBFGS_M,p) history. */
static void
logreg_lbfgs(LogregProblem *pb, const LogregOptions *o, double *theta,
			 double *S, double *Y, LogregFit *fit, TimestampTz start)
{
	int			p = pb->p;
	LbfgsMemory lm;
	double	   *grad = palloc(sizeof(double) * p);
	double	   *gnew = palloc(sizeof(double) * p);
	double	   *pg = palloc(sizeof(double) * p);
	double	   *dir = palloc(sizeof(double) * p);
	double	   *tnew = palloc(sizeof(double) * p);
	double		loss = logreg_objective(pb, theta, grad, NULL) + l1_term(pb, theta);
	const char *name = pb->l1 > 0 ? "owlqn" : "lbfgs";

	memset(&lm, 0, sizeof(lm));
	lm.S = S;
	lm.Y = Y;
	fit->converged = false;
	for (fit->iterations = 0; fit->iterations < o->max_iter;)
	{
		double		gnorm;
		double		slope;
		double		newloss = loss;
		bool		accepted;

		pseudo_gradient(pb, theta, grad, pg);
		gnorm = max_abs(pg, p);
		if (gnorm <= o->tol)
		{
			fit->converged = true;
			break;
		}
		slope = lbfgs_direction(pb, &lm, pg, dir);
		accepted = lbfgs_line_search(pb, &lm, theta, loss, pg, dir, slope,
									 tnew, gnew, &newloss);
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
		lbfgs_push(&lm, theta, tnew, grad, gnew, p);
		memcpy(theta, tnew, sizeof(double) * p);
		memcpy(grad, gnew, sizeof(double) * p);
		loss = newloss;
		appendStringInfo(&fit->history, "%s%.10g", fit->iterations > 1 ? ", " : "", loss);
		report_progress(pb->trainer, name, fit->iterations, o->max_iter, loss, gnorm, start);
	}
	pseudo_gradient(pb, theta, grad, pg);
	fit->loss = loss;
	fit->grad_norm = max_abs(pg, p);
	if (fit->grad_norm <= o->tol)
		fit->converged = true;
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

static int
logreg_pick_solver(const LogregOptions *o, int f)
{
	if (o->solver != LOGREG_SOLVER_AUTO)
		return o->solver;
	return (o->l1 == 0 && f + 1 <= LOGREG_NEWTON_MAX_FEATURES) ?
		LOGREG_SOLVER_NEWTON : LOGREG_SOLVER_LBFGS;
}

/* The model's INFO and METRICS sections. */
static void
logreg_add_reports(EcmlModelBuilder *b, const LogregProblem *pb, const LogregOptions *o,
				   int solver, const LogregFit *fit, TimestampTz start,
				   LogregMetricsFn more_metrics, void *arg)
{
	StringInfoData json;

	initStringInfo(&json);
	ecml_options_to_json(&json, logreg_option_specs, N_LOGREG_OPTIONS, o);
	ecml_builder_add_json(b, ECML_TAG_HYPERPARAMS, json.data);

	resetStringInfo(&json);
	appendStringInfo(&json,
					 "{\"features\": %d, \"solver\": \"%s\", \"positive_rows\": " INT64_FORMAT
					 ", \"class_weights\": {\"false\": %.17g, \"true\": %.17g}}",
					 pb->f, solver == LOGREG_SOLVER_NEWTON ? "newton" : (o->l1 > 0 ? "owlqn" : "lbfgs"),
					 pb->npos, pb->w_neg, pb->w_pos);
	ecml_builder_add_json(b, ECML_TAG_INFO, json.data);

	resetStringInfo(&json);
	appendStringInfo(&json,
					 "{\"iterations\": %d, \"converged\": %s, \"final_loss\": %.17g, "
					 "\"gradient_max_norm\": %.6g, \"tol\": %.6g, \"train_log_loss\": %.17g, "
					 "\"training_seconds\": %.3f, \"loss_history\": [%s]",
					 fit->iterations, fit->converged ? "true" : "false", fit->loss,
					 fit->grad_norm, o->tol, pb->logloss, ecml_elapsed_seconds(start),
					 fit->history.data);
	if (more_metrics)
		more_metrics(&json, arg);
	appendStringInfoChar(&json, '}');
	ecml_builder_add_json(b, ECML_TAG_METRICS, json.data);
}

bool
logreg_wants_hessian(const LogregOptions *o, int f)
{
	int			p = f + (o->fit_intercept ? 1 : 0);

	return logreg_pick_solver(o, f) == LOGREG_SOLVER_NEWTON ||
		(o->l1 == 0 && p <= LOGREG_STDERR_MAX_FEATURES);
}

/*
 * Charge the solver's whole working set to the training's account before
 * anything is allocated, so that a solver that cannot fit is refused at
 * once, naming its largest buffers.  Newton holds three (p,p) float8
 * matrices (the Hessian, the trial point's Hessian and the Cholesky
 * factor), 24 p^2 bytes: 60 GB at 50,000 features.  Every count here is at
 * most LOGREG_MAX_FEATURES + 1, so the products fit a 64-bit Size.
 */
void
logreg_charge_solver(EcmlTrainMemory *mem, const LogregOptions *o, int f)
{
	int			solver = logreg_pick_solver(o, f);
	bool		want_hess = logreg_wants_hessian(o, f);
	int			p = f + (o->fit_intercept ? 1 : 0);
	Size		pp = (Size) p * p;

	ecml_train_memory_charge(mem, sizeof(double) * (Size) p * 16, "parameter vectors");
	if (solver == LOGREG_SOLVER_NEWTON)
		ecml_train_memory_charge(mem, sizeof(double) * pp * 3,
								 psprintf("Newton solver's Hessian, trial Hessian and Cholesky factor (3 x %d x %d float8)",
										  p, p));
	else
	{
		ecml_train_memory_charge(mem, sizeof(double) * LBFGS_M * 2 * (Size) p,
								 psprintf("L-BFGS history (2 x %d x %d float8)", LBFGS_M, p));
		if (want_hess)
			ecml_train_memory_charge(mem, sizeof(double) * pp * 2,
									 psprintf("standard errors' Hessian and Cholesky factor (2 x %d x %d float8)",
											  p, p));
	}
}

bytea *
logreg_fit_model(LogregProblem *pb, const LogregOptions *o, const double *mean,
				 const double *scale, int64 rows_seen, int64 nskipped,
				 LogregMetricsFn more_metrics, void *arg)
{
	TimestampTz start = GetCurrentTimestamp();
	int			f = pb->f;
	int			p = pb->p;
	int			solver = logreg_pick_solver(o, f);
	bool		want_hess = logreg_wants_hessian(o, f);
	LogregFit	fit;
	double	   *theta;
	double	   *coef;
	double	   *se;
	double	   *hess = NULL;
	double	   *L = NULL;
	EcmlModelBuilder b;
	int32		flags;

	theta = palloc0(sizeof(double) * p);
	/* start the intercept at the log-odds of the (weighted) base rate */
	if (o->fit_intercept)
		theta[f] = log((pb->w_pos * pb->npos) / (pb->w_neg * (pb->nrows - pb->npos)));

	initStringInfo(&fit.history);
	if (want_hess)
	{
		hess = palloc_extended(sizeof(double) * (Size) p * p, MCXT_ALLOC_HUGE);
		L = palloc_extended(sizeof(double) * (Size) p * p, MCXT_ALLOC_HUGE);
	}
	if (solver == LOGREG_SOLVER_NEWTON)
	{
		double	   *hnew = palloc_extended(sizeof(double) * (Size) p * p, MCXT_ALLOC_HUGE);

		logreg_newton(pb, o, theta, &hess, hnew, L, &fit, start);
	}
	else
	{
		double	   *S = palloc_extended(sizeof(double) * LBFGS_M * (Size) p, MCXT_ALLOC_HUGE);
		double	   *Y = palloc_extended(sizeof(double) * LBFGS_M * (Size) p, MCXT_ALLOC_HUGE);

		logreg_lbfgs(pb, o, theta, S, Y, &fit, start);
		if (hess)
		{
			double	   *g = palloc(sizeof(double) * p);

			logreg_objective(pb, theta, g, hess);
		}
	}

	/* coefficients: intercept first, standardized units; SEs in original units */
	coef = palloc0(sizeof(double) * (f + 1));
	coef[0] = o->fit_intercept ? theta[f] : 0.0;
	memcpy(coef + 1, theta, sizeof(double) * f);
	se = palloc(sizeof(double) * (f + 1));
	for (int j = 0; j <= f; j++)
		se[j] = get_float8_nan();

	/*
	 * p solves of O(p^2) each: beyond LOGREG_STDERR_MAX_FEATURES (docs/logreg.md,
	 * "beyond 2000 features") no covariance is formed, whichever solver ran.
	 */
	if (hess && o->l1 == 0 && p <= LOGREG_STDERR_MAX_FEATURES)
		logreg_stderrs(pb, hess, L, mean, scale, se);
	if (!o->fit_intercept)
		se[0] = get_float8_nan();

	ecml_builder_init(&b, ECML_KIND_LOGREG);
	logreg_add_reports(&b, pb, o, solver, &fit, start, more_metrics, arg);
	ecml_builder_add(&b, LOGREG_TAG_MEAN, ECML_SECTION_FLOAT64, mean, sizeof(double) * f);
	ecml_builder_add(&b, LOGREG_TAG_SCALE, ECML_SECTION_FLOAT64, scale, sizeof(double) * f);
	ecml_builder_add(&b, LOGREG_TAG_COEF, ECML_SECTION_FLOAT64, coef, sizeof(double) * (f + 1));
	ecml_builder_add(&b, LOGREG_TAG_STDERR, ECML_SECTION_FLOAT64, se, sizeof(double) * (f + 1));
	flags = o->fit_intercept ? 1 : 0;
	ecml_builder_add(&b, LOGREG_TAG_FLAGS, ECML_SECTION_INT32, &flags, sizeof(flags));
	if (o->feature_names.n > 0)
		ecml_builder_add_texts(&b, ECML_TAG_FEATURE_NAMES, o->feature_names.items, f);

	return ecml_builder_finish(&b, rows_seen, nskipped);
}
