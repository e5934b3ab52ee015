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
#include "labelrows.h"

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
		elog(ERROR, "ecml: invalid %s partial state", what);
	st->rows.record_size = sizeof(float) * (st->nfeatures + 1);
	p = rowbuf_frame_body(in, SERIAL_HEAD, optlen, (Size) nrows * st->rows.record_size,
						  cxt, what, &st->options);
	if (nrows > INT_MAX)
		elog(ERROR, "ecml: %s partial state has too many rows", what);
	rowbuf_read(&st->rows, p, nrows, cxt, trainer);
	return st;
}
