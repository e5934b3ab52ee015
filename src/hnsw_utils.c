/*
 * hnsw_utils.c
 *	  What the ecml_hnsw phases (build, insert, scan, vacuum, cost) share:
 *	  the search GUCs' variables, index options, the metric of an operator
 *	  class, vector checks and encodings, pages and the meta page.  The
 *	  handler (hnsw.c) calls the phases and they call this file, as
 *	  pgvector's hnswutils.c.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "access/reloptions.h"
#include "arrays.h"
#include "catalog/pg_type.h"
#include "distance.h"
#include "hnsw.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"

/* the C functions behind the operators <->, <#> and <=> (distance.c) */
extern Datum ecml_l2_distance(PG_FUNCTION_ARGS);
extern Datum ecml_negative_inner_product(PG_FUNCTION_ARGS);
extern Datum ecml_cosine_distance(PG_FUNCTION_ARGS);

int			hnsw_ef_search = HNSW_EF_SEARCH_DEFAULT;
int			hnsw_max_scan_tuples = HNSW_MAX_SCAN_TUPLES_DEFAULT;
bool		hnsw_strict_order = true;

static const char *const storage_names[] = {"float", "half", "int8"};

int
hnsw_storage_from_name(const char *name)
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

void
hnsw_index_options(Relation index, int *m, int *ef_construction)
{
	HnswOptions *opts = (HnswOptions *) index->rd_options;

	*m = opts ? opts->m : HNSW_M_DEFAULT;
	*ef_construction = opts ? opts->ef_construction : HNSW_EF_CONSTRUCTION_DEFAULT;
}

/* the storage option (what a build writes; inserts follow the meta page) */
HnswStorage
hnsw_index_storage(Relation index)
{
	HnswOptions *opts = (HnswOptions *) index->rd_options;
	int			st;

	if (opts == NULL || opts->storage_offset == 0)
		return HNSW_STORAGE_FLOAT;
	st = hnsw_storage_from_name((const char *) opts + opts->storage_offset);
	return st < 0 ? HNSW_STORAGE_FLOAT : (HnswStorage) st;
}

/*
 * The candidate set of a scan's first search: ecml.hnsw_ef_search, and for
 * half and int8 at least twice HNSW_RERANK_BATCH.  Their executor re-rank
 * reads rows past the LIMIT until a bound passes the k-th exact distance
 * (about 40 for LIMIT 10); a smaller first search made the scan resume
 * round after round for them, which cost as much as searching 40 at once,
 * and strict order then skipped the near rows the later rounds found
 * (20,000 x 768 cosine int8, recall@10 at ef_search 10: 0.870 against
 * 0.997 at 40, in the same time; test/bench/RESULTS.md).
 */
int
hnsw_first_ef(int storage)
{
	if (storage == HNSW_STORAGE_FLOAT)
		return hnsw_ef_search;
	return Max(hnsw_ef_search, 2 * HNSW_RERANK_BATCH);
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

/*
 * Would hnsw_prepare_vector accept this value (dim > 0: of dim elements)?
 * The same checks without the error, for the tuples a build may skip.
 */
bool
hnsw_vector_usable(Datum value, const HnswIndexInfo *info, int dim)
{
	ArrayType *arr = DatumGetArrayTypeP(value);
	int n = ARR_NDIM(arr) == 1 ? ARR_DIMS(arr)[0] : 0;
	const float *x = (const float *) ARR_DATA_PTR(arr);
	bool ok;

	ok = ARR_ELEMTYPE(arr) == FLOAT4OID && ARR_NDIM(arr) == 1 &&
		 !(ARR_HASNULL(arr) && array_contains_nulls(arr)) &&
		 n > 0 && n <= ECML_VECTOR_MAX_DIM && (dim == 0 || n == dim) &&
		 hnsw_element_size(info->storage, n, info->m, 0) <= HNSW_MAX_ELEMENT_SIZE &&
		 ecml_all_finite(x, n);
	if (ok && info->metric == HNSW_METRIC_COSINE)
	{
		bool nonzero = false;

		for (int i = 0; i < n && !nonzero; i++)
			nonzero = x[i] != 0.0f;
		ok = nonzero;
	}
	if ((Pointer) arr != DatumGetPointer(value))
		pfree(arr);
	return ok;
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

/* The parameters of the graph on disk, as its meta page records them. */
void
hnsw_meta_info(Relation index, const HnswMetaPageData *meta, HnswIndexInfo *info)
{
	info->metric = hnsw_index_metric(index);
	info->dim = meta->dim;
	info->m = meta->m;
	info->ef_construction = meta->ef_construction;
	info->storage = meta->storage;
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
