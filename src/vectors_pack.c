/*
 * vectors_pack.c
 *	  ecml.pack_vectors(id bigint, embedding real[] [, options jsonb]): the
 *	  parallel-safe aggregate that buffers (id, vector) rows and writes them
 *	  as a model of kind "vectors" -- ids ascending, one contiguous float32
 *	  matrix (rows normalized for the cosine metric) -- and the parser that
 *	  turns such a model back into a searchable VectorsModel.
 *
 * Rows are sorted by id in the final function, so the pack does not depend
 * on the order in which a (parallel) scan delivered them, and a duplicate id
 * is found as two equal neighbours: it is an error.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "arrays.h"
#include "distance.h"
#include "ecml.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "vectors.h"

#define PACKER "ecml.pack_vectors"

#define CHUNK_MIN_BYTES (64 * 1024)
#define CHUNK_MAX_BYTES (4 * 1024 * 1024)

const char *const vectors_metric_names[] = {"cosine", "inner_product", "l2", NULL};

static const EcmlOptionSpec vectors_option_specs[] = {
	{"metric", ECML_OPT_CHOICE, offsetof(VectorsOptions, metric), 0, 0, false,
	vectors_metric_names},
};

#define N_VECTORS_OPTIONS lengthof(vectors_option_specs)

typedef struct PackChunk
{
	int64	   *ids;
	float	   *vecs;			/* nrows x d */
	int			nrows;
	int			capacity;
} PackChunk;

typedef struct PackState
{
	int			d;				/* -1 until the first row */
	int64		nrows;
	int64		nskipped;
	int			nchunks;
	int			maxchunks;
	PackChunk  *chunks;
	Size		bytes;			/* buffer bytes held */
	Jsonb	   *options;		/* as given with the first row, or NULL */
} PackState;

static void
vectors_parse_options(Jsonb *opts, VectorsOptions *o)
{
	o->metric = VECTORS_METRIC_DEFAULT;
	ecml_parse_options(opts, vectors_option_specs, N_VECTORS_OPTIONS, o, PACKER);
}

static PackState *
pack_state_new(MemoryContext aggcxt)
{
	PackState  *st = MemoryContextAllocZero(aggcxt, sizeof(PackState));

	st->d = -1;
	return st;
}

static void
pack_add_chunk(PackState *st, MemoryContext aggcxt, PackChunk chunk)
{
	if (st->nchunks == st->maxchunks)
	{
		int			newmax = Max(16, st->maxchunks * 2);

		if (st->chunks == NULL)
			st->chunks = MemoryContextAlloc(aggcxt, sizeof(PackChunk) * newmax);
		else
			st->chunks = repalloc(st->chunks, sizeof(PackChunk) * newmax);
		st->maxchunks = newmax;
	}
	st->chunks[st->nchunks++] = chunk;
}

/* Room for one more row; a new chunk (geometrically larger) when full. */
static void
pack_row_slot(PackState *st, MemoryContext aggcxt, int64 **id, float **vec)
{
	PackChunk  *last = st->nchunks > 0 ? &st->chunks[st->nchunks - 1] : NULL;
	Size		rowbytes = sizeof(int64) + sizeof(float) * st->d;

	if (last == NULL || last->nrows == last->capacity)
	{
		PackChunk	chunk;
		Size		want = Min(CHUNK_MAX_BYTES, Max(CHUNK_MIN_BYTES, st->bytes / 4));

		chunk.capacity = (int) Max(1, want / rowbytes);
		chunk.nrows = 0;
		ecml_check_train_memory(st->bytes + chunk.capacity * rowbytes, PACKER);
		chunk.ids = MemoryContextAllocHuge(aggcxt, sizeof(int64) * chunk.capacity);
		chunk.vecs = MemoryContextAllocHuge(aggcxt, sizeof(float) * st->d * chunk.capacity);
		st->bytes += chunk.capacity * rowbytes;
		pack_add_chunk(st, aggcxt, chunk);
		last = &st->chunks[st->nchunks - 1];
	}
	*id = last->ids + last->nrows;
	*vec = last->vecs + (Size) last->nrows * st->d;
	last->nrows++;
}

static void
check_same_dims(int have, int got, const char *who)
{
	if (have != got)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s has %d elements, earlier rows have %d", who, got, have),
				 errhint("Every embedding passed to %s must have the same number of dimensions.", PACKER)));
}

/* transition: buffer one row; rows with a NULL id or embedding are counted and skipped */
PG_FUNCTION_INFO_V1(vectors_pack_transfn);
Datum
vectors_pack_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	PackState  *st;
	int64		id;
	float	   *x;
	int64	   *id_slot;
	float	   *vec_slot;
	int			n;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "vectors_pack_transfn called in non-aggregate context");

	st = PG_ARGISNULL(0) ? NULL : (PackState *) PG_GETARG_POINTER(0);
	if (st == NULL)
	{
		st = pack_state_new(aggcxt);
		/* parse now so a bad option fails before the scan, not after */
		if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		{
			VectorsOptions o;
			MemoryContext old = MemoryContextSwitchTo(aggcxt);

			st->options = PG_GETARG_JSONB_P_COPY(3);
			MemoryContextSwitchTo(old);
			vectors_parse_options(st->options, &o);
		}
	}

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		st->nskipped++;
		PG_RETURN_POINTER(st);
	}

	id = PG_GETARG_INT64(1);
	x = ecml_array_float4_unchecked(PG_GETARG_ARRAYTYPE_P(2), "embedding", -1, &n);
	if (n == 0 || n > ECML_VECTOR_MAX_DIM || (st->d >= 0 && n != st->d) ||
		!ecml_all_finite(x, n))
	{
		/* the slow path names the row */
		char	   *who = psprintf("embedding of id " INT64_FORMAT, id);

		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s is empty", who)));
		if (n > ECML_VECTOR_MAX_DIM)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s has %d elements, at most %d are supported",
							who, n, ECML_VECTOR_MAX_DIM)));
		if (st->d >= 0)
			check_same_dims(st->d, n, who);
		ecml_check_finite(x, n, who, false);
	}
	if (st->d < 0)
		st->d = n;

	pack_row_slot(st, aggcxt, &id_slot, &vec_slot);
	*id_slot = id;
	memcpy(vec_slot, x, sizeof(float) * n);
	st->nrows++;

	PG_RETURN_POINTER(st);
}

/* combine: move state2's chunks into state1 (both live in the aggregate context) */
PG_FUNCTION_INFO_V1(vectors_pack_combinefn);
Datum
vectors_pack_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	PackState  *s1 = PG_ARGISNULL(0) ? NULL : (PackState *) PG_GETARG_POINTER(0);
	PackState  *s2 = PG_ARGISNULL(1) ? NULL : (PackState *) PG_GETARG_POINTER(1);

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "vectors_pack_combinefn called in non-aggregate context");
	if (s2 == NULL)
		PG_RETURN_POINTER(s1);
	if (s1 == NULL)
		PG_RETURN_POINTER(s2);

	if (s2->d >= 0)
	{
		if (s1->d < 0)
			s1->d = s2->d;
		check_same_dims(s1->d, s2->d, "an embedding");
	}
	ecml_check_train_memory(s1->bytes + s2->bytes, PACKER);
	for (int i = 0; i < s2->nchunks; i++)
		pack_add_chunk(s1, aggcxt, s2->chunks[i]);
	s1->nrows += s2->nrows;
	s1->nskipped += s2->nskipped;
	s1->bytes += s2->bytes;
	if (s1->options == NULL)
		s1->options = s2->options;
	PG_RETURN_POINTER(s1);
}

/*
 * Serialized state: int32 d, int32 options length, int64 nrows, nskipped,
 * int64 zero, the options jsonb padded to 8, the ids, then the vectors.
 */
#define SERIAL_HEAD 32

PG_FUNCTION_INFO_V1(vectors_pack_serialfn);
Datum
vectors_pack_serialfn(PG_FUNCTION_ARGS)
{
	PackState  *st = (PackState *) PG_GETARG_POINTER(0);
	int32		optlen = st->options ? VARSIZE(st->options) : 0;
	Size		optpad = MAXALIGN(optlen);
	int			d = Max(st->d, 0);
	Size		total = VARHDRSZ + SERIAL_HEAD + optpad +
		(Size) st->nrows * (sizeof(int64) + sizeof(float) * d);
	bytea	   *out;
	char	   *p;

	if (total > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s partial state of a parallel worker exceeds 1 GB", PACKER),
				 errhint("Disable parallel aggregation for this query (SET max_parallel_workers_per_gather = 0).")));
	out = palloc0(total);
	SET_VARSIZE(out, total);
	p = VARDATA(out);
	memcpy(p, &st->d, 4);
	memcpy(p + 4, &optlen, 4);
	memcpy(p + 8, &st->nrows, 8);
	memcpy(p + 16, &st->nskipped, 8);
	p += SERIAL_HEAD;
	if (optlen > 0)
		memcpy(p, st->options, optlen);
	p += optpad;
	for (int i = 0; i < st->nchunks; i++)
	{
		memcpy(p, st->chunks[i].ids, sizeof(int64) * st->chunks[i].nrows);
		p += sizeof(int64) * st->chunks[i].nrows;
	}
	for (int i = 0; i < st->nchunks; i++)
	{
		Size		n = sizeof(float) * d * st->chunks[i].nrows;

		memcpy(p, st->chunks[i].vecs, n);
		p += n;
	}
	PG_RETURN_BYTEA_P(out);
}

PG_FUNCTION_INFO_V1(vectors_pack_deserialfn);
Datum
vectors_pack_deserialfn(PG_FUNCTION_ARGS)
{
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	const char *p = VARDATA_ANY(in);
	Size		len = VARSIZE_ANY_EXHDR(in);
	MemoryContext aggcxt;
	PackState  *st;
	int32		optlen;
	int			d;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "vectors_pack_deserialfn called in non-aggregate context");

	st = pack_state_new(aggcxt);
	if (len < SERIAL_HEAD)
		elog(ERROR, "ecml: invalid pack_vectors partial state");
	memcpy(&st->d, p, 4);
	memcpy(&optlen, p + 4, 4);
	memcpy(&st->nrows, p + 8, 8);
	memcpy(&st->nskipped, p + 16, 8);
	p += SERIAL_HEAD;
	d = Max(st->d, 0);
	if (optlen < 0 || st->nrows < 0 || st->d > ECML_VECTOR_MAX_DIM ||
		(st->nrows > 0 && st->d <= 0) || st->nrows > INT_MAX ||
		len != SERIAL_HEAD + MAXALIGN(optlen) +
		(Size) st->nrows * (sizeof(int64) + sizeof(float) * d))
		elog(ERROR, "ecml: invalid pack_vectors partial state");
	if (optlen > 0)
	{
		st->options = MemoryContextAlloc(aggcxt, optlen);
		memcpy(st->options, p, optlen);
	}
	p += MAXALIGN(optlen);
	if (st->nrows > 0)
	{
		PackChunk	chunk;
		Size		idbytes = sizeof(int64) * st->nrows;
		Size		vecbytes = sizeof(float) * d * st->nrows;

		chunk.nrows = chunk.capacity = (int) st->nrows;
		ecml_check_train_memory(idbytes + vecbytes, PACKER);
		chunk.ids = MemoryContextAllocHuge(aggcxt, idbytes);
		chunk.vecs = MemoryContextAllocHuge(aggcxt, vecbytes);
		memcpy(chunk.ids, p, idbytes);
		memcpy(chunk.vecs, p + idbytes, vecbytes);
		st->bytes = idbytes + vecbytes;
		pack_add_chunk(st, aggcxt, chunk);
	}
	PG_RETURN_POINTER(st);
}

typedef struct PackRow
{
	int64		id;
	const float *vec;
} PackRow;

static int
packrow_cmp(const void *a, const void *b)
{
	int64		x = ((const PackRow *) a)->id;
	int64		y = ((const PackRow *) b)->id;

	return (x > y) - (x < y);
}

/* final: sort by id, refuse duplicates, normalize for cosine, write the model */
PG_FUNCTION_INFO_V1(vectors_pack_finalfn);
Datum
vectors_pack_finalfn(PG_FUNCTION_ARGS)
{
	PackState  *st = PG_ARGISNULL(0) ? NULL : (PackState *) PG_GETARG_POINTER(0);
	VectorsOptions o;
	PackRow    *rows;
	int64	   *ids;
	float	   *matrix;
	int			n;
	int			d;
	int64		r = 0;
	int32		params[2];
	EcmlModelBuilder b;
	StringInfoData json;
	bytea	   *result;

	if (st == NULL || st->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no vectors to pack", PACKER),
				 errdetail("Rows seen: " INT64_FORMAT ", skipped for a NULL id or embedding: " INT64_FORMAT ".",
						   st ? st->nrows + st->nskipped : 0, st ? st->nskipped : 0),
				 errhint("Check the query's WHERE clause and the NULLs in the id and embedding columns.")));
	if (st->nrows > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: " INT64_FORMAT " vectors, at most %d fit in one pack",
						PACKER, st->nrows, INT_MAX)));
	vectors_parse_options(st->options, &o);
	n = (int) st->nrows;
	d = st->d;

	rows = palloc_extended(sizeof(PackRow) * n, MCXT_ALLOC_HUGE);
	for (int c = 0; c < st->nchunks; c++)
		for (int i = 0; i < st->chunks[c].nrows; i++)
		{
			rows[r].id = st->chunks[c].ids[i];
			rows[r].vec = st->chunks[c].vecs + (Size) i * d;
			r++;
		}
	qsort(rows, n, sizeof(PackRow), packrow_cmp);

	ids = palloc_extended(sizeof(int64) * n, MCXT_ALLOC_HUGE);
	matrix = palloc_extended(sizeof(float) * d * (Size) n, MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
	{
		float	   *row = matrix + (Size) i * d;

		if (i > 0 && rows[i].id == rows[i - 1].id)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("%s: duplicate id " INT64_FORMAT, PACKER, rows[i].id),
					 errhint("Pass each id once, for example with SELECT DISTINCT ON (id).")));
		ids[i] = rows[i].id;
		if (o.metric == VECTORS_METRIC_COSINE)
		{
			if (!ecml_l2_normalize_f32(rows[i].vec, row, d))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("%s: embedding of id " INT64_FORMAT " is all zeros, its cosine distance is undefined",
								PACKER, rows[i].id),
						 errhint("Leave zero vectors out of the pack, or use \"metric\": \"l2\" or \"inner_product\".")));
		}
		else
		{
			memcpy(row, rows[i].vec, sizeof(float) * d);
			/* the search's error bounds need |x|^2 to be a float32 */
			if (!isfinite(ecml_norm_squared_f32(row, d)))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("%s: embedding of id " INT64_FORMAT " is too large, its squared norm overflows real",
								PACKER, rows[i].id)));
		}
		if ((i & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(rows);
	/* the buffered rows are copied: give their memory back before building */
	for (int c = 0; c < st->nchunks; c++)
	{
		pfree(st->chunks[c].ids);
		pfree(st->chunks[c].vecs);
	}
	st->nchunks = 0;
	st->nrows = 0;
	st->bytes = 0;

	params[0] = d;
	params[1] = o.metric;
	ecml_builder_init(&b, ECML_KIND_VECTORS);
	initStringInfo(&json);
	appendStringInfo(&json, "{\"dimensions\": %d, \"vectors\": %d, \"metric\": \"%s\"}",
					 d, n, vectors_metric_names[o.metric]);
	ecml_builder_add_json(&b, ECML_TAG_INFO, json.data);
	resetStringInfo(&json);
	ecml_options_to_json(&json, vectors_option_specs, N_VECTORS_OPTIONS, &o);
	ecml_builder_add_json(&b, ECML_TAG_HYPERPARAMS, json.data);
	ecml_builder_add(&b, VECTORS_TAG_PARAMS, ECML_SECTION_INT32, params, sizeof(params));
	ecml_builder_add(&b, VECTORS_TAG_IDS, ECML_SECTION_INT64, ids, sizeof(int64) * n);
	pfree(ids);
	ecml_builder_add(&b, VECTORS_TAG_MATRIX, ECML_SECTION_FLOAT32, matrix,
					 sizeof(float) * d * (Size) n);
	pfree(matrix);
	result = ecml_builder_finish(&b, n + st->nskipped, st->nskipped);
	PG_RETURN_BYTEA_P(result);
}

static void
vectors_corrupted(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid ecml model: vectors %s", what),
			 errhint("Pass a pack produced by ecml.pack_vectors, unmodified.")));
}

/* Parse a validated vectors model: copy ids and matrix into mcxt. */
void *
vectors_parse(const EcmlModel *model, MemoryContext mcxt)
{
	VectorsModel *m = palloc0(sizeof(VectorsModel));
	const EcmlSection *s;
	int32		params[2];
	Size		n;
	int64	   *ids;
	float	   *matrix;

	s = ecml_model_section(model, VECTORS_TAG_PARAMS, ECML_SECTION_INT32, true);
	if (s->length != sizeof(params))
		vectors_corrupted("parameter section has the wrong length");
	memcpy(params, s->data, sizeof(params));
	if (params[0] < 1 || params[0] > ECML_VECTOR_MAX_DIM)
		vectors_corrupted("dimension out of range");
	if (params[1] < 0 || params[1] > VECTORS_METRIC_L2)
		vectors_corrupted("metric unknown");
	m->d = params[0];
	m->metric = params[1];

	s = ecml_model_section(model, VECTORS_TAG_IDS, ECML_SECTION_INT64, true);
	n = s->length / sizeof(int64);
	if (n < 1 || n > INT_MAX)
		vectors_corrupted("count out of range");
	m->n = (int) n;
	ids = ecml_section_int64s(model, VECTORS_TAG_IDS, n);
	for (Size i = 1; i < n; i++)
		if (ids[i] <= ids[i - 1])
			vectors_corrupted("ids are not strictly ascending");
	matrix = ecml_section_floats(model, VECTORS_TAG_MATRIX, n * m->d);
	/* a bytea is under 1 GB, so n * d < 2^28 fits an int */
	if (!ecml_all_finite(matrix, (int) (n * m->d)))
		vectors_corrupted("matrix holds NaN or infinite values");

	m->norms = palloc_extended(sizeof(float) * n, MCXT_ALLOC_HUGE);
	for (Size i = 0; i < n; i++)
	{
		float		nn = ecml_norm_squared_f32(matrix + i * m->d, m->d);

		if (!isfinite(nn))
			vectors_corrupted("matrix row norm overflows");
		m->norms[i] = sqrtf(nn);
		m->max_norm = Max(m->max_norm, m->norms[i]);
	}
	m->ids = ids;
	m->matrix = matrix;
	return m;
}
