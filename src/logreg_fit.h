/*
 * logreg_fit.h
 *	  The logistic regression optimizer, independent of where the rows are:
 *	  the buffering aggregate (logreg_train.c) passes over its chunks, the
 *	  multi-pass trainer (logreg_passes.c) runs one SQL aggregate query per
 *	  pass.  Both hand the optimizer a pass callback, so they reach the same
 *	  optimum by the same iterations.
 */
#ifndef ECML_LOGREG_FIT_H
#define ECML_LOGREG_FIT_H

#include "postgres.h"

#include <math.h>

#include "ecml.h"
#include "lib/stringinfo.h"
#include "logreg.h"

typedef struct LogregProblem LogregProblem;

/* What a pass adds up over the rows, besides the gradient and Hessian. */
typedef struct LogregSums
{
	double		loss;			/* sum of w_i * loss_i */
	double		unweighted;		/* sum of loss_i */
	double		gsum;			/* sum of w_i (p_i - y_i): the intercept's gradient */
	double		dsum;			/* sum of w_i p_i (1 - p_i): its curvature */
} LogregSums;

/*
 * One pass over every row at theta (standardized coordinates, intercept
 * last).  Adds to the zeroed grad (f) the sums of w_i (p_i - y_i) x_i and,
 * if hess is not NULL, to the zeroed lower triangle of hess (p,p) the sums
 * of w_i p_i (1 - p_i) x_i x_i^T and, in row f when there is an intercept,
 * of w_i p_i (1 - p_i) x_i; fills sums.  Rows are standardized features.
 */
typedef void (*LogregPassFn) (LogregProblem *pb, const double *theta,
							  double *grad, double *hess, LogregSums *sums);

/*
 * One row's loss terms at margin z for label y and weight wt: adds to
 * sums->loss and ->unweighted, sets *prob and returns the gradient factor
 * wt (p - y).  One exp serves both the loss and p: e = exp(-|z|).
 */
static inline double
logreg_row_terms(double z, bool y, double wt, LogregSums *sums, double *prob)
{
	double		e = exp(-fabs(z));
	double		l = log1p(e) + Max(y ? -z : z, 0.0);

	*prob = z >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
	sums->loss += wt * l;
	sums->unweighted += l;
	return wt * (*prob - (y ? 1.0 : 0.0));
}

/* One row's curvature wt p (1 - p), added to sums->dsum and returned. */
static inline double
logreg_row_curvature(double prob, double wt, LogregSums *sums)
{
	double		d = wt * prob * (1.0 - prob);

	sums->dsum += d;
	return d;
}

struct LogregProblem
{
	int			f;				/* features */
	int			p;				/* parameters: f weights, then the intercept */
	bool		fit_intercept;
	double		l2;
	double		l1;
	double		w_neg;			/* per-row weight of a negative row */
	double		w_pos;
	double		wsum;			/* W */
	int64		nrows;			/* rows trained on */
	int64		npos;			/* of which positive */
	double		logloss;		/* unweighted mean log loss of the last pass */
	LogregPassFn pass;
	void	   *pass_arg;		/* the pass's own data */
	const char *trainer;		/* names the SQL function in messages */
};

/* Parse an options argument (NULL: defaults) for the named trainer. */
extern void logreg_parse_options(Jsonb *opts, LogregOptions *o, const char *trainer);

/*
 * Set the class weights, W and the parameter count of pb from the options
 * and pb's row counts; errors when a class is missing.
 */
extern void logreg_problem_init(LogregProblem *pb, const LogregOptions *o, int f,
								int64 nskipped);

/* Appends JSON members (", \"k\": v ...") to a model's metrics section. */
typedef void (*LogregMetricsFn) (StringInfo buf, void *arg);

/*
 * Fit pb (standardized by mean and scale, which go into the model) and
 * return the model.  more_metrics, if not NULL, adds to the model's
 * metrics once the fit is done.
 */
extern bytea *logreg_fit_model(LogregProblem *pb, const LogregOptions *o,
							   const double *mean, const double *scale,
							   int64 rows_seen, int64 nskipped,
							   LogregMetricsFn more_metrics, void *arg);

/*
 * Charge the solver's working set (Hessians, L-BFGS history) to mem before
 * anything is allocated: a solver that cannot fit is refused at once.
 */
extern void logreg_charge_solver(EcmlTrainMemory *mem, const LogregOptions *o, int f);

/* Whether the fit will ask its passes for the Hessian (Newton, or standard errors). */
extern bool logreg_wants_hessian(const LogregOptions *o, int f);

#endif							/* ECML_LOGREG_FIT_H */
