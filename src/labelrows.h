/*
 * labelrows.h
 *	  The state of a binary classifier's training aggregate (logreg_train,
 *	  fraud_train): float32 feature rows, each followed by its 0/1 label, in
 *	  a row buffer, with the counts the final function reports.
 */
#ifndef ECML_LABELROWS_H
#define ECML_LABELROWS_H

#include "postgres.h"

#include "rowbuf.h"
#include "utils/jsonb.h"

typedef struct LabelRows
{
	int			nfeatures;		/* -1 until the first row */
	int			max_features;
	int64		max_rows;		/* rows must stay below this */
	int64		nskipped;		/* rows with a NULL feature vector or label */
	int64		npos;
	Rowbuf		rows;			/* nfeatures floats (fraud_train: NaN is
								 * missing), then the label */
	Jsonb	   *options;		/* as given with the first row, or NULL */
} LabelRows;

extern LabelRows *labelrows_new(MemoryContext cxt, int max_features, int64 max_rows);

/*
 * Check a row of n features against the limits and the earlier rows, then
 * room for it, its label set; the caller fills in the n features.
 */
extern float *labelrows_append(LabelRows *st, int n, bool label, MemoryContext cxt,
							   const char *trainer);

/* combine: move s2's rows after s1's and add up the counts. */
extern void labelrows_combine(LabelRows *s1, LabelRows *s2, MemoryContext cxt,
							  const char *trainer);

/* serial/deserial; what names the state in "invalid ... partial state". */
extern bytea *labelrows_serialize(const LabelRows *st, const char *trainer);
extern LabelRows *labelrows_deserialize(bytea *in, MemoryContext cxt, int max_features,
										int64 max_rows, const char *what,
										const char *trainer);

/*
 * The support functions both classifiers' aggregates share: each describes
 * itself once and its SQL-callable wrappers call these.
 */
typedef struct LabelRowsAgg
{
	const char *trainer;		/* "ecml.logreg_train", for messages */
	const char *what;			/* names the partial state: "logreg_train" */
	int			max_features;
	int64		max_rows;		/* rows must stay below this */
	/* parse the options of the first row, so that a bad one fails early */
	void		(*check_options)(Jsonb *options, const char *trainer);
	/* the C support functions, for the called-outside-an-aggregate error */
	const char *transfn;
	const char *combinefn;
	const char *deserialfn;
} LabelRowsAgg;

/*
 * transition: the state (made with the first row, options from argument
 * 3), and true when this row is to be buffered; a row whose vector
 * (argument 1) or label (argument 2) is NULL is counted as skipped instead.
 */
extern bool labelrows_transfn_begin(FunctionCallInfo fcinfo, const LabelRowsAgg *agg,
									LabelRows **st, MemoryContext *aggcxt);
extern Datum labelrows_combinefn(FunctionCallInfo fcinfo, const LabelRowsAgg *agg);
extern Datum labelrows_serialfn(FunctionCallInfo fcinfo, const LabelRowsAgg *agg);
extern Datum labelrows_deserialfn(FunctionCallInfo fcinfo, const LabelRowsAgg *agg);

#endif							/* ECML_LABELROWS_H */
