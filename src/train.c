/*
 * train.c
 *	  ecml.train(kind, source, options): the multi-pass training driver.
 *
 * The source is any query whose columns are the kind's aggregate arguments.
 * Each pass the kind's trainer asks for is one aggregate query over it,
 *
 *	 SELECT ecml.<kind>_pass(c1::..., c2::..., $1) FROM (source) AS ecml_source(c1, c2)
 *
 * whose state is small and mergeable: the executor (with parallel workers)
 * or Citus (with its workers) reads the rows, the backend holds O(model).
 * Every pass runs through SPI in read-only mode, which executes it with the
 * calling statement's snapshot, so all passes see the same rows whatever
 * commits meanwhile; the trainers also compare each pass's row counts and
 * checksums with the first pass's, which catches a volatile source.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "ecml.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "train.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "nodes/parsenodes.h"
#include "utils/plancache.h"
#include "utils/timestamp.h"

typedef bytea *(*EcmlPassTrainer) (EcmlTrainDriver *d, Jsonb *options);

typedef struct EcmlTrainKind
{
	const char *kind;			/* as ecml.model_info names it */
	const char *aggregate;		/* the one-statement aggregate */
	EcmlPassTrainer train;		/* NULL: no multi-pass trainer yet */
	int			ncols;
	Oid			types[3];
	const char *columns;		/* the columns, for messages */
} EcmlTrainKind;

static const EcmlTrainKind train_kinds[] = {
	{ "logreg", "ecml.logreg_train", logreg_train_passes, 2, { FLOAT4ARRAYOID, BOOLOID }, "features real[], label boolean" },
	{ "gbdt", "ecml.fraud_train", gbdt_train_passes, 2, { FLOAT4ARRAYOID, BOOLOID }, "features real[], is_fraud boolean" },
	{ "iforest", "ecml.anomaly_train", iforest_train_passes, 1, { FLOAT4ARRAYOID }, "features real[]" },
	{ "mf", "ecml.mf_train", mf_train_passes, 3, { INT8OID, INT8OID, FLOAT4OID }, "user_id bigint, item_id bigint, value real" },
	/* bigint[] or text[]: lstm_train_passes checks which */
	{ "lstm", "ecml.lstm_train", lstm_train_passes, 1, { ANYARRAYOID }, "sequence bigint[] or text[]" },
	{ "word2vec", "ecml.word2vec_train", word2vec_train_passes, 1, { TEXTARRAYOID }, "tokens text[]" },
	{ "vectors", "ecml.pack_vectors", NULL },
};

static const EcmlTrainKind *
train_lookup_kind(const char *kind)
{
	StringInfoData known;

	for (int i = 0; i < lengthof(train_kinds); i++)
	{
		if (strcmp(train_kinds[i].kind, kind) != 0)
			continue;
		if (strcmp(kind, "vectors") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("ecml.train cannot train kind \"vectors\" in bounded memory"),
					 errdetail("A vectors model is the packed vectors themselves: its size grows with the rows."),
					 errhint("Pack with ecml.pack_vectors up to ecml.train_memory_limit; beyond that, or on Citus, "
							 "search an ecml_hnsw index (built per shard on a distributed table).")));
		if (train_kinds[i].train == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("ecml.train has no multi-pass trainer for kind \"%s\" yet", kind),
					 errhint("Train it with the aggregate %s, which buffers the rows in memory.",
							 train_kinds[i].aggregate)));
		return &train_kinds[i];
	}
	initStringInfo(&known);
	for (int i = 0; i < lengthof(train_kinds); i++)
		appendStringInfo(&known, "%s%s", i ? ", " : "", train_kinds[i].kind);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("ecml.train: unknown model kind \"%s\"", kind),
			 errdetail("Known kinds: %s.", known.data)));
	return NULL;				/* not reached */
}

/*
 * The source must be one SELECT whose columns can be cast implicitly to the
 * kind's argument types; builds d->from.
 */
static void
train_check_source(EcmlTrainDriver *d, const EcmlTrainKind *k)
{
	SPIPlanPtr	plan = SPI_prepare(d->source, 0, NULL);
	List	   *sources;
	CachedPlanSource *ps;
	TupleDesc	desc;
	StringInfoData from;
	int			start;
	int			len;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	sources = SPI_plan_get_plan_sources(plan);
	ps = list_length(sources) == 1 ? (CachedPlanSource *) linitial(sources) : NULL;
	if (ps == NULL || ps->commandTag != CMDTAG_SELECT || ps->resultDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("ecml.train: source must be one SELECT query"),
				 errhint("Pass the query whose rows to train on, for example 'SELECT features, label FROM t'.")));
	desc = ps->resultDesc;
	if (desc->natts != k->ncols)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("ecml.train: source returns %d columns, kind \"%s\" needs %d",
						desc->natts, k->kind, k->ncols),
				 errdetail("The columns, in this order: %s.", k->columns)));
	for (int i = 0; i < k->ncols; i++)
	{
		Oid			have = TupleDescAttr(desc, i)->atttypid;
		Oid			want = k->types[i];

		d->coltypes[i] = have;

		if (!can_coerce_type(1, &have, &want, COERCION_IMPLICIT))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("ecml.train: column %d of the source is of type %s, kind \"%s\" needs %s",
							i + 1, format_type_be(have), k->kind, format_type_be(want)),
					 errdetail("The columns, in this order: %s.", k->columns)));
	}
	/* the statement alone: without a trailing semicolon and what follows */
	start = ps->raw_parse_tree->stmt_location;
	if (ps->raw_parse_tree->stmt_len > 0)
		len = ps->raw_parse_tree->stmt_len;
	else
		len = strlen(d->source) - start;
	SPI_freeplan(plan);

	/* a newline ends a comment on the statement's last line */
	initStringInfo(&from);
	appendStringInfo(&from, "(%.*s\n) AS ecml_source(", len, d->source + start);
	for (int i = 0; i < k->ncols; i++)
		appendStringInfo(&from, "%sc%d", i ? ", " : "", i + 1);
	appendStringInfoChar(&from, ')');
	d->from = from.data;
	d->ncols = k->ncols;
}

/* The "save_as" option, removed from *options; NULL when absent. */
static char *
train_take_save_as(Jsonb **options)
{
	JsonbValue	v;
	char	   *name;

	if (*options == NULL)
		return NULL;
	if (!JB_ROOT_IS_OBJECT(*options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ecml.train: options must be a JSON object")));
	if (getKeyJsonValueFromContainer(&(*options)->root, "save_as", 7, &v) == NULL)
		return NULL;
	if (v.type != jbvString || v.val.string.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ecml.train option \"save_as\" must be a non-empty string"),
				 errhint("Name the model to store in ecml.models.")));
	name = pnstrdup(v.val.string.val, v.val.string.len);
	*options = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(*options),
												  CStringGetTextDatum("save_as")));
	return name;
}

/* ecml.train(kind text, source text, options jsonb) returns bytea */
PG_FUNCTION_INFO_V1(ecml_train);
Datum
ecml_train(PG_FUNCTION_ARGS)
{
	EcmlTrainDriver d;
	const EcmlTrainKind *k;
	Jsonb	   *options = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	char	   *save_as;
	EcmlLifecycleOptions lifecycle;
	bytea	   *model;
	bytea	   *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ecml.train: kind and source must not be NULL")));
	memset(&d, 0, sizeof(d));
	d.kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	d.source = text_to_cstring(PG_GETARG_TEXT_PP(1));
	d.start = GetCurrentTimestamp();
	initStringInfo(&d.history);
	k = train_lookup_kind(d.kind);
	save_as = train_take_save_as(&options);
	ecml_lifecycle_take_options(&options, save_as != NULL, &lifecycle);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* the driver's own allocations live in SPI's context, freed at SPI_finish */
	d.source = pstrdup(d.source);
	train_check_source(&d, k);
	ecml_lifecycle_prepare(&d, &lifecycle);
	model = k->train(&d, options);
	if (save_as)
		ecml_lifecycle_save(save_as, model, options, &lifecycle, ecml_elapsed_seconds(d.start));
	result = SPI_palloc(VARSIZE(model));
	memcpy(result, model, VARSIZE(model));
	SPI_finish();
	PG_RETURN_BYTEA_P(result);
}
