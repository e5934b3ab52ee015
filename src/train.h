/*
 * train.h
 *	  ecml.train(kind, source, options): training in bounded memory, one
 *	  SQL aggregate query over the source per pass (train.c, train_pass.c).  A kind's
 *	  multi-pass trainer runs its passes through the driver and returns the
 *	  model; the driver owns the source, the snapshot, progress and the
 *	  pass history.
 */
#ifndef ECML_TRAIN_H
#define ECML_TRAIN_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

typedef struct EcmlTrainDriver
{
	const char *kind;
	const char *source;			/* the user's query */
	int			ncols;
	Oid			coltypes[3];	/* the source's column types */
	char	   *from;			/* "(source) AS ecml_source(c1, ...)" */
	int			passes;			/* run so far */
	TimestampTz start;
	StringInfoData history;		/* JSON array: one object per pass */
} EcmlTrainDriver;

/*
 * Run one pass: "SELECT <select> FROM <source>" with $1 = params (may be
 * (Datum) 0 with paramtype InvalidOid for none), in the caller's snapshot;
 * returns the one non-NULL result, copied into the caller's memory context.
 * what names the pass in progress messages and the history.
 */
extern Datum ecml_train_pass(EcmlTrainDriver *d, const char *what, const char *select,
							 Oid paramtype, Datum param, bool *isnull);

/*
 * Run one pass whose query (the whole SQL, d->from already in it) returns
 * many rows, in the caller's snapshot; fn sees each row.  Returns the
 * number of rows.
 */
typedef void (*EcmlPassRowFn) (HeapTuple tuple, TupleDesc desc, void *arg);
extern int64 ecml_train_pass_rows(EcmlTrainDriver *d, const char *what, const char *query,
								  int nparams, Oid *types, Datum *values,
								  EcmlPassRowFn fn, void *arg);

/*
 * The lifecycle options of ecml.train (lifecycle.c): holdout,
 * validation_fraction, promote, tolerance and metric, taken out of the
 * options before the trainer sees them; with save_as the model is saved as
 * a version by ecml.save_version(), scored on the held-out rows.
 */
typedef struct EcmlLifecycleOptions
{
	char	   *holdout;		/* a SELECT of held-out rows, or NULL */
	double		validation_fraction;	/* > 0: hold out this share of the source */
	Jsonb	   *save_options;	/* promote, tolerance, metric */
} EcmlLifecycleOptions;

extern void ecml_lifecycle_take_options(Jsonb **options, bool saving, EcmlLifecycleOptions *lo);
extern void ecml_lifecycle_prepare(EcmlTrainDriver *d, EcmlLifecycleOptions *lo);
extern void ecml_lifecycle_save(const char *name, bytea *model, Jsonb *train_options,
								EcmlLifecycleOptions *lo, double seconds);

/* Multi-pass trainers, one per kind. */
extern bytea *logreg_train_passes(EcmlTrainDriver *d, Jsonb *options);
extern bytea *mf_train_passes(EcmlTrainDriver *d, Jsonb *options);
extern bytea *iforest_train_passes(EcmlTrainDriver *d, Jsonb *options);
extern bytea *gbdt_train_passes(EcmlTrainDriver *d, Jsonb *options);
extern bytea *lstm_train_passes(EcmlTrainDriver *d, Jsonb *options);
extern bytea *word2vec_train_passes(EcmlTrainDriver *d, Jsonb *options);

#endif							/* ECML_TRAIN_H */
