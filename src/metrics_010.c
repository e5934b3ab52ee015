/*
 * metrics_010.c
 *	  The C entry points of ecml 0.1.0's ranking-metric support functions,
 *	  whose internal row buffer 0.2.0 replaced with a mergeable histogram
 *	  (score_bins.c).
 *
 * A database still at 0.1.0 names these symbols in its catalog, and
 * CREATE EXTENSION ecml VERSION '0.1.0' (the first step of every update)
 * must find them.  Called before ALTER EXTENSION ecml UPDATE, they say
 * what to do instead of failing to load.
 */
#include "postgres.h"

#include "fmgr.h"

static void
metrics_010_gone(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s belongs to ecml 0.1.0, whose ranking metrics this library no longer runs", name),
			 errhint("Run ALTER EXTENSION ecml UPDATE: the metrics then keep a bounded, mergeable state.")));
}

#define METRICS_010_ENTRY(sym) \
	PG_FUNCTION_INFO_V1(sym); \
	Datum \
	sym(PG_FUNCTION_ARGS) \
	{ \
		metrics_010_gone(#sym); \
		PG_RETURN_NULL(); \
	}

METRICS_010_ENTRY(ecml_average_precision_finalfn)
METRICS_010_ENTRY(ecml_pr_curve_finalfn)
METRICS_010_ENTRY(ecml_pr_curve_points_finalfn)
METRICS_010_ENTRY(ecml_pr_curve_points_transfn)
METRICS_010_ENTRY(ecml_roc_auc_finalfn)
METRICS_010_ENTRY(ecml_score_label_combinefn)
METRICS_010_ENTRY(ecml_score_label_deserialfn)
METRICS_010_ENTRY(ecml_score_label_serialfn)
METRICS_010_ENTRY(ecml_score_label_transfn)
METRICS_010_ENTRY(ecml_score_param_combinefn)
METRICS_010_ENTRY(ecml_score_param_deserialfn)
METRICS_010_ENTRY(ecml_score_param_serialfn)
METRICS_010_ENTRY(ecml_threshold_for_precision_finalfn)
METRICS_010_ENTRY(ecml_threshold_for_precision_transfn)
