/*
 * metrics.c
 *	  Evaluation aggregates: ecml.roc_auc, ecml.average_precision,
 *	  ecml.score_summary and ecml.log_loss, with ties treated as
 *	  scikit-learn 1.2 does.
 *
 * roc_auc and average_precision read the ranking from the score histogram
 * of score_bins.c: exact while the distinct scores fit in its bins
 * (SCORE_BINS_MAX), and otherwise computed with the rows of a bin as one
 * tied score, within the error bound that score_summary reports.  They share
 * one transition and combine function, so PostgreSQL keeps one state when a
 * query asks for both over the same arguments.
 *
 * log_loss needs only a count and a sum: its state is a float8[]
 * {count, sum, compensation}.  Every state here is a plain value with a
 * combine function, so parallel workers and Citus workers compute partial
 * states.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "ecml.h"
#include "miscadmin.h"
#include "score_bins.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"

/* Bins between interrupt checks. */
#define BINS_INTERRUPT_STRIDE (1 << 14)

/*
 * The Mann-Whitney statistic over the bins, ascending: the fraction of
 * (positive, negative) pairs ranked right, a tie counting one half.  This
 * is the area under the ROC curve with tied scores joined by a straight
 * segment, what scikit-learn's roc_auc_score computes (Hanley & McNeil
 * 1982; Fawcett 2006, section 7).  The pairs inside a bin of several
 * scores count one half each though each is really 0 or 1: *bound gets
 * the sum of their possible error.
 */
#ifdef HAVE_INT128
typedef uint128 TwiceU;			/* exact: at most 2 * npos * nneg */
#else
typedef long double TwiceU;
#endif

static double
roc_auc_bins(const ScoreBinsView *v, double *bound)
{
	TwiceU		twice_u = 0;
	TwiceU		inexact = 0;
	int64		below = 0;		/* negatives in lower bins */
	double		pairs = (double) v->npos * (double) v->nneg;

	for (int64 i = 0; i < v->nbins; i++)
	{
		const ScoreBin *b = &v->bins[i];

		twice_u += (TwiceU) b->pos * (TwiceU) (2 * below + b->neg);
		if (!score_bin_exact(b))
			inexact += (TwiceU) b->pos * (TwiceU) b->neg;
		below += b->neg;
		if ((i & (BINS_INTERRUPT_STRIDE - 1)) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	*bound = (double) inexact / (2.0 * pairs);
	return (double) twice_u / (2.0 * pairs);
}

/*
 * Neumaier's compensated summation: keeps sums over millions of rows
 * accurate to a few ulps whatever the order of the terms.
 */
static inline void
neumaier_add(double *sum, double *comp, double x)
{
	double		t = *sum + x;

	if (fabs(*sum) >= fabs(x))
		*comp += (*sum - t) + x;
	else
		*comp += (x - t) + *sum;
	*sum = t;
}

/*
 * The same in extended precision (80-bit on x86-64; plain double where long
 * double is double): average precision sums one quotient per threshold, and
 * the extra bits bring the result to the correctly rounded value nearly
 * always.
 */
static inline void
neumaier_add_long(long double *sum, long double *comp, long double x)
{
	long double t = *sum + x;

	if (fabsl(*sum) >= fabsl(x))
		*comp += (*sum - t) + x;
	else
		*comp += (x - t) + *sum;
	*sum = t;
}

/*
 * AP = sum over thresholds t, from the highest score down, of
 * (R_t - R_{t-1}) * P_t, where all rows with the same score form one
 * threshold: recall rises by (positives at t) / (all positives), and P_t is
 * the precision of the rows scored at least t.  This is scikit-learn's
 * average_precision_score (no interpolation).
 *
 * A bin of several scores counts as one threshold.  Ordered inside it, its
 * j-th positive would see a precision between (tp + j) / (tp + fp + j +
 * neg) and (tp + j) / (tp + fp + j), tp and fp counting the higher bins;
 * both ends are monotone in j, so the bin's share of AP is off by at most
 * pos / P times the spread between the extremes over j = 1 and j = pos.
 */
static double
ap_bin_bound(const ScoreBin *b, int64 tp, int64 fp, int64 npos)
{
	double		hi1 = (double) (tp + 1) / (double) (tp + fp + 1);
	double		hin = (double) (tp + b->pos) / (double) (tp + fp + b->pos);
	double		lo1 = (double) (tp + 1) / (double) (tp + fp + 1 + b->neg);
	double		lon = (double) (tp + b->pos) / (double) (tp + fp + b->pos + b->neg);

	return (double) b->pos / (double) npos * (Max(hi1, hin) - Min(lo1, lon));
}

static double
average_precision_bins(const ScoreBinsView *v, double *bound)
{
	int64		tp = 0;
	int64		fp = 0;
	long double sum = 0.0;
	long double comp = 0.0;
	double		err = 0.0;

	for (int64 i = v->nbins - 1; i >= 0; i--)
	{
		const ScoreBin *b = &v->bins[i];

		if (b->pos > 0 && !score_bin_exact(b))
			err += ap_bin_bound(b, tp, fp, v->npos);
		tp += b->pos;
		fp += b->neg;
		if (b->pos > 0)
			neumaier_add_long(&sum, &comp,
							  (long double) b->pos * tp / (long double) (tp + fp));
		if ((i & (BINS_INTERRUPT_STRIDE - 1)) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	*bound = Min(err, 1.0);
	return (double) ((sum + comp) / (long double) v->npos);
}

/*
 * ecml.roc_auc_finalfn(bytea) → float8: area under the ROC curve; NULL
 * without rows of both classes (scikit-learn raises; NULL suits GROUP BY).
 */
PG_FUNCTION_INFO_V1(roc_auc_finalfn);
Datum
roc_auc_finalfn(PG_FUNCTION_ARGS)
{
	ScoreBinsView v;
	double		bound;

	if (!score_bins_view(fcinfo, &v) || v.npos == 0 || v.nneg == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(roc_auc_bins(&v, &bound));
}

/*
 * ecml.average_precision_finalfn(bytea) → float8: average precision; NULL
 * without positive rows (recall is undefined), 1 without negatives.
 */
PG_FUNCTION_INFO_V1(average_precision_finalfn);
Datum
average_precision_finalfn(PG_FUNCTION_ARGS)
{
	ScoreBinsView v;
	double		bound;

	if (!score_bins_view(fcinfo, &v) || v.npos == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(average_precision_bins(&v, &bound));
}

static void
summary_add_float(JsonbParseState **js, const char *key, double v, bool null)
{
	JsonbValue	k,
				val;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(js, WJB_KEY, &k);
	if (null)
		val.type = jbvNull;
	else
	{
		val.type = jbvNumeric;
		/* through the shortest exact text: float8_numeric keeps 15 digits */
		val.val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
															  CStringGetDatum(float8out_internal(v)),
															  ObjectIdGetDatum(InvalidOid),
															  Int32GetDatum(-1)));
	}
	pushJsonbValue(js, WJB_VALUE, &val);
}

/*
 * ecml.score_summary_finalfn(bytea) → jsonb: the counts, whether the bins
 * are exact, and roc_auc and average_precision with the bound on their
 * error; NULL without rows.
 */
PG_FUNCTION_INFO_V1(score_summary_finalfn);
Datum
score_summary_finalfn(PG_FUNCTION_ARGS)
{
	ScoreBinsView v;
	JsonbParseState *js = NULL;
	JsonbValue *res;
	int64		inexact = 0;
	double		auc = 0.0,
				auc_bound = 0.0,
				ap = 0.0,
				ap_bound = 0.0;
	bool		have_auc,
				have_ap;

	if (!score_bins_view(fcinfo, &v))
		PG_RETURN_NULL();
	for (int64 i = 0; i < v.nbins; i++)
		inexact += !score_bin_exact(&v.bins[i]);
	have_auc = v.npos > 0 && v.nneg > 0;
	have_ap = v.npos > 0;
	if (have_auc)
		auc = roc_auc_bins(&v, &auc_bound);
	if (have_ap)
		ap = average_precision_bins(&v, &ap_bound);

	pushJsonbValue(&js, WJB_BEGIN_OBJECT, NULL);
	summary_add_float(&js, "rows", (double) (v.npos + v.nneg), false);
	summary_add_float(&js, "positives", (double) v.npos, false);
	summary_add_float(&js, "bins", (double) v.nbins, false);
	summary_add_float(&js, "inexact_bins", (double) inexact, false);
	summary_add_float(&js, "key_bits", (double) v.bits, false);
	summary_add_float(&js, "roc_auc", auc, !have_auc);
	summary_add_float(&js, "roc_auc_error_bound", auc_bound, !have_auc);
	summary_add_float(&js, "average_precision", ap, !have_ap);
	summary_add_float(&js, "average_precision_error_bound", ap_bound, !have_ap);
	res = pushJsonbValue(&js, WJB_END_OBJECT, NULL);
	PG_RETURN_JSONB_P(JsonbValueToJsonb(res));
}

/* ---- log_loss: float8[] {count, sum, compensation} ---- */

#define LOG_LOSS_STATE_LEN 3

/*
 * The state's elements.  A state that is not a float8[3] without NULLs
 * can only come from a direct call with a made-up array.
 */
static double *
log_loss_state(ArrayType *state)
{
	double	   *s;

	if (ARR_NDIM(state) != 1 || ARR_DIMS(state)[0] != LOG_LOSS_STATE_LEN ||
		ARR_HASNULL(state) || ARR_ELEMTYPE(state) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid ecml.log_loss state"),
				 errdetail("The state must be a one-dimensional float8[] of 3 elements without NULLs.")));
	s = (double *) ARR_DATA_PTR(state);
	if (!isfinite(s[0]) || !isfinite(s[1] + s[2]) || s[0] < 0 || s[1] < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid ecml.log_loss state"),
				 errdetail("The count and the sum of losses must be finite and not negative.")));
	return s;
}

/*
 * The state to update: in an aggregate it is ours to change in place, like
 * PostgreSQL's float8_accum; called directly, work on a copy.
 */
static ArrayType *
log_loss_writable_state(FunctionCallInfo fcinfo, int argno)
{
	return (ArrayType *) ecml_agg_writable_arg(fcinfo, argno);
}

/*
 * One sample's cross-entropy, as scikit-learn 1.2 computes it: clip p to
 * [eps, 1 - eps] with eps the float64 machine epsilon, form the two class
 * probabilities (1 - p, p), renormalize them to sum 1, and take minus the
 * log of the true class's.  (The renormalization changes the last bits at
 * most; doing it makes the result match to the last bit.)
 */
static double
log_loss_sample(double p, bool label)
{
	double		q;

	if (isnan(p) || p < 0.0 || p > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("probability must be between 0 and 1, got %s",
						float8out_internal(p)),
				 errhint("Pass the predicted probability that the label is true; turn a log-odds score into one with 1 / (1 + exp(-score)).")));

	p = Min(Max(p, DBL_EPSILON), 1.0 - DBL_EPSILON);
	q = label ? p : 1.0 - p;
	return -log(q / ((1.0 - p) + p));
}

/*
 * ecml.log_loss_transfn(float8[], float8, bool) → float8[]: add one
 * sample's cross-entropy (STRICT: rows with a NULL are skipped).
 */
PG_FUNCTION_INFO_V1(ecml_log_loss_transfn);
Datum
ecml_log_loss_transfn(PG_FUNCTION_ARGS)
{
	ArrayType  *state = log_loss_writable_state(fcinfo, 0);
	double	   *s = log_loss_state(state);
	double		loss = log_loss_sample(PG_GETARG_FLOAT8(1), PG_GETARG_BOOL(2));

	s[0] += 1.0;
	neumaier_add(&s[1], &s[2], loss);
	PG_RETURN_ARRAYTYPE_P(state);
}

/*
 * ecml.log_loss_combinefn(float8[], float8[]) → float8[]: add two partial
 * states.
 */
PG_FUNCTION_INFO_V1(ecml_log_loss_combinefn);
Datum
ecml_log_loss_combinefn(PG_FUNCTION_ARGS)
{
	ArrayType  *state = log_loss_writable_state(fcinfo, 0);
	double	   *s1 = log_loss_state(state);
	double	   *s2 = log_loss_state(PG_GETARG_ARRAYTYPE_P(1));

	s1[0] += s2[0];
	neumaier_add(&s1[1], &s1[2], s2[1]);
	s1[2] += s2[2];
	PG_RETURN_ARRAYTYPE_P(state);
}

/*
 * ecml.log_loss_finalfn(float8[]) → float8: the mean cross-entropy; NULL
 * without rows.
 */
PG_FUNCTION_INFO_V1(ecml_log_loss_finalfn);
Datum
ecml_log_loss_finalfn(PG_FUNCTION_ARGS)
{
	double	   *s = log_loss_state(PG_GETARG_ARRAYTYPE_P(0));

	if (s[0] == 0.0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8((s[1] + s[2]) / s[0]);
}
