/*
 * registry.c
 *	  ecml.model(name [, version]): read a model from the ecml.models
 *	  registry, the live version or a given one.
 *
 * Written in C rather than SQL so the lookup runs once per query and call
 * site, not once per row: SELECT ecml.logreg_predict(ecml.model('m'), f)
 * over a million rows reads the registry once.
 *
 * A call site's expression state can outlive one statement: PL/pgSQL keeps
 * a simple expression's state for the whole transaction, so a loop that
 * saves a model and then reads it calls the same call site under new
 * snapshots.  The remembered model is therefore keyed by everything its
 * row's visibility depends on: the name, the role (row security), the
 * transaction and subtransaction (a rolled-back save), and the snapshot's
 * contents (another session's commit, this transaction's later commands).
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "ecml_compat.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

/* What decides which registry row a lookup sees. */
typedef struct RegistryKey
{
	Oid			userid;
	LocalTransactionId lxid;
	SubTransactionId subid;
	TransactionId xmin;
	TransactionId xmax;
	CommandId	curcid;
	uint32		xcnt;
	int32		subxcnt;
	bool		suboverflowed;
	bool		recovery;
	TransactionId *xids;		/* xip then subxip, xcnt + subxcnt entries */
} RegistryKey;

typedef struct RegistryCache
{
	text	   *name;
	int32		version;		/* 0: the live version */
	bytea	   *model;
	RegistryKey key;
	int			xids_alloc;		/* capacity of key.xids */
} RegistryCache;

/* True when the active snapshot and session state still match key. */
static bool
registry_key_matches(const RegistryKey *key)
{
	Snapshot	snap;

	if (!ActiveSnapshotSet())
		return false;
	snap = GetActiveSnapshot();
	if (key->userid != GetUserId() ||
		key->lxid != ECML_MY_LXID() ||
		key->subid != GetCurrentSubTransactionId() ||
		key->xmin != snap->xmin || key->xmax != snap->xmax ||
		key->curcid != snap->curcid ||
		key->xcnt != snap->xcnt || key->subxcnt != snap->subxcnt ||
		key->suboverflowed != snap->suboverflowed ||
		key->recovery != snap->takenDuringRecovery)
		return false;
	if (key->xcnt > 0 &&
		memcmp(key->xids, snap->xip, sizeof(TransactionId) * key->xcnt) != 0)
		return false;
	if (key->subxcnt > 0 &&
		memcmp(key->xids + key->xcnt, snap->subxip,
			   sizeof(TransactionId) * key->subxcnt) != 0)
		return false;
	return true;
}

/* Remember the state the lookup just ran under; in rc's memory context. */
static void
registry_key_remember(RegistryCache *rc, MemoryContext mcxt)
{
	RegistryKey *key = &rc->key;
	Snapshot	snap;
	int			n;

	if (!ActiveSnapshotSet())
	{
		/* never matches: an invalid local transaction id */
		key->lxid = InvalidLocalTransactionId;
		return;
	}
	snap = GetActiveSnapshot();
	n = (int) snap->xcnt + Max(snap->subxcnt, 0);
	if (n > rc->xids_alloc)
	{
		if (key->xids)
			pfree(key->xids);
		key->xids = MemoryContextAlloc(mcxt, sizeof(TransactionId) * n);
		rc->xids_alloc = n;
	}
	key->userid = GetUserId();
	key->lxid = ECML_MY_LXID();
	key->subid = GetCurrentSubTransactionId();
	key->xmin = snap->xmin;
	key->xmax = snap->xmax;
	key->curcid = snap->curcid;
	key->xcnt = snap->xcnt;
	key->subxcnt = Max(snap->subxcnt, 0);
	key->suboverflowed = snap->suboverflowed;
	key->recovery = snap->takenDuringRecovery;
	if (key->xcnt > 0)
		memcpy(key->xids, snap->xip, sizeof(TransactionId) * key->xcnt);
	if (key->subxcnt > 0)
		memcpy(key->xids + key->xcnt, snap->subxip,
			   sizeof(TransactionId) * key->subxcnt);
}

/* True when rc remembers a lookup of name and version under the current state. */
static bool
registry_cache_hit(const RegistryCache *rc, const text *name, int32 version)
{
	return rc != NULL && rc->name != NULL && rc->version == version &&
		VARSIZE_ANY_EXHDR(rc->name) == VARSIZE_ANY_EXHDR(name) &&
		memcmp(VARDATA_ANY(rc->name), VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name)) == 0 &&
		registry_key_matches(&rc->key);
}

/*
 * True when ecml.models has versions.  A database whose ecml is still at
 * 0.1.0 (this library installed, ALTER EXTENSION ecml UPDATE not yet run)
 * has one row per name and no live column, and its models must stay
 * readable until it is updated.
 */
static bool
registry_is_versioned(void)
{
	Oid			nsp = get_namespace_oid("ecml", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("models", nsp) : InvalidOid;

	return OidIsValid(relid) && get_attnum(relid, "live") != InvalidAttrNumber;
}

/*
 * Read the model of name from ecml.models: the live version when version is
 * 0, else that version.  Remembered in fn_extra while the snapshot and
 * session state stay the same.
 */
static bytea *
registry_lookup(FunctionCallInfo fcinfo, text *name, int32 version)
{
	RegistryCache *rc = (RegistryCache *) fcinfo->flinfo->fn_extra;
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2];
	bool		isnull;
	Datum		d;
	MemoryContext old;

	if (registry_cache_hit(rc, name, version))
		return rc->model;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "ecml.model: SPI_connect failed");
	args[0] = PointerGetDatum(name);
	args[1] = Int32GetDatum(version);
	if (version == 0)
	{
		const char *sql = registry_is_versioned()
			? "SELECT model FROM ecml.models WHERE name OPERATOR(pg_catalog.=) $1 AND live"
			: "SELECT model FROM ecml.models WHERE name OPERATOR(pg_catalog.=) $1";

		if (SPI_execute_with_args(sql, 1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "ecml.model: registry lookup failed");
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("ecml model \"%s\" does not exist", text_to_cstring(name)),
					 errhint("Save one with ecml.save_model(name, model); SELECT name FROM ecml.models lists the models you may read.")));
	}
	else
	{
		if (SPI_execute_with_args("SELECT model FROM ecml.models WHERE name OPERATOR(pg_catalog.=) $1 AND version OPERATOR(pg_catalog.=) $2",
								  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "ecml.model: registry lookup failed");
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("ecml model \"%s\" has no version %d", text_to_cstring(name), version),
					 errhint("SELECT version, live FROM ecml.models WHERE name = ... lists the versions you may read.")));
	}
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "ecml.model: NULL model in ecml.models");

	/*
	 * A model stored out of line stays a TOAST pointer (as a column read by
	 * a plain SELECT would), so the scoring function's cache finds a large
	 * model by its header instead of this function copying all of it on
	 * every query.
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
	rc->version = version;
	MemoryContextSwitchTo(old);
	registry_key_remember(rc, fcinfo->flinfo->fn_mcxt);
	SPI_finish();
	return rc->model;
}

/* ecml.model(name) → the live version of the model saved under name */
PG_FUNCTION_INFO_V1(ecml_model);
Datum
ecml_model(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(registry_lookup(fcinfo, PG_GETARG_TEXT_PP(0), 0));
}

/* ecml.model(name, version) → that version, live or not */
PG_FUNCTION_INFO_V1(ecml_model_version);
Datum
ecml_model_version(PG_FUNCTION_ARGS)
{
	int32		version = PG_GETARG_INT32(1);

	if (version <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ecml model version must be positive, not %d", version),
				 errhint("Versions are numbered from 1; ecml.model(name) reads the live one.")));
	PG_RETURN_BYTEA_P(registry_lookup(fcinfo, PG_GETARG_TEXT_PP(0), version));
}
