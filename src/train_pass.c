/*
 * train_pass.c
 *	  One pass of ecml.train() (train.c): an aggregate query over the
 *	  source, run through SPI in the calling statement's snapshot, with its
 *	  history entry and progress message.  The kinds' multi-pass trainers
 *	  (logreg_passes.c, mf_passes.c) call these; the driver calls the
 *	  trainers, so these live apart from it.
 */
#include "postgres.h"

#include "ecml.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "train.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/timestamp.h"

/* A pass is over: its history entry and progress message. */
static void
train_pass_done(EcmlTrainDriver *d, const char *what, TimestampTz start)
{
	double		seconds = ecml_elapsed_seconds(start);

	appendStringInfo(&d->history, "%s{\"pass\": %d, \"what\": \"%s\", \"seconds\": %.3f}",
					 d->passes > 1 ? ", " : "", d->passes, what, seconds);
	ecml_progress_notice("ecml.train(%s): pass %d (%s) took %.2f s, %.2f s elapsed",
						 d->kind, d->passes, what, seconds, ecml_elapsed_seconds(d->start));
}

Datum
ecml_train_pass(EcmlTrainDriver *d, const char *what, const char *select,
				Oid paramtype, Datum param, bool *isnull)
{
	TimestampTz start = GetCurrentTimestamp();
	StringInfoData sql;
	int			rc;
	Datum		result;
	Form_pg_attribute att;

	CHECK_FOR_INTERRUPTS();
	d->passes++;
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s FROM %s", select, d->from);
	/* read-only: the calling statement's snapshot, not a new one per pass */
	rc = SPI_execute_with_args(sql.data, paramtype == InvalidOid ? 0 : 1, &paramtype,
							   &param, NULL, true, 0);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "ecml.train: pass %d returned %s", d->passes, SPI_result_code_string(rc));
	att = TupleDescAttr(SPI_tuptable->tupdesc, 0);
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
	if (!*isnull)
		result = datumCopy(result, att->attbyval, att->attlen);
	SPI_freetuptable(SPI_tuptable);
	pfree(sql.data);

	train_pass_done(d, what, start);
	return result;
}

/*
 * Run one pass whose query returns many rows (a grouped aggregate: one row
 * per user or item), in the caller's snapshot; fn sees each row.  The rows
 * are one side of the model, which the trainer holds anyway; they are
 * fetched with SPI_execute rather than a cursor so that the pass may run
 * in parallel workers.  Returns the row count.
 */
int64
ecml_train_pass_rows(EcmlTrainDriver *d, const char *what, const char *query,
					 int nparams, Oid *types, Datum *values,
					 EcmlPassRowFn fn, void *arg)
{
	TimestampTz start = GetCurrentTimestamp();
	int			rc;
	uint64		n;

	CHECK_FOR_INTERRUPTS();
	d->passes++;
	rc = SPI_execute_with_args(query, nparams, types, values, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "ecml.train: pass %d returned %s", d->passes, SPI_result_code_string(rc));
	n = SPI_processed;
	for (uint64 r = 0; r < n; r++)
	{
		if ((r & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		fn(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, arg);
	}
	SPI_freetuptable(SPI_tuptable);
	train_pass_done(d, what, start);
	return (int64) n;
}
