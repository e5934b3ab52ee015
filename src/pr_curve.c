/*
 * pr_curve.c
 *	  Turning a score into a decision: ecml.pr_curve(score, label
 *	  [, max_points]) → jsonb and ecml.threshold_for_precision(score, label,
 *	  target_precision) → float8, aggregates over scored, labelled rows.
 *
 * Both read the ranking from the score histogram that roc_auc and
 * average_precision use (score_bins.c); the forms with a third argument
 * keep it in the state, so it must be the same in every row.
 *
 * A threshold t is the lowest score of a bin; the rows it selects are those
 * with score >= t, so a DBA can write WHERE score >= t.  At t, with TP and
 * FP the positive and negative rows selected and P all positive rows:
 * precision = TP / (TP + FP), recall = TP / P.  While the bins are exact
 * there is one threshold per distinct score; past SCORE_BINS_MAX distinct
 * scores some thresholds are left out, and the points given are still
 * exact points of the curve.
 */
#include "postgres.h"

#include <math.h>

#include "ecml.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "score_bins.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"

#define PR_MAX_POINTS_MIN 2
#define PR_MAX_POINTS_MAX 100000000

/* Thresholds between interrupt checks. */
#define PR_INTERRUPT_STRIDE (1 << 14)

/*
 * Memory one point of the curve costs until the jsonb is built: about 130
 * bytes of text, then jsonb_in's tree of values and the jsonb itself
 * (measured: 2.0 GB peak for a curve of 10^6 points).  Each point is
 * charged against ecml.train_memory_limit.
 */
#define PR_POINT_BYTES 2048

/* One threshold after another, from the highest bin down. */
typedef struct PrWalk
{
	const ScoreBinsView *v;
	int64		next;			/* next bin, walking down (index + 1) */
	int64		tp;
	int64		fp;
	double		threshold;
} PrWalk;

static void
pr_walk_init(PrWalk *w, const ScoreBinsView *v)
{
	memset(w, 0, sizeof(*w));
	w->v = v;
	w->next = v->nbins;
}

/* Step to the next lower threshold; false when no bins are left. */
static bool
pr_walk_next(PrWalk *w)
{
	const ScoreBin *b;

	if (w->next == 0)
		return false;
	b = &w->v->bins[--w->next];
	w->tp += b->pos;
	w->fp += b->neg;
	w->threshold = b->lo;
	if ((w->next & (PR_INTERRUPT_STRIDE - 1)) == 0)
		CHECK_FOR_INTERRUPTS();
	return true;
}

/*
 * ecml.pr_curve_points_transfn(bytea, float8, bool, int) → bytea: add one
 * row of ecml.pr_curve(score, label, max_points).
 */
PG_FUNCTION_INFO_V1(pr_curve_points_transfn);
Datum
pr_curve_points_transfn(PG_FUNCTION_ARGS)
{
	int32		max_points;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_points must not be NULL")));
	max_points = PG_GETARG_INT32(3);
	if (max_points < PR_MAX_POINTS_MIN || max_points > PR_MAX_POINTS_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_points must be between %d and %d, got %d",
						PR_MAX_POINTS_MIN, PR_MAX_POINTS_MAX, max_points)));
	return score_bins_step(fcinfo, true, max_points, "max_points");
}

/*
 * ecml.threshold_for_precision_transfn(bytea, float8, bool, float8) →
 * bytea: add one row of ecml.threshold_for_precision.
 */
PG_FUNCTION_INFO_V1(threshold_for_precision_transfn);
Datum
threshold_for_precision_transfn(PG_FUNCTION_ARGS)
{
	double		target;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target_precision must not be NULL")));
	target = PG_GETARG_FLOAT8(3);
	if (!(target > 0.0 && target <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("target_precision must be greater than 0 and at most 1, got %s",
						float8out_internal(target))));
	return score_bins_step(fcinfo, true, target, "target_precision");
}

/* ---- the curve ---- */

static void
append_json_float(StringInfo buf, double v)
{
	/* JSON has no infinities: an infinite score becomes the string float8in reads */
	if (isinf(v))
		appendStringInfoString(buf, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	else
		appendStringInfoString(buf, float8out_internal(v));
}

/*
 * The curve as a jsonb array of {"threshold", "precision", "recall", "tp",
 * "fp"}, thresholds descending.  With max_points > 0 and more distinct
 * scores than that, keep the points whose rank (rows scored at least the
 * threshold) first reaches each of max_points evenly spaced marks: at most
 * max_points exact points, the lowest threshold (recall 1) always among
 * them.
 */
static Datum
pr_curve_build(const ScoreBinsView *v, int64 max_points, const char *aggname)
{
	PrWalk		w;
	int64		npos = v->npos;
	int64		n = v->npos + v->nneg;
	int64		mark = 1;		/* next mark index, 1..max_points */
	StringInfoData buf;
	bool		first = true;
	EcmlTrainMemory mem;

	ecml_train_memory_init(&mem, aggname, sizeof(ScoreBin) * (Size) v->nbins);
	pr_walk_init(&w, v);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	while (pr_walk_next(&w))
	{
		int64		rank = w.tp + w.fp;

		if (max_points > 0)
		{
			/* mark k sits at rank ceil(k n / max_points) */
			int64		at = (int64) (((int128) mark * n + max_points - 1) / max_points);

			if (rank < at)
				continue;
			/* skip every mark this point reaches */
			mark = (int64) (((int128) rank * max_points) / n) + 1;
		}
		ecml_train_memory_charge(&mem, PR_POINT_BYTES, "precision/recall curve");
		if (!first)
			appendStringInfoString(&buf, ", ");
		first = false;
		appendStringInfoString(&buf, "{\"threshold\": ");
		append_json_float(&buf, w.threshold);
		appendStringInfoString(&buf, ", \"precision\": ");
		append_json_float(&buf, (double) w.tp / (double) rank);
		appendStringInfoString(&buf, ", \"recall\": ");
		if (npos > 0)
			append_json_float(&buf, (double) w.tp / (double) npos);
		else
			appendStringInfoString(&buf, "null");
		appendStringInfo(&buf, ", \"tp\": " INT64_FORMAT ", \"fp\": " INT64_FORMAT "}",
						 w.tp, w.fp);
	}
	appendStringInfoChar(&buf, ']');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/*
 * ecml.pr_curve_finalfn(bytea) → jsonb: every threshold is a point; NULL
 * without rows.
 */
PG_FUNCTION_INFO_V1(pr_curve_finalfn);
Datum
pr_curve_finalfn(PG_FUNCTION_ARGS)
{
	ScoreBinsView v;

	if (!score_bins_view(fcinfo, &v))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(pr_curve_build(&v, 0, "ecml.pr_curve"));
}

/*
 * ecml.pr_curve_points_finalfn(bytea) → jsonb: at most max_points points;
 * NULL without rows.
 */
PG_FUNCTION_INFO_V1(pr_curve_points_finalfn);
Datum
pr_curve_points_finalfn(PG_FUNCTION_ARGS)
{
	ScoreBinsView v;

	if (!score_bins_view(fcinfo, &v))
		PG_RETURN_NULL();
	if (!v.has_param)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid ranking metric state: max_points missing")));
	PG_RETURN_DATUM(pr_curve_build(&v, (int64) v.param, "ecml.pr_curve"));
}

/*
 * ecml.threshold_for_precision_finalfn(bytea) → float8: the lowest
 * threshold whose precision reaches the target (the one with the highest
 * recall among them); NULL when none does or without rows.
 */
PG_FUNCTION_INFO_V1(threshold_for_precision_finalfn);
Datum
threshold_for_precision_finalfn(PG_FUNCTION_ARGS)
{
	ScoreBinsView v;
	PrWalk		w;
	bool		found = false;
	double		best = 0.0;

	if (!score_bins_view(fcinfo, &v))
		PG_RETURN_NULL();
	if (!v.has_param)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid ranking metric state: target_precision missing")));

	/* precision is not monotone in the threshold: look at every one */
	pr_walk_init(&w, &v);
	while (pr_walk_next(&w))
	{
		if ((double) w.tp / (double) (w.tp + w.fp) >= v.param)
		{
			best = w.threshold;
			found = true;
		}
	}
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(best);
}
