/*
 * model.c
 *	  The model container (see model.h for the layout): writing, validating
 *	  and reading sections.  ecml.model_info() is in model_info.c and the
 *	  parsed-model cache in model_cache.c; this file knows no model kind.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "common/cryptohash.h"
#include "common/jsonapi.h"
#include "common/sha2.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "ecml.h"
#include "model.h"
#include "port/pg_crc32c.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonfuncs.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

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
ecml_section_type_name(int type)
{
	if (type >= 0 && type < lengthof(section_type_names))
		return section_type_names[type];
	return "unknown";
}

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
		{
			/* not inside Max(): it evaluates its arguments twice */
			depth++;
			deepest = Max(deepest, depth);
		}
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

void
ecml_model_corrupted(const char *check, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid ecml model: %s", check),
			 detail ? errdetail_internal("%s", detail) : 0,
			 errhint("Pass a model produced by an ecml training aggregate, unmodified.")));
}

void
ecml_model_kind_corrupted(const char *kind, const char *what, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid ecml model: %s %s", kind, what),
			 hint ? errhint("%s", hint) : 0));
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
		ecml_model_corrupted("not an ecml model (magic \"ECML\" missing)", NULL);
	if (size < ECML_HEADER_SIZE)
		ecml_model_corrupted("truncated header",
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
		ecml_model_corrupted("format version 0", NULL);
	if (header_crc != ecml_crc32c(data, 60))
		ecml_model_corrupted("header checksum mismatch", NULL);
	if (hdr->header_size != ECML_HEADER_SIZE)
		ecml_model_corrupted("wrong header size",
				  psprintf("Header size is %u, expected %d.", hdr->header_size, ECML_HEADER_SIZE));
	if (reserved1 != 0 || reserved2 != 0)
		ecml_model_corrupted("reserved header fields are not zero", NULL);
	if (hdr->kind < 1 || hdr->kind > ECML_KIND_MAX)
		ecml_model_corrupted("unknown model kind", psprintf("Kind code %u.", hdr->kind));
	if (hdr->payload_size != size - ECML_HEADER_SIZE)
		ecml_model_corrupted("size mismatch (truncated or padded)",
				  psprintf("The header announces %llu payload bytes; the value holds %zu.",
						   (unsigned long long) hdr->payload_size,
						   size - ECML_HEADER_SIZE));
	if (hdr->rows_seen < 0 || hdr->rows_skipped < 0)
		ecml_model_corrupted("negative row counts", NULL);
	/* model_info shows it and save_model stores it as a timestamptz */
	if (!IS_VALID_TIMESTAMP(hdr->created_at))
		ecml_model_corrupted("creation time out of range", NULL);
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
		ecml_model_corrupted("payload checksum mismatch", NULL);

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
		ecml_model_corrupted("section count larger than the payload allows", NULL);
	if (hdr->section_count > ECML_MAX_SECTIONS)
		ecml_model_corrupted("too many sections",
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
			ecml_model_corrupted("section header runs past the end", psprintf("Section %d.", i));
		memcpy(&s->tag, data + off, 4);
		memcpy(&s->type, data + off + 4, 4);
		memcpy(&len64, data + off + 8, 8);
		off += ECML_SECTION_HEADER;
		if (s->type > ECML_SECTION_TYPE_MAX)
			ecml_model_corrupted("unknown section type", psprintf("Section %d has type %u.", i, s->type));
		if (len64 > size - off)
			ecml_model_corrupted("section runs past the end", psprintf("Section %d.", i));
		if (len64 % section_type_width[s->type] != 0)
			ecml_model_corrupted("section length is not a multiple of its element size",
					  psprintf("Section %d.", i));
		s->length = (Size) len64;
		s->data = data + off;
		off += s->length;
		off += (ECML_ALIGN - s->length % ECML_ALIGN) % ECML_ALIGN;
		if (off > size)
			ecml_model_corrupted("section padding runs past the end", psprintf("Section %d.", i));
	}
	if (off != size)
		ecml_model_corrupted("trailing bytes after the last section", NULL);
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
		ecml_model_corrupted("section has the wrong length",
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
		ecml_model_corrupted("text section is not NUL-terminated", NULL);
	/* count first: the pointer array is sized by the data, never beyond */
	for (off = 0; off < s->length; off += strlen(s->data + off) + 1)
		n++;
	if (n > ECML_MAX_TEXTS)
		ecml_model_corrupted("text section holds too many strings",
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
		ecml_model_corrupted("JSON section does not parse", NULL);
	if (json_nesting(json) > ECML_MAX_JSON_NESTING)
		ecml_model_corrupted("JSON section nests too deep",
				  psprintf("A model's JSON nests at most %d levels.", ECML_MAX_JSON_NESTING));
	if (!json_is_valid(json))
		ecml_model_corrupted("JSON section does not parse", NULL);
	return json;
}
