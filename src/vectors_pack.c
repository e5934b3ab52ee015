/*
 * vectors_pack.c
 *	  ecml.pack_vectors(id bigint, embedding real[] [, options jsonb]): the
 *	  parallel-safe aggregate that buffers (id, vector) rows and writes them
 *	  as a model of kind "vectors" -- ids ascending, one contiguous float32
 *	  matrix (rows normalized for the cosine metric); vectors_model.c
 *	  parses it back.
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
#include "rowbuf.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "vectors.h"

#define PACKER "ecml.pack_vectors"

static const EcmlOptionSpec vectors_option_specs[] = {
	{"metric", ECML_OPT_CHOICE, offsetof(VectorsOptions, metric), 0, 0, false,
	vectors_metric_names},
};

#define N_VECTORS_OPTIONS lengthof(vectors_option_specs)

typedef struct PackState
{
	int			d;				/* -1 until the first row */
	int64		nskipped;
	Rowbuf		rows;			/* int64 id, then d floats */
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
check_same_dims(int have, int got, const char *who)
{
	if (have != got)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s has %d elements, earlier rows have %d", who, got, have),
				 errhint("Every embedding passed to %s must have the same number of dimensions.", PACKER)));
}

/* transition: buffer one row; rows with a NULL id or embedding are counted and skipped */
PG_FUNCTION_INFO_V1(pack_vectors_transfn);
Datum
pack_vectors_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	PackState  *st;
	int64		id;
	float	   *x;
	char	   *slot;
	int			n;

	aggcxt = ecml_agg_context(fcinfo, "pack_vectors_transfn");

	st = PG_ARGISNULL(0) ? NULL : (PackState *) PG_GETARG_POINTER(0);
	if (st == NULL)
	{
		st = pack_state_new(aggcxt);
		st->options = ecml_options_arg(fcinfo, 3, aggcxt);
		/* parse now so a bad option fails before the scan, not after */
		if (st->options != NULL)
		{
			VectorsOptions o;

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
	{
		st->d = n;
		st->rows.record_size = sizeof(int64) + sizeof(float) * n;
	}

	slot = rowbuf_append(&st->rows, aggcxt, PACKER);
	memcpy(slot, &id, sizeof(int64));
	memcpy(slot + sizeof(int64), x, sizeof(float) * n);

	PG_RETURN_POINTER(st);
}

/* combine: move state2's chunks into state1 (both live in the aggregate context) */
PG_FUNCTION_INFO_V1(pack_vectors_combinefn);
Datum
pack_vectors_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	PackState  *s1 = PG_ARGISNULL(0) ? NULL : (PackState *) PG_GETARG_POINTER(0);
	PackState  *s2 = PG_ARGISNULL(1) ? NULL : (PackState *) PG_GETARG_POINTER(1);

	aggcxt = ecml_agg_context(fcinfo, "pack_vectors_combinefn");
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
	rowbuf_move(&s1->rows, &s2->rows, aggcxt, PACKER);
	s1->nskipped += s2->nskipped;
	if (s1->options == NULL)
		s1->options = s2->options;
	PG_RETURN_POINTER(s1);
}

/*
 * Serialized state: int32 d, int32 options length, int64 nrows, nskipped,
 * int64 zero, the options jsonb padded to 8, then the rows (id, vector).
 */
#define SERIAL_HEAD 32

PG_FUNCTION_INFO_V1(pack_vectors_serialfn);
Datum
pack_vectors_serialfn(PG_FUNCTION_ARGS)
{
	PackState  *st = (PackState *) PG_GETARG_POINTER(0);
	int32		optlen = st->options ? VARSIZE(st->options) : 0;
	char	   *head;
	char	   *rows;
	bytea	   *out;

	out = rowbuf_frame_new(PACKER, "", SERIAL_HEAD, st->options,
						   (Size) st->rows.nrows * st->rows.record_size, &head, &rows);
	memcpy(head, &st->d, 4);
	memcpy(head + 4, &optlen, 4);
	memcpy(head + 8, &st->rows.nrows, 8);
	memcpy(head + 16, &st->nskipped, 8);
	rowbuf_write(&st->rows, rows);
	PG_RETURN_BYTEA_P(out);
}

PG_FUNCTION_INFO_V1(pack_vectors_deserialfn);
Datum
pack_vectors_deserialfn(PG_FUNCTION_ARGS)
{
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	const char *p;
	MemoryContext aggcxt;
	PackState  *st;
	int32		optlen;
	int64		nrows;

	aggcxt = ecml_agg_context(fcinfo, "pack_vectors_deserialfn");

	st = pack_state_new(aggcxt);
	p = rowbuf_frame_head(in, SERIAL_HEAD, "pack_vectors");
	memcpy(&st->d, p, 4);
	memcpy(&optlen, p + 4, 4);
	memcpy(&nrows, p + 8, 8);
	memcpy(&st->nskipped, p + 16, 8);
	if (nrows < 0 || st->d > ECML_VECTOR_MAX_DIM ||
		(nrows > 0 && st->d <= 0) || nrows > INT_MAX)
		ecml_partial_state_invalid("pack_vectors");
	st->rows.record_size = sizeof(int64) + sizeof(float) * Max(st->d, 0);
	p = rowbuf_frame_body(in, SERIAL_HEAD, optlen, (Size) nrows * st->rows.record_size,
						  aggcxt, "pack_vectors", &st->options);
	rowbuf_read(&st->rows, p, nrows, aggcxt, PACKER);
	PG_RETURN_POINTER(st);
}

typedef struct PackRow
{
	int64		id;
	const float *vec;
} PackRow;

/*
 * Rows by ascending id.  Interruptible: sorting tens of millions of rows
 * takes seconds, and cancel must stop it within about a second.
 */
#define ST_SORT sort_pack_rows
#define ST_ELEMENT_TYPE PackRow
#define ST_COMPARE(a, b) (((a)->id > (b)->id) - ((a)->id < (b)->id))
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/* The buffered rows, pointed to in id order. */
static PackRow *
pack_sorted_rows(const PackState *st, int n)
{
	PackRow    *rows = palloc_extended(sizeof(PackRow) * n, MCXT_ALLOC_HUGE);
	int64		r = 0;

	for (int c = 0; c < st->rows.nchunks; c++)
		for (int i = 0; i < st->rows.chunks[c].nrows; i++)
		{
			const char *rec = st->rows.chunks[c].data + (Size) i * st->rows.record_size;

			/* records are packed: an id may be only 4-byte aligned */
			memcpy(&rows[r].id, rec, sizeof(int64));
			rows[r].vec = (const float *) (rec + sizeof(int64));
			r++;
		}
	sort_pack_rows(rows, n);
	return rows;
}

/* Row i of the sorted rows into the matrix: unique id, normalized or checked. */
static void
pack_copy_row(const VectorsOptions *o, const PackRow *rows, int i, int d, float *row)
{
	if (i > 0 && rows[i].id == rows[i - 1].id)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("%s: duplicate id " INT64_FORMAT, PACKER, rows[i].id),
				 errhint("Pass each id once, for example with SELECT DISTINCT ON (id).")));
	if (o->metric == VECTORS_METRIC_COSINE)
	{
		if (!ecml_l2_normalize_f32(rows[i].vec, row, d))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s: embedding of id " INT64_FORMAT " is all zeros, its cosine distance is undefined",
							PACKER, rows[i].id),
					 errhint("Leave zero vectors out of the pack, or use \"metric\": \"l2\" or \"inner_product\".")));
		return;
	}
	memcpy(row, rows[i].vec, sizeof(float) * d);
	/* the search's error bounds need |x|^2 to be a float32 */
	if (!isfinite(ecml_norm_squared_f32(row, d)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: embedding of id " INT64_FORMAT " is too large, its squared norm overflows real",
						PACKER, rows[i].id)));
}

/* The model from the packed ids and matrix, which it frees once copied. */
static bytea *
pack_write(const VectorsOptions *o, int64 *ids, float *matrix, int n, int d,
		   int64 nskipped)
{
	int32		params[2];
	EcmlModelBuilder b;
	StringInfoData json;

	params[0] = d;
	params[1] = o->metric;
	ecml_builder_init(&b, ECML_KIND_VECTORS);
	initStringInfo(&json);
	appendStringInfo(&json, "{\"dimensions\": %d, \"vectors\": %d, \"metric\": \"%s\"}",
					 d, n, vectors_metric_names[o->metric]);
	ecml_builder_add_json(&b, ECML_TAG_INFO, json.data);
	resetStringInfo(&json);
	ecml_options_to_json(&json, vectors_option_specs, N_VECTORS_OPTIONS, o);
	ecml_builder_add_json(&b, ECML_TAG_HYPERPARAMS, json.data);
	ecml_builder_add(&b, VECTORS_TAG_PARAMS, ECML_SECTION_INT32, params, sizeof(params));
	ecml_builder_add(&b, VECTORS_TAG_IDS, ECML_SECTION_INT64, ids, sizeof(int64) * n);
	pfree(ids);
	ecml_builder_add(&b, VECTORS_TAG_MATRIX, ECML_SECTION_FLOAT32, matrix,
					 sizeof(float) * d * (Size) n);
	pfree(matrix);
	return ecml_builder_finish(&b, n + nskipped, nskipped);
}

/* final: sort by id, refuse duplicates, normalize for cosine, write the model */
PG_FUNCTION_INFO_V1(pack_vectors_finalfn);
Datum
pack_vectors_finalfn(PG_FUNCTION_ARGS)
{
	PackState  *st = PG_ARGISNULL(0) ? NULL : (PackState *) PG_GETARG_POINTER(0);
	VectorsOptions o;
	PackRow    *rows;
	int64	   *ids;
	float	   *matrix;
	int			n;
	int			d;
	EcmlTrainMemory mem;
	Size		packed;

	if (st == NULL || st->rows.nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no vectors to pack", PACKER),
				 errdetail("Rows seen: " INT64_FORMAT ", skipped for a NULL id or embedding: " INT64_FORMAT ".",
						   st ? st->rows.nrows + st->nskipped : 0, st ? st->nskipped : 0),
				 errhint("Check the query's WHERE clause and the NULLs in the id and embedding columns.")));
	if (st->rows.nrows > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: " INT64_FORMAT " vectors, at most %d fit in one pack",
						PACKER, st->rows.nrows, INT_MAX)));
	vectors_parse_options(st->options, &o);
	n = (int) st->rows.nrows;
	d = st->d;

	/*
	 * Held at once: the buffered rows, their sorted index and the packed
	 * ids and matrix; then, the rows freed, the packed arrays and the
	 * model's copy of them.
	 */
	packed = (sizeof(int64) + sizeof(float) * (Size) d) * n;
	ecml_train_memory_init(&mem, PACKER, st->rows.bytes);
	ecml_train_memory_charge(&mem, sizeof(PackRow) * (Size) n, "sorted row index");
	ecml_train_memory_charge(&mem, packed,
							 psprintf("packed matrix (%d x %d float4) and ids", n, d));
	rows = pack_sorted_rows(st, n);
	ids = palloc_extended(sizeof(int64) * n, MCXT_ALLOC_HUGE);
	matrix = palloc_extended(sizeof(float) * d * (Size) n, MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
	{
		pack_copy_row(&o, rows, i, d, matrix + (Size) i * d);
		ids[i] = rows[i].id;
		if ((i & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(rows);
	/* the buffered rows are copied: give their memory back before building */
	for (int c = 0; c < st->rows.nchunks; c++)
		pfree(st->rows.chunks[c].data);
	st->rows.nchunks = 0;
	st->rows.nrows = 0;
	ecml_train_memory_release(&mem, st->rows.bytes + sizeof(PackRow) * (Size) n);
	st->rows.bytes = 0;
	ecml_train_memory_charge(&mem, packed, "model");
	PG_RETURN_BYTEA_P(pack_write(&o, ids, matrix, n, d, st->nskipped));
}
