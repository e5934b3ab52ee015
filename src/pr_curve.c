/*
 * pr_curve.c
 *	  Turning a score into a decision: ecml.pr_curve(score, label
 *	  [, max_points]) → jsonb and ecml.threshold_for_precision(score, label,
 *	  target_precision) → float8, aggregates over scored, labelled rows.
 *
 * Both need the whole ranking, as roc_auc and average_precision do, so they
 * reuse those aggregates' score/label state and its transition, combine,
 * serialize and deserialize functions (metrics.c): 8 bytes a row, sorted
 * runs merged in parallel plans.  The forms with a third argument carry it
 * in a small wrapper around that state, so the argument must be the same in
 * every row.
 *
 * A threshold t is one of the distinct scores; the rows it selects are those
 * with score >= t, so a DBA can write WHERE score >= t.  At t, with TP and
 * FP the positive and negative rows selected and P all positive rows:
 * precision = TP / (TP + FP), recall = TP / P.
 */
#include "postgres.h"

#include <math.h>

#include "ecml.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

/* the shared score/label support functions (metrics.c) */
extern Datum ecml_score_label_transfn(PG_FUNCTION_ARGS);
extern Datum ecml_score_label_combinefn(PG_FUNCTION_ARGS);
extern Datum ecml_score_label_serialfn(PG_FUNCTION_ARGS);
extern Datum ecml_score_label_deserialfn(PG_FUNCTION_ARGS);

#define PR_MAX_POINTS_MIN 2
#define PR_MAX_POINTS_MAX 100000000

/* Thresholds between interrupt checks. */
#define PR_INTERRUPT_STRIDE (1 << 16)

/*
 * Memory one point of the curve costs until the jsonb is built: about 130
 * bytes of text, then jsonb_in's tree of values and the jsonb itself
 * (measured: 2.0 GB peak for a curve of 10^6 points).  Each point is
 * charged against ecml.train_memory_limit, beside the buffered scores.
 */
#define PR_POINT_BYTES 2048

/* The score/label state and the constant third argument. */
typedef struct ScoreParamState
{
	void	   *inner;			/* metrics.c's state, NULL before the first row */
	double		param;
	bool		have_param;
} ScoreParamState;

/* One distinct threshold, from the highest score down. */
typedef struct PrWalk
{
	const double *pos;
	const double *neg;
	int64		i;				/* next positive, walking down (index + 1) */
	int64		j;				/* next negative, walking down */
	int64		tp;
	int64		fp;
	double		threshold;
	int64		steps;
} PrWalk;

static void
pr_walk_init(PrWalk *w, void *inner)
{
	int64		npos,
				nneg;

	memset(w, 0, sizeof(*w));
	ecml_score_label_sorted(inner, &w->pos, &npos, &w->neg, &nneg);
	w->i = npos;
	w->j = nneg;
}

/* Step to the next lower distinct score; false when no rows are left. */
static bool
pr_walk_next(PrWalk *w)
{
	double		v;

	if (w->i == 0 && w->j == 0)
		return false;
	if (w->i == 0)
		v = w->neg[w->j - 1];
	else if (w->j == 0)
		v = w->pos[w->i - 1];
	else
		v = Max(w->pos[w->i - 1], w->neg[w->j - 1]);
	while (w->i > 0 && w->pos[w->i - 1] == v)
	{
		w->i--;
		w->tp++;
	}
	while (w->j > 0 && w->neg[w->j - 1] == v)
	{
		w->j--;
		w->fp++;
	}
	w->threshold = v;
	if ((++w->steps & (PR_INTERRUPT_STRIDE - 1)) == 0)
		CHECK_FOR_INTERRUPTS();
	return true;
}

/* ---- the wrapper state for the three-argument forms ---- */

/* Call one of metrics.c's support functions inside this aggregate call. */
static Datum
call_inner(PGFunction fn, FunctionCallInfo outer, int nargs, Datum *args,
		   bool *nulls, bool *isnull)
{
	LOCAL_FCINFO(fc, 3);
	Datum		result;

	InitFunctionCallInfoData(*fc, outer->flinfo, nargs, outer->fncollation,
							 outer->context, NULL);
	for (int k = 0; k < nargs; k++)
	{
		fc->args[k].value = args[k];
		fc->args[k].isnull = nulls[k];
	}
	result = fn(fc);
	*isnull = fc->isnull;
	return result;
}

static void
param_mismatch(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must be the same in every row", what),
			 errhint("Pass a constant or a query parameter.")));
}

/* Shared transition of the three-argument forms; param already validated. */
static Datum
score_param_step(FunctionCallInfo fcinfo, double param, const char *what)
{
	MemoryContext aggcxt;
	ScoreParamState *st;
	Datum		args[3];
	bool		nulls[3];
	bool		isnull;
	Datum		inner;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "score_param_step called in non-aggregate context");
	st = PG_ARGISNULL(0) ? NULL : (ScoreParamState *) PG_GETARG_POINTER(0);
	if (st == NULL)
		st = MemoryContextAllocZero(aggcxt, sizeof(ScoreParamState));
	if (!st->have_param)
	{
		st->param = param;
		st->have_param = true;
	}
	else if (st->param != param)
		param_mismatch(what);

	args[0] = PointerGetDatum(st->inner);
	nulls[0] = st->inner == NULL;
	args[1] = PG_GETARG_DATUM(1);
	nulls[1] = PG_ARGISNULL(1);
	args[2] = PG_GETARG_DATUM(2);
	nulls[2] = PG_ARGISNULL(2);
	inner = call_inner(ecml_score_label_transfn, fcinfo, 3, args, nulls, &isnull);
	st->inner = isnull ? NULL : DatumGetPointer(inner);
	PG_RETURN_POINTER(st);
}

/*
 * ecml.pr_curve_points_transfn(internal, float8, bool, int) → internal:
 * buffer one row of ecml.pr_curve(score, label, max_points).
 */
PG_FUNCTION_INFO_V1(ecml_pr_curve_points_transfn);
Datum
ecml_pr_curve_points_transfn(PG_FUNCTION_ARGS)
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
	return score_param_step(fcinfo, max_points, "max_points");
}

/*
 * ecml.threshold_for_precision_transfn(internal, float8, bool, float8) →
 * internal: buffer one row of ecml.threshold_for_precision.
 */
PG_FUNCTION_INFO_V1(ecml_threshold_for_precision_transfn);
Datum
ecml_threshold_for_precision_transfn(PG_FUNCTION_ARGS)
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
	return score_param_step(fcinfo, target, "target_precision");
}

/* ecml.score_param_combinefn(internal, internal) → internal */
PG_FUNCTION_INFO_V1(ecml_score_param_combinefn);
Datum
ecml_score_param_combinefn(PG_FUNCTION_ARGS)
{
	ScoreParamState *s1 = PG_ARGISNULL(0) ? NULL : (ScoreParamState *) PG_GETARG_POINTER(0);
	ScoreParamState *s2 = PG_ARGISNULL(1) ? NULL : (ScoreParamState *) PG_GETARG_POINTER(1);
	Datum		args[2];
	bool		nulls[2];
	bool		isnull;
	Datum		inner;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "ecml_score_param_combinefn called in non-aggregate context");
	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	if (s1 == NULL)
		PG_RETURN_POINTER(s2);
	if (s1->have_param && s2->have_param && s1->param != s2->param)
		param_mismatch("the third argument");
	if (!s1->have_param)
	{
		s1->param = s2->param;
		s1->have_param = s2->have_param;
	}
	args[0] = PointerGetDatum(s1->inner);
	nulls[0] = s1->inner == NULL;
	args[1] = PointerGetDatum(s2->inner);
	nulls[1] = s2->inner == NULL;
	inner = call_inner(ecml_score_label_combinefn, fcinfo, 2, args, nulls, &isnull);
	s1->inner = isnull ? NULL : DatumGetPointer(inner);
	PG_RETURN_POINTER(s1);
}

/*
 * Serialized: float8 param, int32 have_param, int32 have_inner, then the
 * inner state as metrics.c serializes it (its varlena, header included).
 */
#define PARAM_SERIAL_HEAD (sizeof(double) + 2 * sizeof(int32))

/* ecml.score_param_serialfn(internal) → bytea */
PG_FUNCTION_INFO_V1(ecml_score_param_serialfn);
Datum
ecml_score_param_serialfn(PG_FUNCTION_ARGS)
{
	ScoreParamState *st = (ScoreParamState *) PG_GETARG_POINTER(0);
	bytea	   *inner = NULL;
	int32		have_param = st->have_param;
	int32		have_inner = st->inner != NULL;
	Size		total = VARHDRSZ + PARAM_SERIAL_HEAD;
	bytea	   *out;
	char	   *p;

	if (st->inner != NULL)
	{
		Datum		arg = PointerGetDatum(st->inner);
		bool		argnull = false;
		bool		isnull;

		inner = DatumGetByteaPP(call_inner(ecml_score_label_serialfn, fcinfo, 1,
										   &arg, &argnull, &isnull));
		total += VARSIZE_ANY(inner);
	}
	if (total > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("partial state of a parallel worker exceeds 1 GB"),
				 errhint("Disable parallel aggregation for this query (SET max_parallel_workers_per_gather = 0) or evaluate a sample.")));
	out = palloc(total);
	SET_VARSIZE(out, total);
	p = VARDATA(out);
	memcpy(p, &st->param, sizeof(double));
	memcpy(p + sizeof(double), &have_param, sizeof(int32));
	memcpy(p + sizeof(double) + sizeof(int32), &have_inner, sizeof(int32));
	if (inner != NULL)
		memcpy(p + PARAM_SERIAL_HEAD, inner, VARSIZE_ANY(inner));
	PG_RETURN_BYTEA_P(out);
}

/* ecml.score_param_deserialfn(bytea, internal) → internal */
PG_FUNCTION_INFO_V1(ecml_score_param_deserialfn);
Datum
ecml_score_param_deserialfn(PG_FUNCTION_ARGS)
{
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	const char *p = VARDATA_ANY(in);
	Size		len = VARSIZE_ANY_EXHDR(in);
	MemoryContext aggcxt;
	ScoreParamState *st;
	int32		have_param,
				have_inner;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "ecml_score_param_deserialfn called in non-aggregate context");
	if (len < PARAM_SERIAL_HEAD)
		elog(ERROR, "invalid ecml score/parameter partial state");
	st = MemoryContextAllocZero(aggcxt, sizeof(ScoreParamState));
	memcpy(&st->param, p, sizeof(double));
	memcpy(&have_param, p + sizeof(double), sizeof(int32));
	memcpy(&have_inner, p + sizeof(double) + sizeof(int32), sizeof(int32));
	st->have_param = have_param != 0;
	p += PARAM_SERIAL_HEAD;
	len -= PARAM_SERIAL_HEAD;
	if (have_inner)
	{
		/* the inner varlena, copied so that it is aligned */
		bytea	   *inner;
		Datum		args[2];
		bool		nulls[2] = {false, true};
		bool		isnull;

		if (len < VARHDRSZ)
			elog(ERROR, "invalid ecml score/parameter partial state");
		inner = palloc(len);
		memcpy(inner, p, len);
		if (VARSIZE_ANY(inner) != len)
			elog(ERROR, "invalid ecml score/parameter partial state");
		args[0] = PointerGetDatum(inner);
		args[1] = (Datum) 0;
		st->inner = DatumGetPointer(call_inner(ecml_score_label_deserialfn, fcinfo, 2,
											   args, nulls, &isnull));
		pfree(inner);
	}
	else if (len != 0)
		elog(ERROR, "invalid ecml score/parameter partial state");
	PG_RETURN_POINTER(st);
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
pr_curve_build(void *inner, int64 max_points, const char *aggname, bool *isnull)
{
	PrWalk		w;
	int64		npos,
				nneg,
				n;
	int64		mark = 1;		/* next mark index, 1..max_points */
	StringInfoData buf;
	bool		first = true;
	const double *dummy;
	EcmlTrainMemory mem;

	ecml_score_label_sorted(inner, &dummy, &npos, &dummy, &nneg);
	n = npos + nneg;
	*isnull = (n == 0);
	if (n == 0)
		return (Datum) 0;
	ecml_train_memory_init(&mem, aggname, sizeof(double) * (Size) n);

	pr_walk_init(&w, inner);
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
 * ecml.pr_curve_finalfn(internal) → jsonb: every distinct score is a
 * point; NULL without rows.
 */
PG_FUNCTION_INFO_V1(ecml_pr_curve_finalfn);
Datum
ecml_pr_curve_finalfn(PG_FUNCTION_ARGS)
{
	bool		isnull;
	Datum		result;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "ecml_pr_curve_finalfn called in non-aggregate context");
	result = pr_curve_build(PG_ARGISNULL(0) ? NULL : PG_GETARG_POINTER(0), 0,
							"ecml.pr_curve", &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/*
 * ecml.pr_curve_points_finalfn(internal) → jsonb: at most max_points
 * points; NULL without rows.
 */
PG_FUNCTION_INFO_V1(ecml_pr_curve_points_finalfn);
Datum
ecml_pr_curve_points_finalfn(PG_FUNCTION_ARGS)
{
	ScoreParamState *st;
	bool		isnull;
	Datum		result;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "ecml_pr_curve_points_finalfn called in non-aggregate context");
	st = PG_ARGISNULL(0) ? NULL : (ScoreParamState *) PG_GETARG_POINTER(0);
	if (st == NULL || st->inner == NULL)
		PG_RETURN_NULL();
	result = pr_curve_build(st->inner, (int64) st->param, "ecml.pr_curve", &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/*
 * ecml.threshold_for_precision_finalfn(internal) → float8: the lowest
 * threshold whose precision reaches the target (the one with the highest
 * recall among them); NULL when none does or without rows.
 */
PG_FUNCTION_INFO_V1(ecml_threshold_for_precision_finalfn);
Datum
ecml_threshold_for_precision_finalfn(PG_FUNCTION_ARGS)
{
	ScoreParamState *st;
	PrWalk		w;
	bool		found = false;
	double		best = 0.0;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "ecml_threshold_for_precision_finalfn called in non-aggregate context");
	st = PG_ARGISNULL(0) ? NULL : (ScoreParamState *) PG_GETARG_POINTER(0);
	if (st == NULL || st->inner == NULL)
		PG_RETURN_NULL();

	/* precision is not monotone in the threshold: look at every one */
	pr_walk_init(&w, st->inner);
	while (pr_walk_next(&w))
	{
		if ((double) w.tp / (double) (w.tp + w.fp) >= st->param)
		{
			best = w.threshold;
			found = true;
		}
	}
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(best);
}
