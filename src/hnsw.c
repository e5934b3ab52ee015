/*
 * hnsw.c
 *	  The ecml_hnsw access method's handler, reloptions, GUCs, operator
 *	  class validation, cost estimate and the helpers its phases share
 *	  (metric of an operator class, vector checks, pages).
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

/* the C functions behind the operators <->, <#> and <=> (distance.c) */
extern Datum ecml_l2_distance(PG_FUNCTION_ARGS);
extern Datum ecml_negative_inner_product(PG_FUNCTION_ARGS);
extern Datum ecml_cosine_distance(PG_FUNCTION_ARGS);

int			hnsw_ef_search = HNSW_EF_SEARCH_DEFAULT;
int			hnsw_max_scan_tuples = HNSW_MAX_SCAN_TUPLES_DEFAULT;
bool		hnsw_strict_order = true;

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

static const char *const storage_names[] = {"float", "half", "int8"};

static int
storage_from_name(const char *name)
{
	for (int i = 0; i < lengthof(storage_names); i++)
		if (name != NULL && strcmp(name, storage_names[i]) == 0)
			return i;
	return -1;
}

const char *
hnsw_storage_name(int storage)
{
	return storage >= 0 && storage < lengthof(storage_names) ? storage_names[storage] : "?";
}

static void
validate_storage(const char *value)
{
	if (storage_from_name(value) < 0)
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

void
hnsw_index_options(Relation index, int *m, int *ef_construction)
{
	HnswOptions *opts = (HnswOptions *) index->rd_options;

	*m = opts ? opts->m : HNSW_M_DEFAULT;
	*ef_construction = opts ? opts->ef_construction : HNSW_EF_CONSTRUCTION_DEFAULT;
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
				want = storage_from_name((const char *) opts + opts->storage_offset);
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

/* the storage option (what a build writes; inserts follow the meta page) */
HnswStorage
hnsw_index_storage(Relation index)
{
	HnswOptions *opts = (HnswOptions *) index->rd_options;
	int			st;

	if (opts == NULL || opts->storage_offset == 0)
		return HNSW_STORAGE_FLOAT;
	st = storage_from_name((const char *) opts + opts->storage_offset);
	return st < 0 ? HNSW_STORAGE_FLOAT : (HnswStorage) st;
}

/* An element of dim dimensions must fit a page at level 0. */
void
hnsw_check_fits(const HnswIndexInfo *info, int dim)
{
	Size		fixed = hnsw_element_size(info->storage, 0, info->m, 0);
	Size		per = info->storage == HNSW_STORAGE_FLOAT ? 4 :
		info->storage == HNSW_STORAGE_HALF ? 2 : 1;
	int			maxdim = (int) ((HNSW_MAX_ELEMENT_SIZE - fixed) / per) & ~1;

	if (hnsw_element_size(info->storage, dim, info->m, 0) > HNSW_MAX_ELEMENT_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("vector of %d dimensions is too large for an ecml_hnsw index with m = %d and storage = %s",
						dim, info->m, hnsw_storage_name(info->storage)),
				 errdetail("At most %d dimensions fit an %d-byte page with these options.",
						   maxdim, BLCKSZ),
				 errhint("Use storage = 'half' (2 bytes a dimension) or 'int8' (1 byte, up to about 7,900 dimensions at m = 16), or a smaller m.")));
}

/* IEEE 754 binary16 from a float, rounding to nearest even; overflow is infinite */
static uint16
float_to_half(float f)
{
	uint32		x;
	uint32		sign;
	int32		exp;
	uint32		mant;
	uint32		h;
	uint32		rem;

	memcpy(&x, &f, sizeof(x));
	sign = (x >> 16) & 0x8000;
	exp = (int32) ((x >> 23) & 0xff) - 127 + 15;
	mant = x & 0x7fffff;
	if (exp >= 31)
		return sign | 0x7c00;
	if (exp <= 0)
	{
		int			shift;
		uint32		mid;

		if (exp < -10)
			return sign;
		mant |= 0x800000;
		shift = 14 - exp;
		h = mant >> shift;
		rem = mant & ((1u << shift) - 1);
		mid = 1u << (shift - 1);
		if (rem > mid || (rem == mid && (h & 1)))
			h++;
		return sign | h;
	}
	h = sign | ((uint32) exp << 10) | (mant >> 13);
	rem = mant & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
		h++;					/* a carry into the exponent is right */
	return (uint16) h;
}

static float
half_to_float(uint16 h)
{
	uint32		sign = ((uint32) h & 0x8000) << 16;
	uint32		exp = (h >> 10) & 0x1f;
	uint32		mant = h & 0x3ff;
	uint32		x;
	float		f;

	if (exp == 0)
	{
		f = (float) mant * 5.9604644775390625e-8f;	/* 2^-24 */
		return sign ? -f : f;
	}
	if (exp == 31)
		x = sign | 0x7f800000 | (mant << 13);
	else
		x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
	memcpy(&f, &x, sizeof(f));
	return f;
}

/*
 * Store x (dim finite floats) as the storage says, with the norm of its
 * rounding error.  A component beyond half's range (65504) is an error.
 */
void
hnsw_encode_vector(int storage, const float *x, int dim, char *out)
{
	double		err2 = 0.0;
	float		err;

	if (storage == HNSW_STORAGE_FLOAT)
	{
		memcpy(out, x, sizeof(float) * dim);
		return;
	}
	if (storage == HNSW_STORAGE_HALF)
	{
		uint16	   *h = (uint16 *) (out + sizeof(float));

		for (int i = 0; i < dim; i++)
		{
			uint16		v = float_to_half(x[i]);
			double		d;

			if ((v & 0x7c00) == 0x7c00)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("vector component %d (%g) is out of range for an ecml_hnsw index with storage = half",
								i + 1, (double) x[i]),
						 errdetail("Half precision holds magnitudes up to 65504."),
						 errhint("Scale the vectors, or use storage = 'int8' or 'float'.")));
			memcpy(&h[i], &v, sizeof(v));
			d = (double) x[i] - half_to_float(v);
			err2 += d * d;
		}
	}
	else
	{
		int8	   *q = (int8 *) (out + 2 * sizeof(float));
		float		maxabs = 0.0f;
		float		scale;

		for (int i = 0; i < dim; i++)
			maxabs = Max(maxabs, fabsf(x[i]));
		scale = maxabs / 127.0f;
		for (int i = 0; i < dim; i++)
		{
			float		r = scale > 0 ? rintf(x[i] / scale) : 0.0f;
			double		d;

			r = Max(Min(r, 127.0f), -127.0f);
			q[i] = (int8) r;
			d = (double) x[i] - (double) (r * scale);
			err2 += d * d;
		}
		if (dim & 1)
			q[dim] = 0;
		memcpy(out + sizeof(float), &scale, sizeof(float));
	}
	/*
	 * Rounded up by 1e-3 |x|: a scan reports distances from this bound,
	 * which must stay at or below the exact distance the executor computes
	 * from the heap row despite float rounding in both computations.
	 */
	{
		double		norm2 = 0.0;

		for (int i = 0; i < dim; i++)
			norm2 += (double) x[i] * x[i];
		err = (float) (sqrt(err2) + 1e-3 * sqrt(norm2)) + 1e-6f;
	}
	memcpy(out, &err, sizeof(float));
}

void
hnsw_decode_vector(int storage, const char *in, int dim, float *out)
{
	if (storage == HNSW_STORAGE_FLOAT)
		memcpy(out, in, sizeof(float) * dim);
	else if (storage == HNSW_STORAGE_HALF)
	{
		const char *h = in + sizeof(float);

		/*
		 * Stored halves are finite (the encoder refuses the rest): the
		 * exponent and mantissa bits moved into a float's place, times
		 * 2^112 (the difference of the exponent biases), give the value
		 * exactly, subnormals included, with no branch, so the loop
		 * vectorises.
		 */
		for (int i = 0; i < dim; i++)
		{
			uint16		v;
			uint32		bits;
			float		f;

			memcpy(&v, h + 2 * i, sizeof(v));
			bits = ((uint32) v & 0x7fff) << 13;
			memcpy(&f, &bits, sizeof(f));
			f *= 5.192296858534828e+33f;	/* 2^112 */
			out[i] = (v & 0x8000) ? -f : f;
		}
	}
	else
	{
		const int8 *q = (const int8 *) (in + 2 * sizeof(float));
		float		scale;

		memcpy(&scale, in + sizeof(float), sizeof(float));
		for (int i = 0; i < dim; i++)
			out[i] = scale * (float) q[i];
	}
}

/* the norm of the stored vector's rounding error (0 for float) */
float
hnsw_vector_error(int storage, const char *in)
{
	float		err;

	if (storage == HNSW_STORAGE_FLOAT)
		return 0.0f;
	memcpy(&err, in, sizeof(float));
	return err;
}

/*
 * The metric of the index's operator class, recognised by the C function
 * behind its support function 1 (the opclass's distance function).
 */
HnswMetric
hnsw_index_metric(Relation index)
{
	FmgrInfo   *proc = index_getprocinfo(index, 1, 1);

	if (proc->fn_addr == ecml_l2_distance)
		return HNSW_METRIC_L2;
	if (proc->fn_addr == ecml_negative_inner_product)
		return HNSW_METRIC_IP;
	if (proc->fn_addr == ecml_cosine_distance)
		return HNSW_METRIC_COSINE;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("operator class of index \"%s\" has an unsupported distance function %s",
					RelationGetRelationName(index), format_procedure(proc->fn_oid)),
			 errhint("Use ecml.real_l2_ops, ecml.real_ip_ops or ecml.real_cosine_ops.")));
	return HNSW_METRIC_L2;		/* keep the compiler quiet */
}

void
hnsw_check_dim(int have, int got, const char *what)
{
	if (have != got)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s has %d dimensions, the ecml_hnsw index expects %d",
						what, got, have),
				 errhint("All vectors of an index come from the same embedding model; the first row indexed fixed the dimension.")));
}

/*
 * A real[] checked for the index: one dimension, no NULL elements, finite,
 * dim elements when dim > 0, and for cosine not all zeros, which is then
 * normalised to unit length (so the search is an inner product).  The
 * floats go to buf when given (dim floats), else to a palloc'd copy.
 */
float *
hnsw_prepare_vector(Datum value, HnswMetric metric, int dim, const char *what,
					int *dim_out, float *buf)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	int			n;
	float	   *x = ecml_vector_arg(arr, what, &n);

	if (dim > 0)
		hnsw_check_dim(dim, n, what);
	ecml_check_finite(x, n, what, false);
	if (buf == NULL)
		buf = palloc(sizeof(float) * n);
	if (metric == HNSW_METRIC_COSINE)
	{
		if (!ecml_l2_normalize_f32(x, buf, n))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s has norm zero, its cosine distance is undefined", what),
					 errhint("Leave all-zero vectors out of a cosine index (a partial index WHERE ecml.l2_normalize(v) <> v helps), or use ecml.real_l2_ops.")));
	}
	else
		memcpy(buf, x, sizeof(float) * n);
	if ((Pointer) arr != DatumGetPointer(value))
		pfree(arr);
	*dim_out = n;
	return buf;
}

/* The operator's value from the index's internal distance. */
double
hnsw_reported_distance(HnswMetric metric, float internal)
{
	double		d;

	switch (metric)
	{
		case HNSW_METRIC_L2:
			return sqrt((double) Max(internal, 0.0f));
		case HNSW_METRIC_IP:
			return (double) internal;
		case HNSW_METRIC_COSINE:
			d = 1.0 + (double) internal;
			return d < 0.0 ? 0.0 : (d > 2.0 ? 2.0 : d);
	}
	return (double) internal;
}

void
hnsw_init_page(Page page, uint16 kind)
{
	HnswPageOpaque op;

	PageInit(page, BLCKSZ, sizeof(HnswPageOpaqueData));
	op = HnswPageGetOpaque(page);
	op->magic = HNSW_MAGIC;
	op->flags = kind;
	op->unused = 0;
}

void
hnsw_check_page(Relation index, Page page, BlockNumber blkno)
{
	if (PageIsNew(page) ||
		PageGetSpecialSize(page) != MAXALIGN(sizeof(HnswPageOpaqueData)) ||
		HnswPageGetOpaque(page)->magic != HNSW_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" block %u is not an ecml_hnsw page",
						RelationGetRelationName(index), blkno),
				 errhint("REINDEX the index.")));
}

/* A copy of the meta page, read under a share lock. */
void
hnsw_read_meta(Relation index, HnswMetaPageData *meta)
{
	Buffer		buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	hnsw_check_page(index, page, HNSW_METAPAGE_BLKNO);
	memcpy(meta, HnswPageGetMeta(page), sizeof(HnswMetaPageData));
	UnlockReleaseBuffer(buf);
	if (meta->magic != HNSW_MAGIC || meta->version != HNSW_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has a bad ecml_hnsw meta page (magic %08x, version %u)",
						RelationGetRelationName(index), meta->magic, meta->version),
				 errhint("REINDEX the index.")));
}

/* floor(-ln(u) mL) with mL = 1 / ln(m) (Malkov & Yashunin, section 4.1) */
int
hnsw_random_level(double u, int m)
{
	double		l;

	if (u <= 0.0)
		u = DBL_MIN;
	l = floor(-log(u) / log((double) m));
	return (int) Min(l, HNSW_MAX_LEVEL);
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
	/* one backend builds the graph; no parallel build */
	am->amcanbuildparallel = false;
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
