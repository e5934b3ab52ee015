/*
 * labelrows.c
 *	  The buffered rows of a binary classifier's training aggregate
 *	  (labelrows.h).
 *
 * Serialized state: int32 nfeatures, int32 options length, int64 nrows,
 * nskipped, npos, the options jsonb padded to MAXALIGN, then the rows.
 */
#include "postgres.h"

#include <limits.h>

#include "arrays.h"
#include "ecml.h"
#include "labelrows.h"
#include "options.h"

#define SERIAL_HEAD 32

LabelRows *
labelrows_new(MemoryContext cxt, int max_features, int64 max_rows)
{
	LabelRows  *st = MemoryContextAllocZero(cxt, sizeof(LabelRows));

	st->nfeatures = -1;
	st->max_features = max_features;
	st->max_rows = max_rows;
	return st;
}

static void
labelrows_check_rows(const LabelRows *st, int64 nrows, const char *trainer)
{
	if (nrows >= st->max_rows)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s supports at most " INT64_FORMAT " rows", trainer, st->max_rows - 1),
				 errhint("Train on a sample (TABLESAMPLE).")));
}

float *
labelrows_append(LabelRows *st, int n, bool label, MemoryContext cxt,
				 const char *trainer)
{
	float	   *slot;

	ecml_check_feature_count(n, st->max_features, trainer);
	if (st->nfeatures < 0)
	{
		st->nfeatures = n;
		st->rows.record_size = sizeof(float) * (n + 1);
	}
	ecml_check_same_width(st->nfeatures, n, trainer);
	labelrows_check_rows(st, st->rows.nrows, trainer);

	slot = rowbuf_append(&st->rows, cxt, trainer);
	slot[n] = label ? 1.0f : 0.0f;
	st->npos += label;
	return slot;
}

void
labelrows_combine(LabelRows *s1, LabelRows *s2, MemoryContext cxt,
				  const char *trainer)
{
	if (s2->nfeatures >= 0)
	{
		if (s1->nfeatures < 0)
			s1->nfeatures = s2->nfeatures;
		ecml_check_same_width(s1->nfeatures, s2->nfeatures, trainer);
	}
	labelrows_check_rows(s1, s1->rows.nrows + s2->rows.nrows, trainer);
	rowbuf_move(&s1->rows, &s2->rows, cxt, trainer);
	s1->nskipped += s2->nskipped;
	s1->npos += s2->npos;
	if (s1->options == NULL)
		s1->options = s2->options;
}

bytea *
labelrows_serialize(const LabelRows *st, const char *trainer)
{
	int32		optlen = st->options ? VARSIZE(st->options) : 0;
	char	   *head;
	char	   *rows;
	bytea	   *out;

	out = rowbuf_frame_new(trainer, " or train on a sample", SERIAL_HEAD, st->options,
						   (Size) st->rows.nrows * st->rows.record_size, &head, &rows);
	memcpy(head, &st->nfeatures, 4);
	memcpy(head + 4, &optlen, 4);
	memcpy(head + 8, &st->rows.nrows, 8);
	memcpy(head + 16, &st->nskipped, 8);
	memcpy(head + 24, &st->npos, 8);
	rowbuf_write(&st->rows, rows);
	return out;
}

LabelRows *
labelrows_deserialize(bytea *in, MemoryContext cxt, int max_features, int64 max_rows,
					  const char *what, const char *trainer)
{
	/* straight into the aggregate context: combine then moves chunks */
	LabelRows  *st = labelrows_new(cxt, max_features, max_rows);
	const char *p = rowbuf_frame_head(in, SERIAL_HEAD, what);
	int32		optlen;
	int64		nrows;

	memcpy(&st->nfeatures, p, 4);
	memcpy(&optlen, p + 4, 4);
	memcpy(&nrows, p + 8, 8);
	memcpy(&st->nskipped, p + 16, 8);
	memcpy(&st->npos, p + 24, 8);
	if (st->nfeatures < -1 || st->nfeatures > max_features ||
		(st->nfeatures < 0 && nrows != 0) || nrows < 0 || nrows >= max_rows)
		ecml_partial_state_invalid(what);
	st->rows.record_size = sizeof(float) * (st->nfeatures + 1);
	p = rowbuf_frame_body(in, SERIAL_HEAD, optlen, (Size) nrows * st->rows.record_size,
						  cxt, what, &st->options);
	if (nrows > INT_MAX)
		elog(ERROR, "ecml: %s partial state has too many rows", what);
	rowbuf_read(&st->rows, p, nrows, cxt, trainer);
	return st;
}

/* ---- the aggregate's support functions ---- */

bool
labelrows_transfn_begin(FunctionCallInfo fcinfo, const LabelRowsAgg *agg,
						LabelRows **st, MemoryContext *aggcxt)
{
	*aggcxt = ecml_agg_context(fcinfo, agg->transfn);
	*st = PG_ARGISNULL(0) ? NULL : (LabelRows *) PG_GETARG_POINTER(0);
	if (*st == NULL)
	{
		*st = labelrows_new(*aggcxt, agg->max_features, agg->max_rows);
		(*st)->options = ecml_options_arg(fcinfo, 3, *aggcxt);
		if ((*st)->options != NULL)
			agg->check_options((*st)->options, agg->trainer);
	}
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		(*st)->nskipped++;
		return false;
	}
	return true;
}

/* combine: move state2's chunks into state1 (both in the aggregate context) */
Datum
labelrows_combinefn(FunctionCallInfo fcinfo, const LabelRowsAgg *agg)
{
	MemoryContext aggcxt;
	LabelRows  *s1 = PG_ARGISNULL(0) ? NULL : (LabelRows *) PG_GETARG_POINTER(0);
	LabelRows  *s2 = PG_ARGISNULL(1) ? NULL : (LabelRows *) PG_GETARG_POINTER(1);

	aggcxt = ecml_agg_context(fcinfo, agg->combinefn);
	if (s2 == NULL)
		PG_RETURN_POINTER(s1);
	if (s1 == NULL)
		PG_RETURN_POINTER(s2);

	labelrows_combine(s1, s2, aggcxt, agg->trainer);
	PG_RETURN_POINTER(s1);
}

Datum
labelrows_serialfn(FunctionCallInfo fcinfo, const LabelRowsAgg *agg)
{
	PG_RETURN_BYTEA_P(labelrows_serialize((LabelRows *) PG_GETARG_POINTER(0), agg->trainer));
}

Datum
labelrows_deserialfn(FunctionCallInfo fcinfo, const LabelRowsAgg *agg)
{
	MemoryContext aggcxt;

	aggcxt = ecml_agg_context(fcinfo, agg->deserialfn);
	PG_RETURN_POINTER(labelrows_deserialize(PG_GETARG_BYTEA_PP(0), aggcxt, agg->max_features,
											agg->max_rows, agg->what, agg->trainer));
}
