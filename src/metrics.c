/*
 * metrics.c
 *	  Evaluation aggregates: ecml.roc_auc, ecml.average_precision and
 *	  ecml.log_loss, exact and with ties treated as scikit-learn 1.2 does.
 *
 * roc_auc and average_precision need the whole ranking, so they buffer the
 * scores: positives and negatives in two separate float8 arrays (the array
 * a score is in is its label, 8 bytes a row).  The two aggregates share one
 * transition, combine, serialize and deserialize function, so PostgreSQL
 * buffers the rows once when a query asks for both over the same arguments.
 * Parallel workers sort their share before serializing it; combining merges
 * sorted runs, so the leader's final step is a linear walk.
 *
 * log_loss needs only a count and a sum: its state is a float8[]
 * {count, sum, compensation} that any parallel or distributed plan can
 * carry.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "arrays.h"
#include "catalog/pg_type.h"
#include "ecml.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* Room for this many scores per class when a class first appears. */
#define SCORES_INITIAL_CAPACITY 32

/* Rows between interrupt checks in the linear walks over sorted scores. */
#define SCORES_INTERRUPT_STRIDE (1 << 20)

/* A growable array of scores of one class. */
typedef struct ScoreArray
{
	double	   *values;
	int64		n;
	int64		capacity;
} ScoreArray;

/* The state shared by roc_auc and average_precision. */
typedef struct ScoreLabelState
{
	ScoreArray	pos;			/* scores of rows labelled true */
	ScoreArray	neg;			/* scores of rows labelled false */
	bool		sorted;			/* both arrays ascending */
} ScoreLabelState;

/* An ascending, interruptible quicksort specialized for float8 without NaN. */
#define ST_SORT sort_scores
#define ST_ELEMENT_TYPE double
#define ST_COMPARE(a, b) ((*(a) > *(b)) - (*(a) < *(b)))
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * The aggregate being computed, for messages: the transition functions are
 * shared, so ask the executor which aggregate called.  When roc_auc and
 * average_precision share one state, either name may come back.
 */
static const char *
metric_name(FunctionCallInfo fcinfo)
{
	Aggref	   *aggref = AggGetAggref(fcinfo);
	char	   *name = aggref ? get_func_name(aggref->aggfnoid) : NULL;

	return name ? psprintf("ecml.%s", name) : "ecml.roc_auc or ecml.average_precision";
}

static Size
state_bytes(const ScoreLabelState *st)
{
	return sizeof(ScoreLabelState) +
		sizeof(double) * (Size) (st->pos.capacity + st->neg.capacity);
}

/*
 * Make room for need scores in a, doubling its capacity but never past
 * ecml.train_memory_limit when fewer would do, so that the limit is reached
 * by rows actually buffered rather than by the growth policy (and the error
 * reports what the rows need).
 */
static void
score_array_reserve(ScoreLabelState *st, ScoreArray *a, int64 need,
					MemoryContext aggcxt, FunctionCallInfo fcinfo)
{
	Size		other = state_bytes(st) - sizeof(double) * (Size) a->capacity;
	Size		room = ecml_train_memory_room(other) / sizeof(double);
	int64		newcap;

	if (need <= a->capacity)
		return;
	newcap = Max(need, Max(SCORES_INITIAL_CAPACITY, a->capacity * 2));
	if ((Size) newcap > room)
		newcap = Max(need, (int64) room);
	ecml_check_train_memory(other + sizeof(double) * (Size) newcap,
							metric_name(fcinfo));

	if (a->values == NULL)
		a->values = MemoryContextAllocHuge(aggcxt, sizeof(double) * (Size) newcap);
	else
		a->values = repalloc_huge(a->values, sizeof(double) * (Size) newcap);
	a->capacity = newcap;
}

static void
state_sort(ScoreLabelState *st)
{
	if (st->sorted)
		return;
	sort_scores(st->pos.values, st->pos.n);
	sort_scores(st->neg.values, st->neg.n);
	st->sorted = true;
}

/* Merge the ascending b into the ascending a, in a new array of exact size. */
static void
score_array_merge(ScoreArray *a, const ScoreArray *b, MemoryContext aggcxt)
{
	int64		n = a->n + b->n;
	double	   *out;
	int64		i = 0,
				j = 0,
				k = 0;

	if (b->n == 0)
		return;
	out = MemoryContextAllocHuge(aggcxt, sizeof(double) * (Size) n);
	while (i < a->n && j < b->n)
	{
		if ((k & (SCORES_INTERRUPT_STRIDE - 1)) == 0)
			CHECK_FOR_INTERRUPTS();
		out[k++] = a->values[i] <= b->values[j] ? a->values[i++] : b->values[j++];
	}
	if (i < a->n)
		ecml_copy_interruptible(out + k, a->values + i, sizeof(double) * (Size) (a->n - i));
	if (j < b->n)
		ecml_copy_interruptible(out + k, b->values + j, sizeof(double) * (Size) (b->n - j));
	if (a->values)
		pfree(a->values);
	a->values = out;
	a->n = a->capacity = n;
}

/* ---- roc_auc / average_precision: the shared state functions ---- */

/*
 * ecml.score_label_transfn(internal, float8, bool) → internal: buffer one
 * (score, label) row; rows with a NULL score or label are skipped.
 */
PG_FUNCTION_INFO_V1(ecml_score_label_transfn);
Datum
ecml_score_label_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ScoreLabelState *st;
	ScoreArray *a;
	double		score;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "ecml_score_label_transfn called in non-aggregate context");

	st = PG_ARGISNULL(0) ? NULL : (ScoreLabelState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}

	score = PG_GETARG_FLOAT8(1);
	/* NaN has no place in a ranking: it would make the sort inconsistent */
	if (isnan(score))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("score must not be NaN"),
				 errhint("Skip or replace NaN scores before calling %s, for example with NULLIF(score, 'NaN').",
						 metric_name(fcinfo))));

	if (st == NULL)
		st = MemoryContextAllocZero(aggcxt, sizeof(ScoreLabelState));
	a = PG_GETARG_BOOL(2) ? &st->pos : &st->neg;
	if (a->n == a->capacity)
		score_array_reserve(st, a, a->n + 1, aggcxt, fcinfo);
	a->values[a->n++] = score;
	st->sorted = false;

	PG_RETURN_POINTER(st);
}

/*
 * ecml.score_label_combinefn(internal, internal) → internal: merge two
 * partial states.  Both are sorted (a worker sorts before serializing), so
 * merging keeps the result sorted and the final function need not sort.
 */
PG_FUNCTION_INFO_V1(ecml_score_label_combinefn);
Datum
ecml_score_label_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ScoreLabelState *s1 = PG_ARGISNULL(0) ? NULL : (ScoreLabelState *) PG_GETARG_POINTER(0);
	ScoreLabelState *s2 = PG_ARGISNULL(1) ? NULL : (ScoreLabelState *) PG_GETARG_POINTER(1);

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "ecml_score_label_combinefn called in non-aggregate context");
	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	/* s2 comes from the deserialize function, which allocates in aggcxt */
	if (s1 == NULL)
		PG_RETURN_POINTER(s2);

	/* both states, and the larger merged class while its parts still exist */
	ecml_check_train_memory(state_bytes(s1) + state_bytes(s2) +
							sizeof(double) * (Size) Max(s1->pos.n + s2->pos.n,
														s1->neg.n + s2->neg.n),
							metric_name(fcinfo));
	state_sort(s1);
	state_sort(s2);
	score_array_merge(&s1->pos, &s2->pos, aggcxt);
	score_array_merge(&s1->neg, &s2->neg, aggcxt);
	PG_RETURN_POINTER(s1);
}

/*
 * Serialized state: int64 positives, int64 negatives, then their scores
 * (ascending), native byte order (it only travels between the processes of
 * one server).
 */
#define SCORE_SERIAL_HEAD (2 * sizeof(int64))

/*
 * ecml.score_label_serialfn(internal) → bytea: a worker's partial state,
 * sorted first so that the leader only merges.
 */
PG_FUNCTION_INFO_V1(ecml_score_label_serialfn);
Datum
ecml_score_label_serialfn(PG_FUNCTION_ARGS)
{
	ScoreLabelState *st = (ScoreLabelState *) PG_GETARG_POINTER(0);
	Size		total = VARHDRSZ + SCORE_SERIAL_HEAD +
		sizeof(double) * (Size) (st->pos.n + st->neg.n);
	bytea	   *out;
	char	   *p;

	if (total > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("partial state of a parallel worker exceeds 1 GB (%lld rows)",
						(long long) (st->pos.n + st->neg.n)),
				 errhint("Disable parallel aggregation for this query (SET max_parallel_workers_per_gather = 0) or evaluate a sample.")));

	state_sort(st);
	out = palloc(total);
	SET_VARSIZE(out, total);
	p = VARDATA(out);
	memcpy(p, &st->pos.n, sizeof(int64));
	memcpy(p + sizeof(int64), &st->neg.n, sizeof(int64));
	p += SCORE_SERIAL_HEAD;
	if (st->pos.n > 0)
		ecml_copy_interruptible(p, st->pos.values, sizeof(double) * (Size) st->pos.n);
	p += sizeof(double) * (Size) st->pos.n;
	if (st->neg.n > 0)
		ecml_copy_interruptible(p, st->neg.values, sizeof(double) * (Size) st->neg.n);
	PG_RETURN_BYTEA_P(out);
}

static void
score_array_load(ScoreArray *a, const char *src, int64 n, MemoryContext aggcxt)
{
	a->n = a->capacity = n;
	if (n > 0)
	{
		a->values = MemoryContextAllocHuge(aggcxt, sizeof(double) * (Size) n);
		ecml_copy_interruptible(a->values, src, sizeof(double) * (Size) n);
	}
}

/*
 * ecml.score_label_deserialfn(bytea, internal) → internal: rebuild a
 * worker's partial state in the aggregate context.
 */
PG_FUNCTION_INFO_V1(ecml_score_label_deserialfn);
Datum
ecml_score_label_deserialfn(PG_FUNCTION_ARGS)
{
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	const char *p = VARDATA_ANY(in);
	Size		len = VARSIZE_ANY_EXHDR(in);
	MemoryContext aggcxt;
	ScoreLabelState *st;
	int64		npos,
				nneg;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "ecml_score_label_deserialfn called in non-aggregate context");
	if (len < SCORE_SERIAL_HEAD)
		elog(ERROR, "invalid ecml.roc_auc/average_precision partial state");
	memcpy(&npos, p, sizeof(int64));
	memcpy(&nneg, p + sizeof(int64), sizeof(int64));
	/* a bytea holds at most 1 GB, which bounds both counts */
	if (npos < 0 || nneg < 0 ||
		(Size) npos > MaxAllocSize / sizeof(double) ||
		(Size) nneg > MaxAllocSize / sizeof(double) ||
		len != SCORE_SERIAL_HEAD + sizeof(double) * (Size) (npos + nneg))
		elog(ERROR, "invalid ecml.roc_auc/average_precision partial state");

	st = MemoryContextAllocZero(aggcxt, sizeof(ScoreLabelState));
	p += SCORE_SERIAL_HEAD;
	score_array_load(&st->pos, p, npos, aggcxt);
	score_array_load(&st->neg, p + sizeof(double) * (Size) npos, nneg, aggcxt);
	st->sorted = true;
	PG_RETURN_POINTER(st);
}

/* ---- roc_auc ---- */

/*
 * The Mann-Whitney statistic over ascending positives and negatives: the
 * fraction of (positive, negative) pairs ranked right, a tie counting one
 * half.  This is the area under the ROC curve with tied scores joined by a
 * straight segment, which is what scikit-learn's roc_auc_score computes
 * (Hanley & McNeil 1982; Fawcett 2006, section 7).
 */
#ifdef HAVE_INT128
typedef uint128 TwiceU;			/* exact: at most 2 * npos * nneg */
#else
typedef long double TwiceU;
#endif

static double
roc_auc_sorted(const ScoreArray *pos, const ScoreArray *neg)
{
	TwiceU		twice_u = 0;
	int64		i = 0;			/* negatives below the current score */
	int64		j = 0;
	int64		next_check = SCORES_INTERRUPT_STRIDE;

	while (j < pos->n)
	{
		double		v = pos->values[j];
		int64		npos_v = 0;
		int64		nneg_v = 0;

		while (j < pos->n && pos->values[j] == v)
		{
			j++;
			npos_v++;
		}
		while (i < neg->n && neg->values[i] < v)
			i++;
		while (i + nneg_v < neg->n && neg->values[i + nneg_v] == v)
			nneg_v++;

		/* each positive at v beats i negatives and ties with nneg_v */
		twice_u += (TwiceU) npos_v * (TwiceU) (2 * i + nneg_v);
		i += nneg_v;

		if (i + j >= next_check)
		{
			CHECK_FOR_INTERRUPTS();
			next_check = i + j + SCORES_INTERRUPT_STRIDE;
		}
	}
	return (double) twice_u / (2.0 * (double) pos->n * (double) neg->n);
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
 * ecml.roc_auc_finalfn(internal) → float8: area under the ROC curve; NULL
 * without rows of both classes.
 */
PG_FUNCTION_INFO_V1(ecml_roc_auc_finalfn);
Datum
ecml_roc_auc_finalfn(PG_FUNCTION_ARGS)
{
	ScoreLabelState *st;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "ecml_roc_auc_finalfn called in non-aggregate context");
	st = PG_ARGISNULL(0) ? NULL : (ScoreLabelState *) PG_GETARG_POINTER(0);
	/* undefined with one class (scikit-learn raises); NULL suits GROUP BY */
	if (st == NULL || st->pos.n == 0 || st->neg.n == 0)
		PG_RETURN_NULL();

	/* sorting in place keeps the state's meaning: FINALFUNC_MODIFY = READ_ONLY */
	state_sort(st);
	PG_RETURN_FLOAT8(roc_auc_sorted(&st->pos, &st->neg));
}

/* ---- average_precision ---- */

/*
 * AP = sum over thresholds t, from the highest score down, of
 * (R_t - R_{t-1}) * P_t, where all rows with the same score form one
 * threshold: recall rises by (positives at t) / (all positives), and
 * P_t is the precision of the rows scored at least t.  This is
 * scikit-learn's average_precision_score (no interpolation).
 */
static double
average_precision_sorted(const ScoreArray *pos, const ScoreArray *neg)
{
	int64		i = neg->n - 1;
	int64		j = pos->n - 1;
	int64		tp = 0;
	int64		fp = 0;
	int64		next_check = SCORES_INTERRUPT_STRIDE;
	long double sum = 0.0;
	long double comp = 0.0;

	/* below the lowest positive score, recall no longer rises: stop there */
	while (j >= 0)
	{
		double		v = pos->values[j];
		int64		npos_v = 0;

		/* negatives scored above v, and those tied with it, rank at least v */
		while (i >= 0 && neg->values[i] >= v)
		{
			i--;
			fp++;
		}
		while (j >= 0 && pos->values[j] == v)
		{
			j--;
			npos_v++;
		}
		tp += npos_v;
		neumaier_add_long(&sum, &comp,
						  (long double) npos_v * tp / (long double) (tp + fp));

		if (tp + fp >= next_check)
		{
			CHECK_FOR_INTERRUPTS();
			next_check = tp + fp + SCORES_INTERRUPT_STRIDE;
		}
	}
	return (double) ((sum + comp) / (long double) pos->n);
}

/*
 * ecml.average_precision_finalfn(internal) → float8: average precision;
 * NULL without positive rows (recall is undefined), 1 without negatives.
 */
PG_FUNCTION_INFO_V1(ecml_average_precision_finalfn);
Datum
ecml_average_precision_finalfn(PG_FUNCTION_ARGS)
{
	ScoreLabelState *st;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "ecml_average_precision_finalfn called in non-aggregate context");
	st = PG_ARGISNULL(0) ? NULL : (ScoreLabelState *) PG_GETARG_POINTER(0);
	if (st == NULL || st->pos.n == 0)
		PG_RETURN_NULL();

	state_sort(st);
	PG_RETURN_FLOAT8(average_precision_sorted(&st->pos, &st->neg));
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
	if (AggCheckCallContext(fcinfo, NULL))
		return PG_GETARG_ARRAYTYPE_P(argno);
	return PG_GETARG_ARRAYTYPE_P_COPY(argno);
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

/* ---- access for other aggregates sharing the state (pr_curve.c) ---- */

/*
 * The ascending scores of each class in a score_label state (NULL: no
 * rows), sorted in place first like the final functions above do.
 */
void
ecml_score_label_sorted(void *state, const double **pos, int64 *npos,
						const double **neg, int64 *nneg)
{
	ScoreLabelState *st = (ScoreLabelState *) state;

	*pos = *neg = NULL;
	*npos = *nneg = 0;
	if (st == NULL)
		return;
	state_sort(st);
	*pos = st->pos.values;
	*npos = st->pos.n;
	*neg = st->neg.values;
	*nneg = st->neg.n;
}
