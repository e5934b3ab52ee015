/*
 * model.c
 *	  The model container (see model.h for the layout): writing, validating
 *	  and reading sections, ecml.model_info(), and the parsed-model cache.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "common/cryptohash.h"
#include "common/jsonapi.h"
#include "common/sha2.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "ecml.h"
#include "gbdt.h"
#include "iforest.h"
#include "logreg.h"
#include "lstm.h"
#include "mf.h"
#include "model.h"
#include "port/pg_crc32c.h"
#include "text.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonfuncs.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "vectors.h"

#ifdef WORDS_BIGENDIAN
#error "ecml's model container is little-endian; big-endian hosts are not supported"
#endif

static const char *const kind_names[] = {
	NULL, "logreg", "mf", "vectors", "lstm", "gbdt", "iforest",
	"word_vectors", "text_classifier"
};

static const char *const section_type_names[] = {
	"bytes", "float32", "float64", "int64", "int32", "json", "texts"
};

static const Size section_type_width[] = {1, 4, 8, 8, 4, 1, 1};

/*
 * Bounds on what the reader allocates from counts in the input, checked
 * before allocating: no kind writes more than 16 sections, and the largest
 * text section is an LSTM vocabulary of at most 10^7 tokens.
 */
#define ECML_MAX_SECTIONS	1024
#define ECML_MAX_TEXTS		10000000
/* the JSON sections (shape, hyper-parameters, metrics) nest 3 levels */
#define ECML_MAX_JSON_NESTING 64

const char *
ecml_kind_name(int kind)
{
	if (kind >= 1 && kind <= ECML_KIND_MAX)
		return kind_names[kind];
	return "unknown";
}

/* True when json parses as JSON. */
static bool
json_is_valid(const char *json)
{
#if PG_VERSION_NUM >= 170000
	JsonLexContext lexbuf;
	JsonLexContext *lex = makeJsonLexContextCstringLen(&lexbuf, json, strlen(json),
													   PG_UTF8, false);
#else
	JsonLexContext *lex = makeJsonLexContextCstringLen((char *) json, strlen(json),
													   PG_UTF8, false);
#endif

	return pg_parse_json(lex, &nullSemAction) == JSON_SUCCESS;
}

/*
 * The deepest nesting of arrays and objects in json, strings skipped.  The
 * JSON parser recurses per level: a crafted section of a million '['
 * exhausts the stack (the server stops it with "stack depth limit
 * exceeded", a parser without that check crashes), so the depth is
 * checked before parsing.
 */
static int
json_nesting(const char *json)
{
	int			depth = 0;
	int			deepest = 0;
	bool		in_string = false;

	for (const char *p = json; *p; p++)
	{
		if (in_string)
		{
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				in_string = false;
		}
		else if (*p == '"')
			in_string = true;
		else if (*p == '[' || *p == '{')
			deepest = Max(deepest, ++depth);
		else if (*p == ']' || *p == '}')
			depth--;
	}
	return deepest;
}

pg_crc32c
ecml_crc32c(const char *data, Size len)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, data, len);
	FIN_CRC32C(crc);
	return crc;
}

/* ---- writing ---- */

void
ecml_builder_init(EcmlModelBuilder *b, EcmlModelKind kind)
{
	initStringInfo(&b->buf);
	b->kind = kind;
	b->nsections = 0;
	/* the header is filled in by ecml_builder_finish */
	appendBinaryStringInfo(&b->buf, "\0\0\0\0", VARHDRSZ);
	enlargeStringInfo(&b->buf, ECML_HEADER_SIZE);
	memset(b->buf.data + b->buf.len, 0, ECML_HEADER_SIZE);
	b->buf.len += ECML_HEADER_SIZE;
}

void
ecml_builder_add(EcmlModelBuilder *b, uint32 tag, EcmlSectionType type,
				 const void *data, Size len)
{
	char		head[ECML_SECTION_HEADER];
	uint32		type32 = (uint32) type;
	uint64		len64 = (uint64) len;
	Size		pad = (ECML_ALIGN - len % ECML_ALIGN) % ECML_ALIGN;

	/* a bytea is at most 1 GB; say so before StringInfo fails less clearly */
	if ((Size) b->buf.len + ECML_SECTION_HEADER + len + pad > MaxAllocSize - 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s model would be larger than 1 GB", ecml_kind_name(b->kind)),
				 errhint("Reduce the model's size (fewer factors, items or features).")));

	memcpy(head, &tag, 4);
	memcpy(head + 4, &type32, 4);
	memcpy(head + 8, &len64, 8);
	appendBinaryStringInfo(&b->buf, head, ECML_SECTION_HEADER);
	if (len > 0)
		appendBinaryStringInfo(&b->buf, data, len);
	if (pad > 0)
	{
		static const char zeros[ECML_ALIGN] = {0};

		appendBinaryStringInfo(&b->buf, zeros, pad);
	}
	b->nsections++;
}

void
ecml_builder_add_json(EcmlModelBuilder *b, uint32 tag, const char *json)
{
	/* a model must never carry JSON that model_info cannot show */
	if (!json_is_valid(json))
		elog(ERROR, "ecml: internal error: invalid JSON for model section");
	ecml_builder_add(b, tag, ECML_SECTION_JSON, json, strlen(json));
}

void
ecml_builder_add_texts(EcmlModelBuilder *b, uint32 tag, char **items, int n)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; i < n; i++)
		appendBinaryStringInfo(&s, items[i], strlen(items[i]) + 1);
	ecml_builder_add(b, tag, ECML_SECTION_TEXTS, s.data, s.len);
	pfree(s.data);
}

bytea *
ecml_builder_finish(EcmlModelBuilder *b, int64 rows_seen, int64 rows_skipped)
{
	char	   *h = b->buf.data + VARHDRSZ;
	uint16		version = ECML_FORMAT_VERSION;
	uint16		kind = (uint16) b->kind;
	uint32		header_size = ECML_HEADER_SIZE;
	uint64		payload_size = (uint64) b->buf.len - VARHDRSZ - ECML_HEADER_SIZE;
	uint32		payload_crc;
	TimestampTz now = GetCurrentTimestamp();
	uint32		header_crc;

	payload_crc = ecml_crc32c(h + ECML_HEADER_SIZE, payload_size);
	memcpy(h, ECML_MAGIC, 4);
	memcpy(h + 4, &version, 2);
	memcpy(h + 6, &kind, 2);
	memcpy(h + 8, &header_size, 4);
	memcpy(h + 12, &b->nsections, 4);
	memcpy(h + 16, &payload_size, 8);
	memcpy(h + 24, &payload_crc, 4);
	memcpy(h + 32, &rows_seen, 8);
	memcpy(h + 40, &rows_skipped, 8);
	memcpy(h + 48, &now, 8);
	header_crc = ecml_crc32c(h, 60);
	memcpy(h + 60, &header_crc, 4);

	SET_VARSIZE(b->buf.data, b->buf.len);
	return (bytea *) b->buf.data;
}

/* ---- reading ---- */

static void
corrupted(const char *check, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid ecml model: %s", check),
			 detail ? errdetail_internal("%s", detail) : 0,
			 errhint("Pass a model produced by an ecml training aggregate, unmodified.")));
}

/*
 * Decode and check the fixed header of data[0..size).  Shared by
 * ecml_model_open and the cache's fast path.
 */
static void
decode_header(const char *data, Size size, EcmlHeader *hdr)
{
	uint32		header_crc;
	uint32		reserved1,
				reserved2;

	if (size < 4 || memcmp(data, ECML_MAGIC, 4) != 0)
		corrupted("not an ecml model (magic \"ECML\" missing)", NULL);
	if (size < ECML_HEADER_SIZE)
		corrupted("truncated header",
				  psprintf("The value has %zu bytes; the header alone needs %d.",
						   size, ECML_HEADER_SIZE));
	memcpy(&hdr->version, data + 4, 2);
	memcpy(&hdr->kind, data + 6, 2);
	memcpy(&hdr->header_size, data + 8, 4);
	memcpy(&hdr->section_count, data + 12, 4);
	memcpy(&hdr->payload_size, data + 16, 8);
	memcpy(&hdr->payload_crc, data + 24, 4);
	memcpy(&reserved1, data + 28, 4);
	memcpy(&hdr->rows_seen, data + 32, 8);
	memcpy(&hdr->rows_skipped, data + 40, 8);
	memcpy(&hdr->created_at, data + 48, 8);
	memcpy(&reserved2, data + 56, 4);
	memcpy(&header_crc, data + 60, 4);

	/* the version comes before the CRC so a newer model says what it is */
	if (hdr->version > ECML_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("ecml model has format version %u, this ecml reads up to version %d",
						hdr->version, ECML_FORMAT_VERSION),
				 errhint("Upgrade the ecml extension (ALTER EXTENSION ecml UPDATE) to read it.")));
	if (hdr->version == 0)
		corrupted("format version 0", NULL);
	if (header_crc != ecml_crc32c(data, 60))
		corrupted("header checksum mismatch", NULL);
	if (hdr->header_size != ECML_HEADER_SIZE)
		corrupted("wrong header size",
				  psprintf("Header size is %u, expected %d.", hdr->header_size, ECML_HEADER_SIZE));
	if (reserved1 != 0 || reserved2 != 0)
		corrupted("reserved header fields are not zero", NULL);
	if (hdr->kind < 1 || hdr->kind > ECML_KIND_MAX)
		corrupted("unknown model kind", psprintf("Kind code %u.", hdr->kind));
	if (hdr->payload_size != size - ECML_HEADER_SIZE)
		corrupted("size mismatch (truncated or padded)",
				  psprintf("The header announces %llu payload bytes; the value holds %zu.",
						   (unsigned long long) hdr->payload_size,
						   size - ECML_HEADER_SIZE));
	if (hdr->rows_seen < 0 || hdr->rows_skipped < 0)
		corrupted("negative row counts", NULL);
	/* model_info shows it and save_model stores it as a timestamptz */
	if (!IS_VALID_TIMESTAMP(hdr->created_at))
		corrupted("creation time out of range", NULL);
}

void
ecml_model_open(bytea *raw, int expected_kind, EcmlModel *model)
{
	const char *data = VARDATA_ANY(raw);
	Size		size = VARSIZE_ANY_EXHDR(raw);
	EcmlHeader *hdr = &model->header;
	Size		off;

	decode_header(data, size, hdr);

	if (ecml_crc32c(data + ECML_HEADER_SIZE, hdr->payload_size) != hdr->payload_crc)
		corrupted("payload checksum mismatch", NULL);

	if (expected_kind != 0 && hdr->kind != expected_kind)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("wrong kind of ecml model: got %s, expected %s",
						ecml_kind_name(hdr->kind), ecml_kind_name(expected_kind)),
				 errhint("Pass a model trained by the matching ecml aggregate.")));

	/*
	 * Each section needs at least its 16-byte head; and the section table
	 * is allocated from this count, so it is bounded before that by a
	 * constant too (a 1 GB payload could otherwise ask for a 2 GB table).
	 */
	if (hdr->section_count > hdr->payload_size / ECML_SECTION_HEADER)
		corrupted("section count larger than the payload allows", NULL);
	if (hdr->section_count > ECML_MAX_SECTIONS)
		corrupted("too many sections",
				  psprintf("The header announces %u sections; a model has at most %d.",
						   hdr->section_count, ECML_MAX_SECTIONS));

	model->bytes = data;
	model->size = size;
	model->nsections = (int) hdr->section_count;
	model->sections = palloc0(sizeof(EcmlSection) * Max(1, model->nsections));

	off = ECML_HEADER_SIZE;
	for (int i = 0; i < model->nsections; i++)
	{
		EcmlSection *s = &model->sections[i];
		uint64		len64;

		if (size - off < ECML_SECTION_HEADER)
			corrupted("section header runs past the end", psprintf("Section %d.", i));
		memcpy(&s->tag, data + off, 4);
		memcpy(&s->type, data + off + 4, 4);
		memcpy(&len64, data + off + 8, 8);
		off += ECML_SECTION_HEADER;
		if (s->type > ECML_SECTION_TYPE_MAX)
			corrupted("unknown section type", psprintf("Section %d has type %u.", i, s->type));
		if (len64 > size - off)
			corrupted("section runs past the end", psprintf("Section %d.", i));
		if (len64 % section_type_width[s->type] != 0)
			corrupted("section length is not a multiple of its element size",
					  psprintf("Section %d.", i));
		s->length = (Size) len64;
		s->data = data + off;
		off += s->length;
		off += (ECML_ALIGN - s->length % ECML_ALIGN) % ECML_ALIGN;
		if (off > size)
			corrupted("section padding runs past the end", psprintf("Section %d.", i));
	}
	if (off != size)
		corrupted("trailing bytes after the last section", NULL);
}

const EcmlSection *
ecml_model_section(const EcmlModel *model, uint32 tag, EcmlSectionType type,
				   bool required)
{
	char		tagname[5];

	for (int i = 0; i < model->nsections; i++)
	{
		if (model->sections[i].tag != tag)
			continue;
		if (model->sections[i].type != (uint32) type)
			break;
		return &model->sections[i];
	}
	if (!required)
		return NULL;
	memcpy(tagname, &tag, 4);
	tagname[4] = '\0';
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid ecml model: section \"%s\" of type %s is missing",
					tagname, section_type_names[type]),
			 errhint("Pass a model produced by an ecml training aggregate, unmodified.")));
	return NULL;				/* keep compiler quiet */
}

static void *
section_copy(const EcmlModel *model, uint32 tag, EcmlSectionType type, Size n)
{
	const EcmlSection *s = ecml_model_section(model, tag, type, true);
	Size		width = section_type_width[type];
	void	   *out;

	if (s->length != n * width)
	{
		char		tagname[5];

		memcpy(tagname, &tag, 4);
		tagname[4] = '\0';
		corrupted("section has the wrong length",
				  psprintf("Section \"%s\" has %zu elements, expected %zu.",
						   tagname, s->length / width, n));
	}
	out = palloc_extended(Max(n * width, 1), MCXT_ALLOC_HUGE);
	if (n > 0)
		memcpy(out, s->data, n * width);
	return out;
}

float *
ecml_section_floats(const EcmlModel *model, uint32 tag, Size n)
{
	return section_copy(model, tag, ECML_SECTION_FLOAT32, n);
}

double *
ecml_section_doubles(const EcmlModel *model, uint32 tag, Size n)
{
	return section_copy(model, tag, ECML_SECTION_FLOAT64, n);
}

int64 *
ecml_section_int64s(const EcmlModel *model, uint32 tag, Size n)
{
	return section_copy(model, tag, ECML_SECTION_INT64, n);
}

char **
ecml_section_texts(const EcmlModel *model, uint32 tag, int *n_out)
{
	const EcmlSection *s = ecml_model_section(model, tag, ECML_SECTION_TEXTS, false);
	char	  **items;
	char	   *copy;
	Size		n = 0;
	Size		off;

	*n_out = 0;
	if (s == NULL)
		return NULL;
	if (s->length > 0 && s->data[s->length - 1] != '\0')
		corrupted("text section is not NUL-terminated", NULL);
	/* count first: the pointer array is sized by the data, never beyond */
	for (off = 0; off < s->length; off += strlen(s->data + off) + 1)
		n++;
	if (n > ECML_MAX_TEXTS)
		corrupted("text section holds too many strings",
				  psprintf("The section holds %zu strings; a model has at most %d.",
						   n, ECML_MAX_TEXTS));
	/* one copy of the data, the strings pointing into it */
	copy = palloc_extended(Max(s->length, 1), MCXT_ALLOC_HUGE);
	memcpy(copy, s->data, s->length);
	items = palloc_extended(sizeof(char *) * Max(n, 1), MCXT_ALLOC_HUGE);
	off = 0;
	for (Size i = 0; i < n; i++)
	{
		items[i] = copy + off;
		off += strlen(copy + off) + 1;
	}
	*n_out = (int) n;
	return items;
}

char *
ecml_section_json(const EcmlModel *model, uint32 tag)
{
	const EcmlSection *s = ecml_model_section(model, tag, ECML_SECTION_JSON, false);
	char	   *json;

	if (s == NULL)
		return NULL;
	json = pnstrdup(s->data, s->length);
	if (strlen(json) != s->length)
		corrupted("JSON section does not parse", NULL);
	if (json_nesting(json) > ECML_MAX_JSON_NESTING)
		corrupted("JSON section nests too deep",
				  psprintf("A model's JSON nests at most %d levels.", ECML_MAX_JSON_NESTING));
	if (!json_is_valid(json))
		corrupted("JSON section does not parse", NULL);
	return json;
}

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
		corrupted("creation time out of range", NULL);
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
		corrupted("INFO section is not a JSON object", NULL);
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
						 section_type_names[model.sections[i].type],
						 model.sections[i].length);
	}
	appendStringInfoString(&buf, "]}");
	facts = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));

	/* the kind's shape (dimensions, vocabulary, ...) at the top level */
	shape = model_info_shape(&model);
	PG_RETURN_DATUM(DirectFunctionCall2(jsonb_concat, shape, facts));
}

/* ---- the parsed-model cache ---- */

/*
 * Identity.  The header holds the payload's CRC32C, which catches damage
 * but not a model made on purpose to share another's header: CRC32C is
 * affine, so anyone can pick four bytes of a changed payload that restore
 * the old CRC.  Two different models must never share a parse (one role
 * could otherwise make another role's scoring use its weights), so a slot
 * is keyed by the SHA-256 of the whole value, computed when the value is
 * read in full anyway (to check its CRC).  The shortcuts that do not read
 * the whole value rely on identities PostgreSQL guarantees instead: an
 * out-of-line value is immutable under its TOAST pointer, so a slot lists
 * the TOAST pointers found to hold its bytes; an inline value at a call
 * site is compared byte for byte with the last one (up to
 * CALLSITE_COPY_MAX bytes), or by address for larger in-memory values,
 * which a query builds once (a parameter, a PL/pgSQL variable, an
 * InitPlan) rather than per row.
 */
#define CACHE_SLOTS 16
#define CACHE_MAX_BYTES ((Size) 1024 * 1024 * 1024)
#define CACHE_TOAST_IDS 4
#define CALLSITE_COPY_MAX ((Size) 64 * 1024)

/* What names an out-of-line value for as long as it exists. */
typedef struct ToastId
{
	Oid			toastrelid;
	Oid			valueid;
} ToastId;

typedef struct CacheSlot
{
	uint64		serial;			/* 0: empty */
	uint64		last_used;
	char		header[ECML_HEADER_SIZE];
	Size		size;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];	/* key: SHA-256 of the value */
	int			ntoast;			/* out-of-line values known to hold it */
	ToastId		toast[CACHE_TOAST_IDS];
	EcmlParseFn parse;
	MemoryContext mcxt;
	Size		bytes;
	void	   *parsed;
} CacheSlot;

static CacheSlot cache_slots[CACHE_SLOTS];
static uint64 cache_serial = 0;
static uint64 cache_clock = 0;
static MemoryContext cache_context = NULL;

/* What a call site (fn_extra) remembers about the last model it saw. */
typedef struct CallSiteCache
{
	int			slot;
	uint64		serial;
	bool		external;
	varatt_external toast;		/* identity of an out-of-line value */
	Size		size;			/* an inline value: its size (0: none) ... */
	char		header[ECML_HEADER_SIZE];	/* ... header ... */
	const void *address;		/* ... and address, or ... */
	char	   *copy;			/* ... all of it, when small */
	Size		copy_alloc;
} CallSiteCache;

static void
cache_evict(int i)
{
	if (cache_slots[i].serial != 0)
		MemoryContextDelete(cache_slots[i].mcxt);
	memset(&cache_slots[i], 0, sizeof(CacheSlot));
}

void
ecml_model_cache_reset(void)
{
	for (int i = 0; i < CACHE_SLOTS; i++)
		cache_evict(i);
}

static void *
slot_hit(CallSiteCache *cs, int slot)
{
	cs->slot = slot;
	cs->serial = cache_slots[slot].serial;
	cache_slots[slot].last_used = ++cache_clock;
	return cache_slots[slot].parsed;
}

static void
sha256(const char *data, Size len, uint8 *digest)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "ecml: could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

static bool
slot_knows_toast(const CacheSlot *slot, const varatt_external *toast)
{
	for (int i = 0; i < slot->ntoast; i++)
		if (slot->toast[i].toastrelid == toast->va_toastrelid &&
			slot->toast[i].valueid == toast->va_valueid)
			return true;
	return false;
}

/* Remember that the out-of-line value toast holds slot's bytes. */
static void
slot_add_toast(CacheSlot *slot, const varatt_external *toast)
{
	if (slot_knows_toast(slot, toast))
		return;
	if (slot->ntoast == CACHE_TOAST_IDS)
	{
		/* forget the oldest */
		memmove(&slot->toast[0], &slot->toast[1], sizeof(ToastId) * (CACHE_TOAST_IDS - 1));
		slot->ntoast--;
	}
	slot->toast[slot->ntoast].toastrelid = toast->va_toastrelid;
	slot->toast[slot->ntoast].valueid = toast->va_valueid;
	slot->ntoast++;
}

/* Remember an inline value at the call site: all of it when small. */
static void
callsite_remember_inline(FunctionCallInfo fcinfo, CallSiteCache *cs,
						 struct varlena *v, const char *data, Size size)
{
	cs->external = false;
	cs->size = size;
	memcpy(cs->header, data, ECML_HEADER_SIZE);
	cs->address = v;
	if (size > CALLSITE_COPY_MAX)
		return;
	if (cs->copy_alloc < size)
	{
		if (cs->copy)
			pfree(cs->copy);
		cs->copy = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, size);
		cs->copy_alloc = size;
	}
	memcpy(cs->copy, data, size);
}

/* True when the inline value v is the call site's last model. */
static bool
callsite_same_inline(const CallSiteCache *cs, struct varlena *v)
{
	Size		size = VARSIZE_ANY_EXHDR(v);

	if (cs->external || cs->size == 0 || size != cs->size ||
		memcmp(VARDATA_ANY(v), cs->header, ECML_HEADER_SIZE) != 0)
		return false;
	if (size <= CALLSITE_COPY_MAX)
		return memcmp(VARDATA_ANY(v), cs->copy, size) == 0;
	return (const void *) v == cs->address;
}

/* The call site's memory of its last model, made on its first call. */
static CallSiteCache *
callsite_get(FunctionCallInfo fcinfo)
{
	CallSiteCache *cs = (CallSiteCache *) fcinfo->flinfo->fn_extra;

	if (cs == NULL)
	{
		cs = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CallSiteCache));
		cs->slot = -1;
		fcinfo->flinfo->fn_extra = cs;
	}
	return cs;
}

/* The slot of the call site's last model when v is that model, else -1. */
static int
callsite_same_model(const CallSiteCache *cs, struct varlena *v, EcmlParseFn parse)
{
	if (cs->slot < 0 || cache_slots[cs->slot].serial != cs->serial ||
		cache_slots[cs->slot].parse != parse)
		return -1;
	if (VARATT_IS_EXTERNAL_ONDISK(v))
	{
		varatt_external toast;

		VARATT_EXTERNAL_GET_POINTER(toast, v);
		if (cs->external && memcmp(&toast, &cs->toast, sizeof(toast)) == 0)
			return cs->slot;
	}
	else if (!VARATT_IS_EXTENDED(v) || VARATT_IS_SHORT(v))
	{
		if (callsite_same_inline(cs, v))
			return cs->slot;
	}
	return -1;
}

/*
 * A model stored out of line (anything over about 2 kB) and already
 * cached is found by its TOAST pointer, without detoasting and checking
 * all of it again (milliseconds for a large model on the first row of
 * every new query).  The header slice, one toast chunk, must match too:
 * a value id is reused only after its value was deleted and vacuumed
 * away, and then the header tells a different model.  Returns the slot,
 * remembered at the call site, or -1.
 */
static int
cache_find_by_toast(CallSiteCache *cs, struct varlena *v, EcmlParseFn parse)
{
	varatt_external toast;
	Size		extsize;
	int			hit = -1;
	struct varlena *head;

	if (!VARATT_IS_EXTERNAL_ONDISK(v))
		return -1;
	VARATT_EXTERNAL_GET_POINTER(toast, v);
	extsize = toast.va_rawsize - VARHDRSZ;
	for (int i = 0; i < CACHE_SLOTS; i++)
	{
		if (cache_slots[i].serial != 0 && cache_slots[i].parse == parse &&
			cache_slots[i].size == extsize &&
			slot_knows_toast(&cache_slots[i], &toast))
		{
			hit = i;
			break;
		}
	}
	if (hit < 0 || extsize < ECML_HEADER_SIZE)
		return -1;
	head = detoast_attr_slice(v, 0, ECML_HEADER_SIZE);
	if (VARSIZE_ANY_EXHDR(head) != ECML_HEADER_SIZE ||
		memcmp(cache_slots[hit].header, VARDATA_ANY(head), ECML_HEADER_SIZE) != 0)
		hit = -1;
	pfree(head);
	if (hit >= 0)
	{
		cs->external = true;
		cs->toast = toast;
		cs->size = extsize;
	}
	return hit;
}

/* Remember v (size bytes of model at data) as the call site's last model. */
static void
callsite_remember(FunctionCallInfo fcinfo, CallSiteCache *cs, struct varlena *v,
				  const char *data, Size size)
{
	if (VARATT_IS_EXTERNAL_ONDISK(v))
	{
		cs->external = true;
		VARATT_EXTERNAL_GET_POINTER(cs->toast, v);
		cs->size = size;
	}
	else if (VARATT_IS_EXTENDED(v) && !VARATT_IS_SHORT(v))
	{
		/* an inline compressed value has no cheap identity: never a fast hit */
		cs->external = false;
		cs->size = 0;
	}
	else
		callsite_remember_inline(fcinfo, cs, v, data, size);
}

/* The slot holding the parse of the model with this digest, or -1. */
static int
cache_find_by_digest(EcmlParseFn parse, Size size, const uint8 *digest)
{
	for (int i = 0; i < CACHE_SLOTS; i++)
		if (cache_slots[i].serial != 0 && cache_slots[i].parse == parse &&
			cache_slots[i].size == size &&
			memcmp(cache_slots[i].digest, digest, PG_SHA256_DIGEST_LENGTH) == 0)
			return i;
	return -1;
}

/*
 * Free a slot for a new parse of total bytes: an empty one or the least
 * recently used, then more of the oldest while the cache would hold more
 * than CACHE_MAX_BYTES.  Returns the freed slot.
 */
static int
cache_make_room(Size total)
{
	int			victim = 0;

	for (int i = 0; i < CACHE_SLOTS; i++)
	{
		if (cache_slots[i].serial == 0)
		{
			victim = i;
			break;
		}
		if (cache_slots[i].last_used < cache_slots[victim].last_used)
			victim = i;
	}
	cache_evict(victim);
	for (;;)
	{
		Size		used = total;
		int			oldest = -1;

		for (int i = 0; i < CACHE_SLOTS; i++)
		{
			if (cache_slots[i].serial == 0)
				continue;
			used += cache_slots[i].bytes;
			if (oldest < 0 || cache_slots[i].last_used < cache_slots[oldest].last_used)
				oldest = i;
		}
		if (used <= CACHE_MAX_BYTES || oldest < 0)
			break;
		cache_evict(oldest);
	}
	return victim;
}

/*
 * Parse a validated model and keep the parse in a slot; returns the slot.
 * The parse runs under the current context first: if the parser fails, the
 * context goes away with the error.  Only a complete parse is kept.
 */
static int
cache_parse_and_store(const CallSiteCache *cs, const EcmlModel *model, Size size,
					  const uint8 *digest, EcmlParseFn parse)
{
	MemoryContext mcxt;
	MemoryContext oldcxt;
	void	   *parsed;
	Size		total;
	int			victim;

	mcxt = AllocSetContextCreate(CurrentMemoryContext, "ecml parsed model",
								 ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(mcxt);
	parsed = parse(model, mcxt);
	MemoryContextSwitchTo(oldcxt);

	if (cache_context == NULL)
		cache_context = AllocSetContextCreate(TopMemoryContext, "ecml model cache",
											  ALLOCSET_SMALL_SIZES);
	total = MemoryContextMemAllocated(mcxt, true);
	victim = cache_make_room(total);

	MemoryContextSetParent(mcxt, cache_context);
	cache_slots[victim].serial = ++cache_serial;
	memcpy(cache_slots[victim].header, model->bytes, ECML_HEADER_SIZE);
	cache_slots[victim].size = size;
	memcpy(cache_slots[victim].digest, digest, PG_SHA256_DIGEST_LENGTH);
	cache_slots[victim].ntoast = 0;
	if (cs->external)
		slot_add_toast(&cache_slots[victim], &cs->toast);
	cache_slots[victim].parse = parse;
	cache_slots[victim].mcxt = mcxt;
	cache_slots[victim].bytes = total;
	cache_slots[victim].parsed = parsed;
	return victim;
}

void *
ecml_model_cached(FunctionCallInfo fcinfo, int argno, int expected_kind,
				  EcmlParseFn parse)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));
	CallSiteCache *cs = callsite_get(fcinfo);
	bytea	   *raw;
	EcmlModel	model;
	Size		size;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	int			slot;

	/* fast paths: this call site's last model, or a cached out-of-line one */
	slot = callsite_same_model(cs, v, parse);
	if (slot < 0)
		slot = cache_find_by_toast(cs, v, parse);
	if (slot >= 0)
		return slot_hit(cs, slot);

	/* slow path: detoast, validate everything (CRC included), then look up */
	raw = (bytea *) pg_detoast_datum_packed(v);
	ecml_model_open(raw, expected_kind, &model);
	size = VARSIZE_ANY_EXHDR(raw);
	sha256(VARDATA_ANY(raw), size, digest);
	callsite_remember(fcinfo, cs, v, VARDATA_ANY(raw), size);

	slot = cache_find_by_digest(parse, size, digest);
	if (slot >= 0)
	{
		if (cs->external)
			slot_add_toast(&cache_slots[slot], &cs->toast);
	}
	else
		slot = cache_parse_and_store(cs, &model, size, digest, parse);

	if ((Pointer) raw != (Pointer) v)
		pfree(raw);
	return slot_hit(cs, slot);
}
