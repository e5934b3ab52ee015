/*
 * model.h
 *	  The ecml model container: one self-describing bytea for every model
 *	  kind, and the cache that keeps parsed models between rows and calls.
 *
 * Layout (all integers little-endian):
 *
 *	 header (ECML_HEADER_SIZE bytes)
 *	   0  magic "ECML"
 *	   4  uint16 format version
 *	   6  uint16 model kind (EcmlModelKind)
 *	   8  uint32 header size
 *	  12  uint32 section count
 *	  16  uint64 payload size (bytes after the header)
 *	  24  uint32 CRC32C of the payload
 *	  28  uint32 reserved (zero)
 *	  32  int64  rows seen
 *	  40  int64  rows skipped
 *	  48  int64  creation time (TimestampTz)
 *	  56  uint32 reserved (zero)
 *	  60  uint32 CRC32C of header bytes 0..59
 *	 payload: sections, each
 *	   0  uint32 tag (four ASCII characters, see ECML_TAG)
 *	   4  uint32 element type (EcmlSectionType)
 *	   8  uint64 length of the data in bytes
 *	  16  data, then zero padding to a multiple of 16
 *
 * Every offset and length is validated against the buffer before use.
 */
#ifndef ECML_MODEL_H
#define ECML_MODEL_H

#include "postgres.h"

#include "port/pg_crc32c.h"

#include "ecml_compat.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#define ECML_MAGIC			"ECML"
#define ECML_FORMAT_VERSION 1
#define ECML_HEADER_SIZE	64
#define ECML_SECTION_HEADER 16
#define ECML_ALIGN			16

typedef enum EcmlModelKind
{
	ECML_KIND_LOGREG = 1,
	ECML_KIND_MF = 2,
	ECML_KIND_VECTORS = 3,
	ECML_KIND_LSTM = 4,
	ECML_KIND_GBDT = 5,
	ECML_KIND_IFOREST = 6,
	ECML_KIND_WORDVEC = 7,
	ECML_KIND_TEXTCLF = 8,
	ECML_KIND_MAX = 8
} EcmlModelKind;

typedef enum EcmlSectionType
{
	ECML_SECTION_BYTES = 0,
	ECML_SECTION_FLOAT32 = 1,
	ECML_SECTION_FLOAT64 = 2,
	ECML_SECTION_INT64 = 3,
	ECML_SECTION_INT32 = 4,
	ECML_SECTION_JSON = 5,		/* UTF-8 JSON text */
	ECML_SECTION_TEXTS = 6,		/* n NUL-terminated strings */
	ECML_SECTION_TYPE_MAX = 6
} EcmlSectionType;

#define ECML_TAG(a, b, c, d) \
	((uint32) (a) | ((uint32) (b) << 8) | ((uint32) (c) << 16) | ((uint32) (d) << 24))

/* Section tags every kind may use; kinds define their own in their header. */
#define ECML_TAG_HYPERPARAMS	ECML_TAG('H', 'Y', 'P', 'R')	/* JSON */
#define ECML_TAG_METRICS		ECML_TAG('M', 'E', 'T', 'R')	/* JSON */
#define ECML_TAG_FEATURE_NAMES	ECML_TAG('F', 'N', 'A', 'M')	/* TEXTS */
#define ECML_TAG_INFO			ECML_TAG('I', 'N', 'F', 'O')	/* JSON object:
																 * shape, merged
																 * into model_info */

/* The decoded fixed header. */
typedef struct EcmlHeader
{
	uint16		version;
	uint16		kind;
	uint32		header_size;
	uint32		section_count;
	uint64		payload_size;
	uint32		payload_crc;
	int64		rows_seen;
	int64		rows_skipped;
	TimestampTz created_at;
} EcmlHeader;

typedef struct EcmlSection
{
	uint32		tag;
	uint32		type;
	Size		length;
	const char *data;			/* points into the model bytes */
} EcmlSection;

/* A validated model: header plus the section table, pointing into bytes. */
typedef struct EcmlModel
{
	EcmlHeader	header;
	const char *bytes;			/* start of the container (after varlena header) */
	Size		size;
	int			nsections;
	EcmlSection *sections;
} EcmlModel;

/* ---- writing ---- */

typedef struct EcmlModelBuilder
{
	StringInfoData buf;
	EcmlModelKind kind;
	uint32		nsections;
} EcmlModelBuilder;

/* CRC-32C of data, as the header stores it for the header and the payload. */
extern pg_crc32c ecml_crc32c(const char *data, Size len);

extern void ecml_builder_init(EcmlModelBuilder *b, EcmlModelKind kind);
extern void ecml_builder_add(EcmlModelBuilder *b, uint32 tag,
							 EcmlSectionType type, const void *data, Size len);
/* json: a JSON text; it is checked to parse as JSON before it is stored */
extern void ecml_builder_add_json(EcmlModelBuilder *b, uint32 tag, const char *json);
extern void ecml_builder_add_texts(EcmlModelBuilder *b, uint32 tag,
								   char **items, int n);
extern bytea *ecml_builder_finish(EcmlModelBuilder *b, int64 rows_seen,
								  int64 rows_skipped);

/* ---- reading ---- */

extern const char *ecml_kind_name(int kind);
extern const char *ecml_section_type_name(int type);

/* The corrupted-model error: check says what failed, detail (or NULL) the value seen. */
extern void ecml_model_corrupted(const char *check, const char *detail) pg_attribute_noreturn();

/*
 * The same error from a kind's decoder, "invalid ecml model: <kind> <what>",
 * with a hint naming the function that writes the kind (NULL: no hint).
 * Each decoder wraps it as MODEL_CORRUPTED(what).
 */
extern void ecml_model_kind_corrupted(const char *kind, const char *what,
									  const char *hint) pg_attribute_noreturn();

/*
 * Validate raw (a detoasted bytea) as a model of expected_kind (0: any) and
 * fill *model.  Any failed check is an ERROR (data_corrupted) naming it.
 */
extern void ecml_model_open(bytea *raw, int expected_kind, EcmlModel *model);

/*
 * Run the kind's own decoder over an opened model and discard the result:
 * its structural checks raise their ERRORs (data_corrupted) here.
 */
extern void ecml_model_validate(const EcmlModel *model);

/* Find a section; NULL if absent and !required (absent and required: ERROR). */
extern const EcmlSection *ecml_model_section(const EcmlModel *model, uint32 tag,
											 EcmlSectionType type, bool required);

/* Copy a float32/float64/int64 section of exactly n elements into new palloc'd memory. */
extern float *ecml_section_floats(const EcmlModel *model, uint32 tag, Size n);
extern double *ecml_section_doubles(const EcmlModel *model, uint32 tag, Size n);
extern int64 *ecml_section_int64s(const EcmlModel *model, uint32 tag, Size n);
/* A TEXTS section as n palloc'd strings (NULL if absent); *n_out set. */
extern char **ecml_section_texts(const EcmlModel *model, uint32 tag, int *n_out);
/* A JSON section as a palloc'd C string (NULL if absent). */
extern char *ecml_section_json(const EcmlModel *model, uint32 tag);

/* ---- the parsed-model cache ---- */

/*
 * A model kind's parser turns a validated EcmlModel into the kind's scoring
 * structure, allocated in mcxt (which the cache owns and frees on eviction).
 */
typedef void *(*EcmlParseFn) (const EcmlModel *model, MemoryContext mcxt);

/*
 * Return the parsed form of the model in argument argno of fcinfo, checked
 * to be of kind expected_kind.  The parse runs once per distinct model:
 * each call site remembers its last model in fn_extra (a row with the same
 * model costs a comparison), and a small per-backend cache keyed by the
 * SHA-256 of the model serves later queries, finding an out-of-line model
 * it holds by its TOAST pointer and header.
 * The result stays valid until the current function call returns.
 */
extern void *ecml_model_cached(FunctionCallInfo fcinfo, int argno,
							   int expected_kind, EcmlParseFn parse);

/* Forget every cached model (tests; also called when memory is tight). */
extern void ecml_model_cache_reset(void);
/* Forget the parse of one model (a trainer's intermediate models). */
extern void ecml_model_cache_forget(const bytea *model);

#endif							/* ECML_MODEL_H */
