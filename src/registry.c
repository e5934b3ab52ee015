/*
 * registry.c
 *	  ecml.model(name): read a model from the ecml.models registry.
 *
 * Written in C rather than SQL so the lookup runs once per query and call
 * site, not once per row: SELECT ecml.logreg_predict(ecml.model('m'), f)
 * over a million rows reads the registry once.  Caching for the duration
 * of one query is what STABLE promises.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"

typedef struct RegistryCache
{
	text	   *name;
	bytea	   *model;
} RegistryCache;

/* ecml.model(name) → the model saved under name; an error if there is none */
PG_FUNCTION_INFO_V1(ecml_model_lookup);
Datum
ecml_model_lookup(PG_FUNCTION_ARGS)
{
	text	   *name = PG_GETARG_TEXT_PP(0);
	RegistryCache *rc = (RegistryCache *) fcinfo->flinfo->fn_extra;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	Datum		d;
	MemoryContext old;

	if (rc != NULL && rc->name != NULL &&
		VARSIZE_ANY_EXHDR(rc->name) == VARSIZE_ANY_EXHDR(name) &&
		memcmp(VARDATA_ANY(rc->name), VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name)) == 0)
		PG_RETURN_BYTEA_P(rc->model);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "ecml.model: SPI_connect failed");
	args[0] = PointerGetDatum(name);
	if (SPI_execute_with_args("SELECT model FROM ecml.models WHERE name OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "ecml.model: registry lookup failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("ecml model \"%s\" does not exist", text_to_cstring(name)),
				 errhint("Save one with ecml.save_model(name, model); SELECT name FROM ecml.models lists them.")));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "ecml.model: NULL model in ecml.models");

	/*
	 * Keep it for the rest of the query.  A model stored out of line stays
	 * a TOAST pointer (as a column read by a plain SELECT would), so the
	 * scoring function's cache finds a large model by its header instead of
	 * this function copying all of it on every query.
	 */
	if (rc == NULL)
	{
		rc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(RegistryCache));
		fcinfo->flinfo->fn_extra = rc;
	}
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (rc->model)
		pfree(rc->model);
	if (rc->name)
		pfree(rc->name);
	if (VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(d)))
		rc->model = (bytea *) DatumGetPointer(datumCopy(d, false, -1));
	else
		rc->model = (bytea *) PG_DETOAST_DATUM_COPY(d);
	rc->name = (text *) PG_DETOAST_DATUM_COPY(PointerGetDatum(name));
	MemoryContextSwitchTo(old);
	SPI_finish();

	PG_RETURN_BYTEA_P(rc->model);
}
