/*
 * gbdt_train.c
 *	  ecml.fraud_train(features real[], is_fraud boolean [, options jsonb]):
 *	  the parallel-safe aggregate that buffers labelled payments, and the
 *	  final function that boosts trees over them (gbdt_hist.c) and writes
 *	  the model.
 *
 * Rows live in float32 chunks, each row its features followed by its label;
 * NULL elements are stored as NaN, which the trees read as "missing".
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "arrays.h"
#include "catalog/pg_type.h"
#include "ecml.h"
#include "gbdt.h"
#include "labelrows.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define TRAINER "ecml.fraud_train"


static const char *const class_weight_choices[] = {"none", "balanced", NULL};

static const EcmlOptionSpec gbdt_option_specs[] = {
	{"n_trees", ECML_OPT_INT, offsetof(GbdtOptions, n_trees), 1, GBDT_N_TREES_MAX},
	{"learning_rate", ECML_OPT_REAL, offsetof(GbdtOptions, learning_rate), 0.0, 1.0, true},
	{"max_depth", ECML_OPT_INT, offsetof(GbdtOptions, max_depth), 1, GBDT_MAX_DEPTH_MAX},
	{"max_leaves", ECML_OPT_INT, offsetof(GbdtOptions, max_leaves), 0, GBDT_MAX_LEAVES_MAX},
	{"max_bins", ECML_OPT_INT, offsetof(GbdtOptions, max_bins), GBDT_MAX_BINS_MIN, GBDT_MAX_BINS_MAX},
	{"min_child_weight", ECML_OPT_REAL, offsetof(GbdtOptions, min_child_weight), 0.0, 1e9},
	{"l2", ECML_OPT_REAL, offsetof(GbdtOptions, l2), 0.0, 1e9},
	{"min_split_gain", ECML_OPT_REAL, offsetof(GbdtOptions, min_split_gain), 0.0, 1e9},
	{"subsample", ECML_OPT_REAL, offsetof(GbdtOptions, subsample), 0.0, 1.0, true},
	{"colsample", ECML_OPT_REAL, offsetof(GbdtOptions, colsample), 0.0, 1.0, true},
	{"scale_pos_weight", ECML_OPT_REAL, offsetof(GbdtOptions, scale_pos_weight), 0.0, 1e9, true},
	{"class_weight", ECML_OPT_CHOICE, offsetof(GbdtOptions, class_weight), 0, 0, false,
	class_weight_choices},
	{"validation_fraction", ECML_OPT_REAL, offsetof(GbdtOptions, validation_fraction),
	0.0, GBDT_VALIDATION_MAX},
	{"early_stopping_rounds", ECML_OPT_INT, offsetof(GbdtOptions, early_stopping_rounds),
	0, GBDT_N_TREES_MAX},
	{"seed", ECML_OPT_INT64, offsetof(GbdtOptions, seed), 0, 9007199254740992.0},
	{"feature_names", ECML_OPT_TEXT_ARRAY, offsetof(GbdtOptions, feature_names)},
};

#define N_GBDT_OPTIONS lengthof(gbdt_option_specs)

void
gbdt_parse_options(Jsonb *opts, GbdtOptions *o, const char *trainer)
{
	o->n_trees = GBDT_N_TREES_DEFAULT;
	o->learning_rate = GBDT_LEARNING_RATE_DEFAULT;
	o->max_depth = GBDT_MAX_DEPTH_DEFAULT;
	o->max_leaves = 0;
	o->max_bins = GBDT_MAX_BINS_DEFAULT;
	o->min_child_weight = GBDT_MIN_CHILD_WEIGHT_DEFAULT;
	o->l2 = GBDT_L2_DEFAULT;
	o->min_split_gain = 0.0;
	o->subsample = 1.0;
	o->colsample = 1.0;
	o->scale_pos_weight = 1.0;
	o->class_weight = GBDT_CLASS_WEIGHT_NONE;
	o->validation_fraction = 0.0;
	o->early_stopping_rounds = GBDT_EARLY_STOPPING_DEFAULT;
	o->seed = 0;
	o->feature_names.n = 0;
	o->feature_names.items = NULL;
	ecml_parse_options(opts, gbdt_option_specs, N_GBDT_OPTIONS, o, trainer);

	if (o->class_weight == GBDT_CLASS_WEIGHT_BALANCED && o->scale_pos_weight != 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s options \"class_weight\" and \"scale_pos_weight\" exclude each other",
						trainer),
				 errhint("Use \"class_weight\": \"balanced\" or a \"scale_pos_weight\", not both.")));
	if (o->max_leaves == 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s option \"max_leaves\" must be 0 (no limit) or at least 2", trainer)));
	for (int i = 0; i < o->feature_names.n; i++)
		for (int j = 0; j < i; j++)
			if (strcmp(o->feature_names.items[i], o->feature_names.items[j]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s option \"feature_names\" names \"%s\" twice",
								trainer, o->feature_names.items[i]),
						 errhint("Explanations key contributions by name, so names must be unique.")));
}

static void
check_options(Jsonb *options, const char *trainer)
{
	GbdtOptions o;

	gbdt_parse_options(options, &o, trainer);
}

static const LabelRowsAgg gbdt_agg = {
	TRAINER, "fraud_train", GBDT_MAX_FEATURES, INT_MAX, check_options,
	"fraud_train_transfn", "fraud_train_combinefn", "fraud_train_deserialfn"
};

/* transition: buffer one row; rows with a NULL vector or label are skipped */
PG_FUNCTION_INFO_V1(fraud_train_transfn);
Datum
fraud_train_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	LabelRows  *st;
	ArrayType  *arr;
	float	   *slot;
	int			n;

	if (labelrows_transfn_begin(fcinfo, &gbdt_agg, &st, &aggcxt))
	{
		arr = PG_GETARG_ARRAYTYPE_P(1);
		n = gbdt_array_length(arr);
		slot = labelrows_append(st, n, PG_GETARG_BOOL(2), aggcxt, TRAINER);
		gbdt_copy_features(arr, n, slot);
	}
	PG_RETURN_POINTER(st);
}

/* combine: move state2's chunks into state1 (both in the aggregate context) */
PG_FUNCTION_INFO_V1(fraud_train_combinefn);
Datum
fraud_train_combinefn(PG_FUNCTION_ARGS)
{
	return labelrows_combinefn(fcinfo, &gbdt_agg);
}

PG_FUNCTION_INFO_V1(fraud_train_serialfn);
Datum
fraud_train_serialfn(PG_FUNCTION_ARGS)
{
	return labelrows_serialfn(fcinfo, &gbdt_agg);
}

PG_FUNCTION_INFO_V1(fraud_train_deserialfn);
Datum
fraud_train_deserialfn(PG_FUNCTION_ARGS)
{
	return labelrows_deserialfn(fcinfo, &gbdt_agg);
}

/*
 * The model of a fit: the trees flattened (node indices model-wide), the
 * options, counts and metrics; extra_metrics (may be NULL) appends
 * ", \"key\": value" pairs to the metrics object.  Both trainers write
 * their models here.
 */
bytea *
gbdt_write_model(const GbdtFit *fit, const GbdtOptions *o, int f, int64 npos,
				 int64 nrows, int64 nskipped, TimestampTz start, EcmlTrainMemory *mem,
				 void (*extra_metrics) (StringInfo buf, void *arg), void *extra_arg)
{
	EcmlModelBuilder b;
	StringInfoData json;
	int32	   *offsets;
	int32	   *ints;
	float	   *floats;
	int64		nnodes = 0;
	double		base[2];

	/* flatten the trees: node indices become model-wide */
	offsets = palloc(sizeof(int32) * (fit->ntrees + 1));
	for (int t = 0; t < fit->ntrees; t++)
	{
		offsets[t] = nnodes;
		nnodes += fit->trees[t].nnodes;
	}
	/* a model is one bytea: node indices are int32 and its sections under 1 GB */
	if ((Size) nnodes * 4 * sizeof(int32) > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: the model's " INT64_FORMAT " tree nodes would be larger than 1 GB",
						TRAINER, nnodes),
				 errhint("Lower \"n_trees\", \"max_depth\" or \"max_leaves\".")));
	offsets[fit->ntrees] = nnodes;
	/* the flattened nodes, then the model's copy of them */
	ecml_train_memory_charge(mem, 2 * (sizeof(int32) + sizeof(float)) * 4 * (Size) nnodes,
							 "model");
	ints = palloc_extended(sizeof(int32) * 4 * (Size) nnodes, MCXT_ALLOC_HUGE);
	floats = palloc_extended(sizeof(float) * 4 * (Size) nnodes, MCXT_ALLOC_HUGE);
	for (int t = 0; t < fit->ntrees; t++)
	{
		GbdtTree   *tr = &fit->trees[t];

		for (int k = 0; k < tr->nnodes; k++)
		{
			int32	   *ni = ints + 4 * (Size) (offsets[t] + k);

			memcpy(ni, tr->ints + 4 * k, sizeof(int32) * 4);
			if (ni[0] >= 0)
				ni[1] += offsets[t];
		}
		memcpy(floats + 4 * (Size) offsets[t], tr->floats, sizeof(float) * 4 * tr->nnodes);
	}
	base[0] = fit->base_margin;
	base[1] = f;

	ecml_builder_init(&b, ECML_KIND_GBDT);

	initStringInfo(&json);
	ecml_options_to_json(&json, gbdt_option_specs, N_GBDT_OPTIONS, o);
	ecml_builder_add_json(&b, ECML_TAG_HYPERPARAMS, json.data);

	resetStringInfo(&json);
	appendStringInfo(&json,
					 "{\"features\": %d, \"trees\": %d, \"nodes\": %d, \"base_margin\": %.17g, "
					 "\"positive_rows\": " INT64_FORMAT ", \"training_rows\": " INT64_FORMAT
					 ", \"validation_rows\": " INT64_FORMAT ", \"max_bins_used\": %d, "
					 "\"class_weights\": {\"false\": %.17g, \"true\": %.17g}}",
					 f, fit->ntrees, (int) nnodes, fit->base_margin, npos, fit->ntrain,
					 fit->nvalid, fit->max_bins_used, fit->w_neg, fit->w_pos);
	ecml_builder_add_json(&b, ECML_TAG_INFO, json.data);

	resetStringInfo(&json);
	appendStringInfo(&json, "{\"iterations\": %d, \"stopped_early\": %s, "
					 "\"train_log_loss\": %.17g, ",
					 fit->iterations, fit->stopped_early ? "true" : "false",
					 fit->train_log_loss);
	if (fit->nvalid > 0)
		appendStringInfo(&json, "\"best_iteration\": %d, \"valid_log_loss\": %.17g, "
						 "\"valid_log_loss_history\": [%s], ",
						 fit->best_iteration, fit->valid_log_loss, fit->valid_history.data);
	appendStringInfo(&json, "\"training_seconds\": %.3f", ecml_elapsed_seconds(start));
	if (extra_metrics)
		extra_metrics(&json, extra_arg);
	appendStringInfoChar(&json, '}');
	ecml_builder_add_json(&b, ECML_TAG_METRICS, json.data);

	ecml_builder_add(&b, GBDT_TAG_BASE, ECML_SECTION_FLOAT64, base, sizeof(base));
	ecml_builder_add(&b, GBDT_TAG_TREES, ECML_SECTION_INT32, offsets,
					 sizeof(int32) * (fit->ntrees + 1));
	ecml_builder_add(&b, GBDT_TAG_NODE_INTS, ECML_SECTION_INT32, ints,
					 sizeof(int32) * 4 * (Size) nnodes);
	ecml_builder_add(&b, GBDT_TAG_NODE_FLOATS, ECML_SECTION_FLOAT32, floats,
					 sizeof(float) * 4 * (Size) nnodes);
	if (o->feature_names.n > 0)
		ecml_builder_add_texts(&b, ECML_TAG_FEATURE_NAMES, o->feature_names.items, f);

	return ecml_builder_finish(&b, nrows, nskipped);
}

/* final: boost trees over the buffered rows and return the model */
PG_FUNCTION_INFO_V1(fraud_train_finalfn);
Datum
fraud_train_finalfn(PG_FUNCTION_ARGS)
{
	LabelRows  *st = PG_ARGISNULL(0) ? NULL : (LabelRows *) PG_GETARG_POINTER(0);
	GbdtOptions o;
	GbdtFit		fit;
	TimestampTz start = GetCurrentTimestamp();
	int			f;
	EcmlTrainMemory mem;

	if (st == NULL || st->rows.nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no training rows", TRAINER),
				 errdetail("Rows seen: " INT64_FORMAT ", skipped for a NULL feature vector or label: " INT64_FORMAT ".",
						   st ? st->rows.nrows + st->nskipped : 0, st ? st->nskipped : 0),
				 errhint("Check the query's WHERE clause and the NULLs in the features and label columns.")));
	if (st->npos == 0 || st->npos == st->rows.nrows)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: every label is %s; fraud scoring needs both fraud and legitimate rows",
						TRAINER, st->npos == 0 ? "false" : "true"),
				 errhint("Train on rows that include both outcomes, or use ecml.anomaly_train when no fraud is labelled.")));

	gbdt_parse_options(st->options, &o, TRAINER);
	f = st->nfeatures;
	if (o.feature_names.n > 0 && o.feature_names.n != f)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s option \"feature_names\" has %d names, the feature vectors have %d elements",
						TRAINER, o.feature_names.n, f)));

	memset(&fit, 0, sizeof(fit));
	ecml_train_memory_init(&mem, TRAINER, st->rows.bytes);
	gbdt_boost(st->rows.chunks, st->rows.nchunks, st->rows.nrows, f, &o, &fit, &mem);

	PG_RETURN_BYTEA_P(gbdt_write_model(&fit, &o, f, st->npos, st->rows.nrows + st->nskipped,
									   st->nskipped, start, &mem, NULL, NULL));
}

