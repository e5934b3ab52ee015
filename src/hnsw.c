/*
 * hnsw.c
 *	  The ecml_hnsw access method's handler, reloptions, GUCs and operator
 *	  class validation.  The helpers its phases share are in hnsw_utils.c.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "access/reloptions.h"
#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "arrays.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "distance.h"
#include "hnsw.h"
#include "optimizer/optimizer.h"
#include "utils/array.h"
#include "utils/regproc.h"
#include "utils/catcache.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"
#include "utils/syscache.h"

static relopt_kind hnsw_relopt_kind;
static object_access_hook_type prev_object_access_hook = NULL;

static bytea *hnsw_options(Datum reloptions, bool validate);
extern Datum ecml_hnsw_handler(PG_FUNCTION_ARGS);

/* is the index access method amoid ours (its handler is ecml_hnsw_handler)? */
static bool
am_is_hnsw(Oid amoid)
{
	HeapTuple	tup = SearchSysCache1(AMOID, ObjectIdGetDatum(amoid));
	FmgrInfo	f;
	Oid			handler;

	if (!HeapTupleIsValid(tup))
		return false;
	handler = ((Form_pg_am) GETSTRUCT(tup))->amhandler;
	ReleaseSysCache(tup);
	fmgr_info(handler, &f);
	return f.fn_addr == ecml_hnsw_handler;
}
static void hnsw_object_access(ObjectAccessType access, Oid classId, Oid objectId,
							   int subId, void *arg);

static void
validate_storage(const char *value)
{
	if (hnsw_storage_from_name(value) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for ecml_hnsw option \"storage\": \"%s\"", value ? value : ""),
				 errhint("Use 'float' (4 bytes a dimension), 'half' (2) or 'int8' (1).")));
}

/* Reloptions m and ef_construction, GUCs ecml.hnsw_*; called from _PG_init. */
void
hnsw_init(void)
{
	hnsw_relopt_kind = add_reloption_kind();
	prev_object_access_hook = object_access_hook;
	object_access_hook = hnsw_object_access;
	add_int_reloption(hnsw_relopt_kind, "m",
					  "Neighbours per element per level (twice as many at level 0).",
					  HNSW_M_DEFAULT, HNSW_M_MIN, HNSW_M_MAX,
					  AccessExclusiveLock);
	add_int_reloption(hnsw_relopt_kind, "ef_construction",
					  "Size of the candidate list while building the graph.",
					  HNSW_EF_CONSTRUCTION_DEFAULT, HNSW_EF_CONSTRUCTION_MIN,
					  HNSW_EF_CONSTRUCTION_MAX, AccessExclusiveLock);
	add_string_reloption(hnsw_relopt_kind, "storage",
						 "How elements store vectors: float, half or int8 (then scans re-rank by the exact distance from the heap).",
						 "float", validate_storage, AccessExclusiveLock);

	DefineCustomIntVariable("ecml.hnsw_ef_search",
							"Size of the candidate list of an ecml_hnsw index scan.",
							"Larger finds more of the true nearest neighbours, more slowly.",
							&hnsw_ef_search,
							HNSW_EF_SEARCH_DEFAULT, HNSW_EF_SEARCH_MIN, HNSW_EF_SEARCH_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("ecml.hnsw_max_scan_tuples",
							"Most index elements one ecml_hnsw scan visits when a filter keeps asking for rows.",
							NULL,
							&hnsw_max_scan_tuples,
							HNSW_MAX_SCAN_TUPLES_DEFAULT, HNSW_MAX_SCAN_TUPLES_MIN,
							HNSW_MAX_SCAN_TUPLES_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("ecml.hnsw_strict_order",
							 "Keep ecml_hnsw scan results in distance order across batches.",
							 "On, a row the scan finds after it returned a farther one is skipped; off, it is returned out of order.",
							 &hnsw_strict_order,
							 true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
}

static bytea *
hnsw_options(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"m", RELOPT_TYPE_INT, offsetof(HnswOptions, m)},
		{"ef_construction", RELOPT_TYPE_INT, offsetof(HnswOptions, ef_construction)},
		{"storage", RELOPT_TYPE_STRING, offsetof(HnswOptions, storage_offset)},
	};

	return (bytea *) build_reloptions(reloptions, validate, hnsw_relopt_kind,
									  sizeof(HnswOptions), tab, lengthof(tab));
}

/*
 * ALTER INDEX ... SET / RESET (storage): refused when it would differ from
 * what the index holds (its meta page), since the elements would not
 * change.  Runs after the catalog update of any ALTER of a relation, so it
 * looks only at ecml_hnsw indexes.
 */
static void
hnsw_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				   int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (access != OAT_POST_ALTER || classId != RelationRelationId || subId != 0)
		return;
	if (get_rel_relkind(objectId) != RELKIND_INDEX)
		return;
	{
		HeapTuple	tup;
		Form_pg_class form;
		bool		isnull;
		Datum		datum;
		int			want = HNSW_STORAGE_FLOAT;
		HnswMetaPageData meta;
		Relation	index;

		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(objectId));
		if (!HeapTupleIsValid(tup))
			return;
		form = (Form_pg_class) GETSTRUCT(tup);
		if (!am_is_hnsw(form->relam))
		{
			ReleaseSysCache(tup);
			return;
		}
		ReleaseSysCache(tup);
		/* the new pg_class row (only for our indexes: others see no change) */
		CommandCounterIncrement();
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(objectId));
		if (!HeapTupleIsValid(tup))
			return;
		datum = SysCacheGetAttr(RELOID, tup, Anum_pg_class_reloptions, &isnull);
		if (!isnull)
		{
			HnswOptions *opts = (HnswOptions *) hnsw_options(datum, false);

			if (opts && opts->storage_offset != 0)
				want = hnsw_storage_from_name((const char *) opts + opts->storage_offset);
			if (opts)
				pfree(opts);
		}
		ReleaseSysCache(tup);

		index = index_open(objectId, NoLock);	/* ALTER holds its lock */
		if (RelationGetNumberOfBlocks(index) == 0)
		{
			index_close(index, NoLock);
			return;
		}
		hnsw_read_meta(index, &meta);
		if (want != meta.storage)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot change storage of ecml_hnsw index \"%s\" from %s to %s",
							RelationGetRelationName(index), hnsw_storage_name(meta.storage),
							hnsw_storage_name(want)),
					 errdetail("The index's elements are stored as %s; the option does not convert them.",
							   hnsw_storage_name(meta.storage)),
					 errhint("Create a new index WITH (storage = '%s') and drop this one.",
							 hnsw_storage_name(want))));
		index_close(index, NoLock);
	}
}

/*
 * An ecml_hnsw operator family holds ordering operators (strategy 1,
 * FOR ORDER BY float_ops) on real[] and one distance support function
 * (real[], real[]) → double precision.
 */
static bool
hnsw_validate(Oid opclassoid)
{
	bool		ok = true;
	HeapTuple	classtup;
	Form_pg_opclass classform;
	Oid			opfamily;
	CatCList   *oprlist,
			   *proclist;
	bool		have_op = false,
				have_proc = false;

	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	classform = (Form_pg_opclass) GETSTRUCT(classtup);
	opfamily = classform->opcfamily;

	oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamily));
	for (int i = 0; i < oprlist->n_members; i++)
	{
		Form_pg_amop op = (Form_pg_amop) GETSTRUCT(&oprlist->members[i]->tuple);

		if (op->amopstrategy != 1 || op->amoppurpose != AMOP_ORDER ||
			op->amoplefttype != FLOAT4ARRAYOID || op->amoprighttype != FLOAT4ARRAYOID ||
			get_op_rettype(op->amopopr) != FLOAT8OID)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("ecml_hnsw operator family %u contains operator %s that is not a real[] distance ordering operator of strategy 1",
							opfamily, format_operator(op->amopopr))));
			ok = false;
		}
		else
			have_op = true;
	}
	ReleaseCatCacheList(oprlist);

	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamily));
	for (int i = 0; i < proclist->n_members; i++)
	{
		Form_pg_amproc proc = (Form_pg_amproc) GETSTRUCT(&proclist->members[i]->tuple);

		if (proc->amprocnum != 1 ||
			get_func_rettype(proc->amproc) != FLOAT8OID ||
			get_func_nargs(proc->amproc) != 2)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("ecml_hnsw operator family %u contains function %s that is not a distance support function 1",
							opfamily, format_procedure(proc->amproc))));
			ok = false;
		}
		else
			have_proc = true;
	}
	ReleaseCatCacheList(proclist);

	if (!have_op || !have_proc)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("ecml_hnsw operator class \"%s\" needs an ordering operator and support function 1",
						NameStr(classform->opcname))));
		ok = false;
	}
	ReleaseSysCache(classtup);
	return ok;
}

/* names of the build's subphases in pg_stat_progress_create_index */
static char *
hnsw_buildphasename(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case HNSW_PHASE_MEMORY:
			return "building graph in memory";
		case HNSW_PHASE_WRITE:
			return "writing index pages";
		case HNSW_PHASE_DISK:
			return "building graph on disk";
	}
	return NULL;
}

/* ecml.hnsw_handler(internal) → index_am_handler */
PG_FUNCTION_INFO_V1(ecml_hnsw_handler);
Datum
ecml_hnsw_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *am = makeNode(IndexAmRoutine);

	am->amstrategies = 1;
	am->amsupport = 1;
	am->amoptsprocnum = 0;
	am->amcanorder = false;
	am->amcanorderbyop = true;
	am->amcanbackward = false;
	am->amcanunique = false;
	am->amcanmulticol = false;
	am->amoptionalkey = true;
	am->amsearcharray = false;
	am->amsearchnulls = false;
	am->amstorage = false;
	am->amclusterable = false;
	am->ampredlocks = false;
	am->amcanparallel = false;
	am->amcaninclude = false;
	am->amusemaintenanceworkmem = false;
	am->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	am->amkeytype = InvalidOid;
#if PG_VERSION_NUM >= 160000
	am->amsummarizing = false;
#endif
#if PG_VERSION_NUM >= 170000
	/* hnsw_build_parallel.c; on 15 the build asks the planner itself */
	am->amcanbuildparallel = true;
#endif
#if PG_VERSION_NUM >= 180000
	/* distances order nothing by equality or by a btree-like ordering */
	am->amcanhash = false;
	am->amconsistentequality = false;
	am->amconsistentordering = false;
#endif

	am->ambuild = hnsw_build;
	am->ambuildempty = hnsw_buildempty;
	am->aminsert = hnsw_insert;
	am->ambulkdelete = hnsw_bulkdelete;
	am->amvacuumcleanup = hnsw_vacuumcleanup;
	am->amcanreturn = NULL;
	am->amcostestimate = hnsw_costestimate;
	am->amoptions = hnsw_options;
	am->amproperty = NULL;
	am->ambuildphasename = hnsw_buildphasename;
	am->amvalidate = hnsw_validate;
	am->amadjustmembers = NULL;
	am->ambeginscan = hnsw_beginscan;
	am->amrescan = hnsw_rescan;
	am->amgettuple = hnsw_gettuple;
	am->amgetbitmap = NULL;
	am->amendscan = hnsw_endscan;
	am->ammarkpos = NULL;
	am->amrestrpos = NULL;
	am->amestimateparallelscan = NULL;
	am->aminitparallelscan = NULL;
	am->amparallelrescan = NULL;
#if PG_VERSION_NUM >= 170000
	am->aminsertcleanup = NULL;
#endif
#if PG_VERSION_NUM >= 180000
	/* the planner's btree-height term does not apply to a graph */
	am->amgettreeheight = NULL;
	am->amtranslatestrategy = NULL;
	am->amtranslatecmptype = NULL;
#endif

	PG_RETURN_POINTER(am);
}
