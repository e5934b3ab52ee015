/*
 * model_info.c
 *	  ecml.model_info(): what a model is, read from its container, after the
 *	  kind's own parser has checked it (ecml_model_validate).  Kept apart
 *	  from the container (model.c) because it knows every model kind.
 */
#include "postgres.h"

#include "ecml.h"
#include "gbdt.h"
#include "iforest.h"
#include "logreg.h"
#include "miscadmin.h"
#include "lstm.h"
#include "mf.h"
#include "model.h"
#include "text.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "vectors.h"

/*
 * Run the kind's decoder over a container that ecml_model_open accepted,
 * and throw its result away: every structural check of the kind (trees
 * that are trees, ids in order, sizes that match) raises its data-corrupted
 * error here too, so a model that no scoring function would accept is not
 * shown as if it were fine.
 */
void
ecml_model_validate(const EcmlModel *model)
{
	static const EcmlParseFn parsers[] = {
		NULL, logreg_parse, mf_parse, vectors_parse, lstm_parse, gbdt_parse, iforest_parse,
		word_vectors_parse, text_clf_parse
	};
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "ecml model validation",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);

	StaticAssertStmt(lengthof(parsers) == ECML_KIND_MAX + 1, "one parser per kind");
	parsers[model->header.kind] (model, cxt);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/* ---- ecml.model_info ---- */

/*
 * Keys model_info derives from the validated header and the sections it
 * knows.  An INFO section carries a kind's shape only: its copies of these
 * are dropped, so a model cannot claim another kind, row count or creation
 * time, which ecml.save_model stores in the registry.
 */
static const char *const model_info_keys[] = {
	"kind", "format_version", "size_bytes", "rows", "rows_skipped",
	"created_at", "hyperparameters", "metrics", "feature_names", "sections"
};

/*
 * t as ISO 8601 in UTC ("2024-05-01T12:00:00.123456+00:00"): the same in
 * every session, whatever its TimeZone and DateStyle, so model_info stays
 * IMMUTABLE and save_model reads it back exactly.
 */
static void
append_utc_timestamp(StringInfo buf, TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char		text[MAXDATELEN + 1];

	/* no time zone argument: the fields are UTC */
	if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		ecml_model_corrupted("creation time out of range", NULL);
	tm.tm_isdst = 0;			/* else no offset is printed */
	EncodeDateTime(&tm, fsec, true, 0, NULL, USE_XSD_DATES, text);
	escape_json(buf, text);
}

/* The INFO section as a JSON object without the keys model_info owns. */
static Datum
model_info_shape(const EcmlModel *model)
{
	char	   *json = ecml_section_json(model, ECML_TAG_INFO);
	Datum		shape;

	if (json == NULL)
		return DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	shape = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
	if (!JB_ROOT_IS_OBJECT(DatumGetJsonbP(shape)) ||
		JB_ROOT_IS_SCALAR(DatumGetJsonbP(shape)))
		ecml_model_corrupted("INFO section is not a JSON object", NULL);
	for (int i = 0; i < lengthof(model_info_keys); i++)
		shape = DirectFunctionCall2(jsonb_delete, shape,
									CStringGetTextDatum(model_info_keys[i]));
	return shape;
}

/* ecml.model_info(bytea) → jsonb: kind, version, shape, hyper-parameters, metrics, size */
PG_FUNCTION_INFO_V1(ecml_model_info);
Datum
ecml_model_info(PG_FUNCTION_ARGS)
{
	bytea	   *raw = PG_GETARG_BYTEA_PP(0);
	EcmlModel	model;
	StringInfoData buf;
	char	   *json;
	char	  **names;
	int			nnames;
	Datum		shape;
	Datum		facts;

	ecml_model_open(raw, 0, &model);
	ecml_model_validate(&model);

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"kind\": \"%s\", \"format_version\": %u, \"size_bytes\": %zu, "
					 "\"rows\": " INT64_FORMAT ", \"rows_skipped\": " INT64_FORMAT ", \"created_at\": ",
					 ecml_kind_name(model.header.kind), model.header.version,
					 model.size, model.header.rows_seen - model.header.rows_skipped,
					 model.header.rows_skipped);
	append_utc_timestamp(&buf, model.header.created_at);

	json = ecml_section_json(&model, ECML_TAG_HYPERPARAMS);
	if (json)
		appendStringInfo(&buf, ", \"hyperparameters\": %s", json);
	json = ecml_section_json(&model, ECML_TAG_METRICS);
	if (json)
		appendStringInfo(&buf, ", \"metrics\": %s", json);
	names = ecml_section_texts(&model, ECML_TAG_FEATURE_NAMES, &nnames);
	if (names)
	{
		appendStringInfoString(&buf, ", \"feature_names\": [");
		for (int i = 0; i < nnames; i++)
		{
			if (i > 0)
				appendStringInfoString(&buf, ", ");
			escape_json(&buf, names[i]);
		}
		appendStringInfoChar(&buf, ']');
	}
	appendStringInfoString(&buf, ", \"sections\": [");
	for (int i = 0; i < model.nsections; i++)
	{
		char		tagname[5];

		memcpy(tagname, &model.sections[i].tag, 4);
		tagname[4] = '\0';
		for (int c = 0; c < 4; c++)
			if (tagname[c] < 32 || tagname[c] > 126)
				tagname[c] = '?';
		appendStringInfo(&buf, "%s{\"tag\": ", i > 0 ? ", " : "");
		escape_json(&buf, tagname);
		appendStringInfo(&buf, ", \"type\": \"%s\", \"bytes\": %zu}",
						 ecml_section_type_name(model.sections[i].type),
						 model.sections[i].length);
	}
	appendStringInfoString(&buf, "]}");
	facts = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));

	/* the kind's shape (dimensions, vocabulary, ...) at the top level */
	shape = model_info_shape(&model);
	PG_RETURN_DATUM(DirectFunctionCall2(jsonb_concat, shape, facts));
}
