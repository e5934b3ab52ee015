/*
 * lifecycle.c
 *	  What the model lifecycle (sql/ecml/95_lifecycle.sql, docs/lifecycle.md)
 *	  needs from C: the column types of a query, to check that a held-out
 *	  query has the columns of the training source before any row is read;
 *	  and the retention setting ecml.keep_versions (ecml.c defines it).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "ecml.h"
#include "executor/spi.h"
#include "parser/parse_coerce.h"
#include "train.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/plancache.h"

int			ecml_keep_versions = 0;

/*
 * The column types of query, which must be one SELECT; *n set to their
 * number.  SPI must be connected.  The query is parsed and analyzed, not run.
 */
static Oid *
query_column_types(const char *query, int *n)
{
	SPIPlanPtr	plan = SPI_prepare(query, 0, NULL);
	List	   *sources;
	CachedPlanSource *ps;
	TupleDesc	desc;
	Oid		   *types;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	sources = SPI_plan_get_plan_sources(plan);
	ps = list_length(sources) == 1 ? (CachedPlanSource *) linitial(sources) : NULL;
	if (ps == NULL || ps->commandTag != CMDTAG_SELECT || ps->resultDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("ecml: the query must be one SELECT"),
				 errhint("Pass a query such as 'SELECT features, label FROM t'.")));
	desc = ps->resultDesc;
	*n = desc->natts;
	types = palloc(sizeof(Oid) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
		types[i] = TupleDescAttr(desc, i)->atttypid;
	SPI_freeplan(plan);
	return types;
}

/* ecml.query_columns(query text) → regtype[]: the columns of one SELECT */
PG_FUNCTION_INFO_V1(ecml_query_columns);
Datum
ecml_query_columns(PG_FUNCTION_ARGS)
{
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid		   *types;
	Datum	   *elems;
	int			n;
	MemoryContext caller = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	types = query_column_types(query, &n);
	MemoryContextSwitchTo(caller);
	elems = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
		elems[i] = ObjectIdGetDatum(types[i]);
	SPI_finish();
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, REGTYPEOID, sizeof(Oid), true, TYPALIGN_INT));
}

/* ---- the lifecycle options of ecml.train (train.c) ---- */

static const char *const lifecycle_keys[] = {
	"holdout", "validation_fraction", "promote", "tolerance", "metric"
};

/* Remove key from *options; true (and *v set) when it was there. */
static bool
lifecycle_take(Jsonb **options, const char *key, JsonbValue *v)
{
	if (getKeyJsonValueFromContainer(&(*options)->root, key, strlen(key), v) == NULL)
		return false;
	*options = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(*options),
												  CStringGetTextDatum(key)));
	return true;
}

static void
lifecycle_option_error(const char *key, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("ecml.train option \"%s\" must be %s", key, what)));
}

void
ecml_lifecycle_take_options(Jsonb **options, bool saving, EcmlLifecycleOptions *lo)
{
	JsonbValue	v;
	JsonbParseState *state = NULL;
	bool		any = false;

	memset(lo, 0, sizeof(*lo));
	if (*options == NULL || !JB_ROOT_IS_OBJECT(*options))
		return;					/* the trainer reports a non-object */
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < lengthof(lifecycle_keys); i++)
	{
		const char *key = lifecycle_keys[i];
		JsonbValue	k;

		if (!lifecycle_take(options, key, &v))
			continue;
		any = true;
		if (strcmp(key, "holdout") == 0)
		{
			if (v.type != jbvString || v.val.string.len == 0)
				lifecycle_option_error(key, "a SELECT of held-out rows");
			lo->holdout = pnstrdup(v.val.string.val, v.val.string.len);
			continue;			/* save_version gets the query actually used */
		}
		if (strcmp(key, "validation_fraction") == 0)
		{
			if (v.type != jbvNumeric)
				lifecycle_option_error(key, "a number from 0.01 to 0.5");
			lo->validation_fraction = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
																		 NumericGetDatum(v.val.numeric)));
			if (!(lo->validation_fraction >= 0.01 && lo->validation_fraction <= 0.5))
				lifecycle_option_error(key, "a number from 0.01 to 0.5");
			continue;
		}
		if (strcmp(key, "tolerance") == 0)
		{
			double		t;

			if (v.type != jbvNumeric)
				lifecycle_option_error(key, "a number between 0 and 1");
			t = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
			if (!(t >= 0 && t <= 1))
				lifecycle_option_error(key, "a number between 0 and 1");
		}
		if (strcmp(key, "promote") == 0 &&
			(v.type != jbvString ||
			 !((v.val.string.len == 6 && strncmp(v.val.string.val, "always", 6) == 0) ||
			   (v.val.string.len == 5 && strncmp(v.val.string.val, "never", 5) == 0) ||
			   (v.val.string.len == 12 && strncmp(v.val.string.val, "if_not_worse", 12) == 0))))
			lifecycle_option_error(key, "\"always\", \"never\" or \"if_not_worse\"");
		if (strcmp(key, "metric") == 0 && v.type != jbvString)
			lifecycle_option_error(key, "the name of a held-out metric");
		/* promote, tolerance, metric: for ecml.save_version */
		k.type = jbvString;
		k.val.string.val = (char *) key;
		k.val.string.len = strlen(key);
		pushJsonbValue(&state, WJB_KEY, &k);
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	lo->save_options = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
	if (any && !saving)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ecml.train options holdout, validation_fraction, promote, tolerance and metric need save_as"),
				 errhint("They decide whether the saved version goes live.")));
	if (lo->holdout && lo->validation_fraction > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ecml.train: give holdout or validation_fraction, not both")));
}

/* "c1, c2, ..." */
static char *
lifecycle_columns(int ncols)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; i < ncols; i++)
		appendStringInfo(&s, "%sc%d", i ? ", " : "", i + 1);
	return s.data;
}

/*
 * Before training: a validation split trains on the rows outside it (the
 * driver's source becomes them) and holds out the rest, chosen by a hash of
 * each row's values, so the same rows are held out every night; a holdout
 * query must have the source's columns.
 */
void
ecml_lifecycle_prepare(EcmlTrainDriver *d, EcmlLifecycleOptions *lo)
{
	char	   *cols = lifecycle_columns(d->ncols);

	if (lo->validation_fraction > 0)
	{
		StringInfoData split;
		int			cutoff = (int) rint(lo->validation_fraction * 1000);

		initStringInfo(&split);
		appendStringInfo(&split, "SELECT %s FROM %s WHERE (pg_catalog.hashtext(ROW(%s)::pg_catalog.text) OPERATOR(pg_catalog.&) 2147483647) OPERATOR(pg_catalog.%%) 1000 OPERATOR(pg_catalog.<) %d",
						 cols, d->from, cols, cutoff);
		lo->holdout = split.data;
		initStringInfo(&split);
		appendStringInfo(&split, "(SELECT %s FROM %s WHERE (pg_catalog.hashtext(ROW(%s)::pg_catalog.text) OPERATOR(pg_catalog.&) 2147483647) OPERATOR(pg_catalog.%%) 1000 OPERATOR(pg_catalog.>=) %d) AS ecml_source(%s)",
						 cols, d->from, cols, cutoff, cols);
		d->from = split.data;
	}
	else if (lo->holdout)
	{
		int			nsource;
		int			nholdout;
		Oid		   *source = query_column_types(d->source, &nsource);
		Oid		   *holdout = query_column_types(lo->holdout, &nholdout);

		if (nholdout != nsource)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("ecml.train: the holdout query returns %d columns, the source %d",
							nholdout, nsource),
					 errhint("Select the same columns, in the same order, from the held-out rows.")));
		for (int i = 0; i < nsource; i++)
			if (!can_coerce_type(1, &holdout[i], &source[i], COERCION_IMPLICIT))
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("ecml.train: column %d of the holdout query is of type %s, of the source %s",
								i + 1, format_type_be(holdout[i]), format_type_be(source[i])),
						 errhint("Select the same columns, in the same order, from the held-out rows.")));
	}
}

/* After training: save the model as a version, scored on the held-out rows. */
void
ecml_lifecycle_save(const char *name, bytea *model, Jsonb *train_options,
					EcmlLifecycleOptions *lo, double seconds)
{
	Oid			types[3] = {TEXTOID, BYTEAOID, JSONBOID};
	Datum		values[3];
	StringInfoData extra;
	Datum		opts;
	int			rc;

	initStringInfo(&extra);
	appendStringInfo(&extra, "{\"training_seconds\": %.3f", seconds);
	if (lo->holdout)
	{
		appendStringInfoString(&extra, ", \"holdout\": ");
		escape_json(&extra, lo->holdout);
	}
	if (train_options != NULL)
	{
		appendStringInfoString(&extra, ", \"training_options\": ");
		(void) JsonbToCString(&extra, &train_options->root, VARSIZE(train_options));
	}
	appendStringInfoChar(&extra, '}');
	opts = DirectFunctionCall1(jsonb_in, CStringGetDatum(extra.data));
	opts = DirectFunctionCall2(jsonb_concat, opts, JsonbPGetDatum(lo->save_options));
	values[0] = CStringGetTextDatum(name);
	values[1] = PointerGetDatum(model);
	values[2] = opts;
	rc = SPI_execute_with_args("SELECT ecml.save_version($1, $2, $3)",
							   3, types, values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "ecml.train: saving the model returned %s", SPI_result_code_string(rc));
}
