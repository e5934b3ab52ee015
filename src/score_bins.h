/*
 * score_bins.h
 *	  The bounded, mergeable state of the ranking metrics (roc_auc,
 *	  average_precision, pr_curve, threshold_for_precision, score_summary):
 *	  a sorted histogram of scores by label, exact while the distinct scores
 *	  fit in SCORE_BINS_MAX bins.
 */
#ifndef SCORE_BINS_H
#define SCORE_BINS_H

#include "fmgr.h"

/* Bins kept at most: 32 bytes each, so a state stays under 2.2 MB. */
#define SCORE_BINS_MAX 65536

/*
 * One bin: the rows whose scores share the bin's key prefix (all of it
 * while the state is exact), with the lowest and highest score seen.  A bin
 * with lo == hi holds one distinct score and is exact.
 */
typedef struct ScoreBin
{
	double		lo;
	double		hi;
	int64		pos;
	int64		neg;
} ScoreBin;

/* The bins of a finished state, ascending, for the final functions. */
typedef struct ScoreBinsView
{
	const ScoreBin *bins;
	int64		nbins;
	int64		npos;
	int64		nneg;
	int			bits;			/* key bits kept: 64 = one bin per distinct score */
	bool		has_param;
	double		param;
} ScoreBinsView;

extern Datum score_bins_step(FunctionCallInfo fcinfo, bool has_param, double param,
							 const char *param_name);
extern bool score_bins_view(FunctionCallInfo fcinfo, ScoreBinsView *view);
extern bool score_bin_exact(const ScoreBin *b);

#endif							/* SCORE_BINS_H */
