/*
 * score_bins.c
 *	  The state of the ranking metrics: a bounded, mergeable histogram of
 *	  scores by label.
 *
 * roc_auc, average_precision, pr_curve and threshold_for_precision see the
 * ranking of the rows only through the number of positive and negative
 * rows at each distinct score.  Their state is that table, a bytea of bins
 * sorted by score, updated in place in the aggregate context and merged by
 * a combine function: parallel workers and Citus workers (which push down
 * only aggregates whose state is not internal) each build a partial table.
 *
 * A bin holds the rows whose scores share the leading bits of an
 * order-preserving 64-bit image of the score.  While at most
 * SCORE_BINS_MAX distinct scores are seen every bin keeps all 64 bits, one
 * bin per distinct score, and the metrics are exact.  Past that, the state
 * drops key bits one at a time until its bins fit; the rows of a bin then
 * count as one tied score, and the error this can cause is bounded from the
 * bins themselves (score_summary reports it; a bin keeps its lowest and
 * highest score, so one with both equal is known exact).  A merged state
 * keeps the fewer bits of its parts, and every state keeps the most bits at
 * which its rows fit, so the bins do not depend on how the rows were split
 * among workers or in which order the parts were merged.
 *
 * Rows are appended to a small buffer and merged into the bins in sorted
 * batches: O(log buffer) a row, plus O(bins / buffer) for the merges.
 */
#include "postgres.h"

#include <math.h>

#include "common/int.h"
#include "ecml.h"
#include "ecml_compat.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "score_bins.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#define SCORE_BINS_MAGIC 0x53424E53 /* "SBNS" */
#define SCORE_BUF_MIN 16
#define SCORE_BUF_MAX 4096
#define SCORE_BINS_MIN 16

/* A buffered row. */
typedef struct ScoreRow
{
	double		score;
	int64		label;			/* 0 or 1 */
} ScoreRow;

/* The state: this header, then ScoreBin bins[bins_cap], ScoreRow buf[buf_cap]. */
typedef struct ScoreBins
{
	int32		vl_len_;
	int32		magic;
	int32		bits;			/* key bits kept, 1..64 */
	int32		has_param;		/* pr_curve's max_points, a target precision */
	double		param;
	int64		nbins;
	int64		bins_cap;
	int64		nbuf;
	int64		buf_cap;
} ScoreBins;

#define BINS_OF(s) ((ScoreBin *) ((char *) (s) + sizeof(ScoreBins)))
#define BUF_OF(s) ((ScoreRow *) (BINS_OF(s) + (s)->bins_cap))

/*
 * The score's bits, made to sort as the scores do: flip every bit of a
 * negative number, the sign bit of a positive one.  -0 is 0.
 */
static inline uint64
score_key(double v)
{
	uint64		u;

	if (v == 0.0)
		v = 0.0;
	memcpy(&u, &v, sizeof(u));
	return (u >> 63) ? ~u : (u | (UINT64CONST(1) << 63));
}

static inline uint64
key_prefix(double v, int bits)
{
	uint64		k = score_key(v);

	return bits >= 64 ? k : k >> (64 - bits);
}

#define ST_SORT sort_score_rows
#define ST_ELEMENT_TYPE ScoreRow
#define ST_COMPARE(a, b) \
	((score_key((a)->score) > score_key((b)->score)) - \
	 (score_key((a)->score) < score_key((b)->score)))
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

bool
score_bin_exact(const ScoreBin *b)
{
	return score_key(b->lo) == score_key(b->hi);
}

/*
 * The aggregate being computed, for messages: the support functions are
 * shared, so ask the executor which aggregate called.
 */
static const char *
metric_name(FunctionCallInfo fcinfo)
{
	Aggref	   *aggref = AggGetAggref(fcinfo);
	char	   *name = aggref ? get_func_name(aggref->aggfnoid) : NULL;

	return name ? psprintf("ecml.%s", name) : "the ranking metric";
}

static void
bins_corrupt(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid ranking metric state: %s", what),
			 errhint("The state comes from ecml.score_bins_transfn or ecml.score_bins_combinefn of the same ecml version.")));
}

static Size
bins_size(int64 bins_cap, int64 buf_cap)
{
	return sizeof(ScoreBins) + sizeof(ScoreBin) * bins_cap + sizeof(ScoreRow) * buf_cap;
}

/* A state of the given capacities in CurrentMemoryContext, s's contents copied. */
static ScoreBins *
bins_resize(const ScoreBins *s, int64 bins_cap, int64 buf_cap)
{
	Size		size = bins_size(bins_cap, buf_cap);
	ScoreBins  *t = palloc0(size);

	SET_VARSIZE(t, size);
	t->magic = SCORE_BINS_MAGIC;
	t->bits = 64;
	t->bins_cap = bins_cap;
	t->buf_cap = buf_cap;
	if (s != NULL)
	{
		Assert(s->nbins <= bins_cap && s->nbuf <= buf_cap);
		t->bits = s->bits;
		t->has_param = s->has_param;
		t->param = s->param;
		t->nbins = s->nbins;
		t->nbuf = s->nbuf;
		memcpy(BINS_OF(t), BINS_OF(s), sizeof(ScoreBin) * s->nbins);
		memcpy(BUF_OF(t), BUF_OF(s), sizeof(ScoreRow) * s->nbuf);
	}
	return t;
}

/* What every access needs: sizes that agree with the bytea's length. */
static void
bins_check_header(const ScoreBins *s)
{
	if (VARSIZE(s) < sizeof(ScoreBins) || s->magic != SCORE_BINS_MAGIC)
		bins_corrupt("not a ranking metric state");
	if (s->bits < 1 || s->bits > 64 || (s->has_param != 0 && s->has_param != 1) ||
		s->bins_cap < 0 || s->bins_cap > SCORE_BINS_MAX ||
		s->buf_cap < 0 || s->buf_cap > SCORE_BUF_MAX ||
		s->nbins < 0 || s->nbins > s->bins_cap || s->nbuf < 0 || s->nbuf > s->buf_cap ||
		VARSIZE(s) != bins_size(s->bins_cap, s->buf_cap))
		bins_corrupt("sizes do not match");
}

/*
 * A state from outside this backend (a worker's partial state, a direct
 * call) must also be a histogram: bins ascending and disjoint at its key
 * bits, counts that add up without overflow, no NaN.
 */
static void
bins_check_full(const ScoreBins *s)
{
	const ScoreBin *b = BINS_OF(s);
	const ScoreRow *r = BUF_OF(s);
	int64		total = 0;

	bins_check_header(s);
	for (int64 i = 0; i < s->nbins; i++)
	{
		if (isnan(b[i].lo) || isnan(b[i].hi) || score_key(b[i].lo) > score_key(b[i].hi) ||
			key_prefix(b[i].lo, s->bits) != key_prefix(b[i].hi, s->bits) ||
			(i > 0 && key_prefix(b[i - 1].lo, s->bits) >= key_prefix(b[i].lo, s->bits)))
			bins_corrupt("bins out of order");
		if (b[i].pos < 0 || b[i].neg < 0 || b[i].pos + b[i].neg == 0 ||
			pg_add_s64_overflow(total, b[i].pos, &total) ||
			pg_add_s64_overflow(total, b[i].neg, &total))
			bins_corrupt("bad counts");
	}
	for (int64 i = 0; i < s->nbuf; i++)
		if (isnan(r[i].score) || (r[i].label != 0 && r[i].label != 1))
			bins_corrupt("bad buffered row");
	if (s->has_param && isnan(s->param))
		bins_corrupt("bad parameter");
}

/* Join runs of bins that share their first bits key bits; returns the count. */
static int64
bins_coalesce(ScoreBin *b, int64 n, int bits)
{
	int64		out = 0;

	for (int64 i = 0; i < n; i++)
	{
		if (out > 0 && key_prefix(b[out - 1].lo, bits) == key_prefix(b[i].lo, bits))
		{
			ScoreBin   *t = &b[out - 1];

			if (score_key(b[i].hi) > score_key(t->hi))
				t->hi = b[i].hi;
			t->pos += b[i].pos;
			t->neg += b[i].neg;
		}
		else
			b[out++] = b[i];
	}
	return out;
}

/* Merge two ascending bin arrays into dst, joining bins at bits. */
static int64
bins_merge(ScoreBin *dst, const ScoreBin *a, int64 na, const ScoreBin *b, int64 nb)
{
	int64		i = 0,
				j = 0,
				k = 0;

	while (i < na || j < nb)
	{
		if (j >= nb || (i < na && score_key(a[i].lo) <= score_key(b[j].lo)))
			dst[k++] = a[i++];
		else
			dst[k++] = b[j++];
	}
	return k;
}

/* Drop key bits until the bins fit. */
static int64
bins_fit(ScoreBin *b, int64 n, int *bits)
{
	while (n > SCORE_BINS_MAX)
	{
		CHECK_FOR_INTERRUPTS();
		(*bits)--;
		n = bins_coalesce(b, n, *bits);
	}
	return n;
}

/* The buffered rows as ascending bins at s's bits, in a new array. */
static ScoreBin *
buffer_as_bins(const ScoreBins *s, int64 *n)
{
	ScoreRow   *rows = palloc(sizeof(ScoreRow) * Max(s->nbuf, 1));
	ScoreBin   *run = palloc(sizeof(ScoreBin) * Max(s->nbuf, 1));

	memcpy(rows, BUF_OF(s), sizeof(ScoreRow) * s->nbuf);
	sort_score_rows(rows, s->nbuf);
	for (int64 i = 0; i < s->nbuf; i++)
	{
		run[i].lo = run[i].hi = rows[i].score;
		run[i].pos = rows[i].label;
		run[i].neg = 1 - rows[i].label;
	}
	*n = bins_coalesce(run, s->nbuf, s->bits);
	pfree(rows);
	return run;
}

/*
 * Bins a and b (ascending, at most at bits key bits) as s's new bins, in
 * place when they fit s's capacity; returns s or its grown copy.
 */
static ScoreBins *
bins_store(ScoreBins *s, const ScoreBin *a, int64 na, const ScoreBin *b, int64 nb, int bits)
{
	ScoreBin   *merged = palloc(sizeof(ScoreBin) * Max(na + nb, 1));
	int64		n = bins_merge(merged, a, na, b, nb);

	n = bins_coalesce(merged, n, bits);
	n = bins_fit(merged, n, &bits);
	s->bits = bits;
	s->nbins = 0;
	if (n > s->bins_cap)
		s = bins_resize(s, Min(SCORE_BINS_MAX, Max(n, 2 * s->bins_cap)), s->buf_cap);
	memcpy(BINS_OF(s), merged, sizeof(ScoreBin) * n);
	s->nbins = n;
	pfree(merged);
	return s;
}

/* Move the buffered rows into the bins; returns s or its grown copy. */
static ScoreBins *
bins_flush(ScoreBins *s)
{
	int64		nrun;
	ScoreBin   *run;

	if (s->nbuf == 0)
		return s;
	run = buffer_as_bins(s, &nrun);
	s->nbuf = 0;
	s = bins_store(s, BINS_OF(s), s->nbins, run, nrun, s->bits);
	pfree(run);
	return s;
}

static ScoreBins *
bins_add(ScoreBins *s, double score, bool label)
{
	ScoreRow   *r;

	if (s->nbuf == s->buf_cap)
	{
		s = bins_flush(s);
		if (s->buf_cap < SCORE_BUF_MAX)
			s = bins_resize(s, s->bins_cap,
							Min(SCORE_BUF_MAX, Max(SCORE_BUF_MIN, 2 * s->buf_cap)));
	}
	r = &BUF_OF(s)[s->nbuf++];
	r->score = score;
	r->label = label ? 1 : 0;
	return s;
}

/*
 * The state argument.  In an aggregate it is this aggregate's own state,
 * updated in place; called directly, a checked copy.
 */
static ScoreBins *
bins_arg(FunctionCallInfo fcinfo, int argno)
{
	ScoreBins  *s;

	if (PG_ARGISNULL(argno))
		return NULL;
	if (AggCheckCallContext(fcinfo, NULL))
	{
		s = (ScoreBins *) PG_GETARG_BYTEA_P(argno);
		bins_check_header(s);
	}
	else
	{
		s = (ScoreBins *) PG_GETARG_BYTEA_P_COPY(argno);
		bins_check_full(s);
	}
	return s;
}

static void
param_mismatch(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must be the same in every row", what),
			 errhint("Pass a constant or a query parameter.")));
}

/*
 * The transition of every ranking metric: add one (score, label) row;
 * rows with a NULL score or label are skipped.  A new state is allocated
 * in the per-row context: the executor copies it into its own.
 */
Datum
score_bins_step(FunctionCallInfo fcinfo, bool has_param, double param,
				const char *param_name)
{
	ScoreBins  *s = bins_arg(fcinfo, 0);
	double		score;

	if (s != NULL && (s->has_param != has_param || (has_param && s->param != param)))
		param_mismatch(param_name);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(s);
	}
	score = PG_GETARG_FLOAT8(1);
	/* NaN has no place in a ranking */
	if (isnan(score))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("score must not be NaN"),
				 errhint("Skip or replace NaN scores before calling %s, for example with NULLIF(score, 'NaN').",
						 metric_name(fcinfo))));
	if (s == NULL)
	{
		s = bins_resize(NULL, SCORE_BINS_MIN, SCORE_BUF_MIN);
		s->has_param = has_param;
		s->param = has_param ? param : 0.0;
	}
	s = bins_add(s, score, PG_GETARG_BOOL(2));
	PG_RETURN_BYTEA_P(s);
}

/*
 * ecml.score_bins_transfn(bytea, float8, bool) → bytea: the transition of
 * roc_auc, average_precision, pr_curve(score, label) and score_summary.
 */
PG_FUNCTION_INFO_V1(score_bins_transfn);
Datum
score_bins_transfn(PG_FUNCTION_ARGS)
{
	return score_bins_step(fcinfo, false, 0.0, "the third argument");
}

/*
 * ecml.score_bins_combinefn(bytea, bytea) → bytea: merge two partial
 * states at the fewer key bits of the two.
 */
PG_FUNCTION_INFO_V1(score_bins_combinefn);
Datum
score_bins_combinefn(PG_FUNCTION_ARGS)
{
	ScoreBins  *a = bins_arg(fcinfo, 0);
	ScoreBins  *b;
	ScoreBin   *run;
	int64		nrun;
	ScoreBin   *bb;
	int64		nbb;

	if (PG_ARGISNULL(1))
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(a);
	}
	/* a copy: the other part may be a worker's tuple, not aligned for doubles */
	b = (ScoreBins *) PG_GETARG_BYTEA_P_COPY(1);
	bins_check_full(b);
	if (a == NULL)
		PG_RETURN_BYTEA_P(bins_resize(b, b->bins_cap, b->buf_cap));
	if (a->has_param != b->has_param || (a->has_param && a->param != b->param))
		param_mismatch("the third argument");

	a = bins_flush(a);
	run = buffer_as_bins(b, &nrun);
	bb = palloc(sizeof(ScoreBin) * Max(b->nbins + nrun, 1));
	nbb = bins_merge(bb, BINS_OF(b), b->nbins, run, nrun);
	a = bins_store(a, BINS_OF(a), a->nbins, bb, nbb, Min(a->bits, b->bits));
	pfree(run);
	pfree(bb);
	PG_RETURN_BYTEA_P(a);
}

/*
 * The final functions' view of the state in argument 0: checked, flushed
 * (on a copy: the state may be shared with other final functions) and
 * counted.  False when there is no row.
 */
bool
score_bins_view(FunctionCallInfo fcinfo, ScoreBinsView *view)
{
	ScoreBins  *s;

	memset(view, 0, sizeof(*view));
	if (PG_ARGISNULL(0))
		return false;
	s = (ScoreBins *) PG_GETARG_BYTEA_P_COPY(0);
	bins_check_full(s);
	s = bins_flush(s);
	view->bins = BINS_OF(s);
	view->nbins = s->nbins;
	view->bits = s->bits;
	view->has_param = s->has_param;
	view->param = s->param;
	for (int64 i = 0; i < s->nbins; i++)
	{
		view->npos += view->bins[i].pos;
		view->nneg += view->bins[i].neg;
	}
	return view->nbins > 0;
}
