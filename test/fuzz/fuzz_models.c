/*
 * fuzz_models.c
 *	  libFuzzer harness over the ecml model reader: the container
 *	  (ecml_model_open: magic, version, header checksum, sizes, kind,
 *	  payload checksum, section table, section accessors) and every model
 *	  kind's decoder, each followed by a little scoring (glue_*.c).
 *
 * Each input runs twice:
 *	 1. as is: what a corrupted or crafted bytea meets first;
 *	 2. with the magic, payload size and both checksums fixed up, so that
 *		mutations inside the payload reach the decoders (a CRC is no defence
 *		against a crafted model, only against accidents).
 * With FUZZ_MODELS_MODE=structured the input is instead a recipe for the
 * structure-aware generator (gen_models.c), which writes a model with valid
 * checksums and crafted structure (shared and cyclic tree children, deep
 * trees, huge counts, name tables of a million strings) that then runs as
 * above.
 *
 * Beyond the sanitizers, the shim (shim.c) fails an input that holds far
 * more memory than its size justifies (an allocation sized by an unchecked
 * count) or that runs for FUZZ_CFI_GAP seconds without a
 * CHECK_FOR_INTERRUPTS() (a loop the model controls, deaf to cancel).
 *
 * An input may end in a result or in an ERROR; the ERROR must carry a
 * SQLSTATE a user can act on (data corrupted, data exception, out of memory,
 * program limit), never internal_error (an elog) and never a crash, UB
 * report or leak (the sanitizers and the shim's reset see to those).
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "gen_models.h"
#include "glue.h"
#include "model.h"
#include "port/pg_crc32c.h"
#include "shim.h"

volatile double fuzz_sink;

/*
 * FUZZ_MODELS_VERBOSE=1: say how each run of an input ended.
 * FUZZ_MODELS_WRITE_FIXED=file: write the fixed-up copy of the input there.
 */
static bool verbose = false;
static bool structured = false;

/* Make the header of h (size bytes, size >= ECML_HEADER_SIZE) consistent. */
static void
fix_up(char *h, Size size)
{
	uint64		payload = size - ECML_HEADER_SIZE;
	uint32		crc;

	memcpy(h, ECML_MAGIC, 4);
	memcpy(h + 16, &payload, 8);
	crc = ecml_crc32c(h + ECML_HEADER_SIZE, payload);
	memcpy(h + 24, &crc, 4);
	crc = ecml_crc32c(h, 60);
	memcpy(h + 60, &crc, 4);
}

/* Everything ecml.model_info reads besides the header. */
static void
read_common_sections(const EcmlModel *model)
{
	static const uint32 json_tags[] = {ECML_TAG_INFO, ECML_TAG_HYPERPARAMS, ECML_TAG_METRICS};
	char	  **names;
	int			n;

	for (int i = 0; i < lengthof(json_tags); i++)
	{
		char	   *json = ecml_section_json(model, json_tags[i]);

		if (json)
			fuzz_sink += strlen(json);
	}
	names = ecml_section_texts(model, ECML_TAG_FEATURE_NAMES, &n);
	for (int i = 0; i < n; i++)
		fuzz_sink += strlen(names[i]);
	for (int i = 0; i < model->nsections; i++)
		fuzz_sink += model->sections[i].length +
			(model->sections[i].length > 0 ? model->sections[i].data[model->sections[i].length - 1] : 0);
}

/* the five-character SQLSTATE of an error code */
static const char *
sqlstate(int code)
{
	static char buf[6];

	for (int i = 0; i < 5; i++)
	{
		buf[i] = PGUNSIXBIT(code);
		code >>= 6;
	}
	buf[5] = '\0';
	return buf;
}

static bool
acceptable_error(int code)
{
	return code == ERRCODE_DATA_CORRUPTED ||
		code == ERRCODE_DATA_EXCEPTION ||
		code == ERRCODE_OUT_OF_MEMORY ||
		code == ERRCODE_PROGRAM_LIMIT_EXCEEDED;
}

static void
run_one(const uint8_t *data, size_t size, bool fixed)
{
	bytea	   *raw = malloc(VARHDRSZ + size);
	sigjmp_buf	jmp;

	SET_VARSIZE(raw, VARHDRSZ + size);
	if (size > 0)
		memcpy(VARDATA(raw), data, size);
	if (fixed)
	{
		const char *path = getenv("FUZZ_MODELS_WRITE_FIXED");

		fix_up(VARDATA(raw), size);
		/* the bytes the decoders saw, for a regression input or a SQL test */
		if (path != NULL)
		{
			FILE	   *f = fopen(path, "wb");

			if (f == NULL || fwrite(VARDATA(raw), 1, size, f) != size || fclose(f) != 0)
			{
				perror(path);
				abort();
			}
		}
	}

	shim_input_begin(size);
	if (sigsetjmp(jmp, 0) == 0)
	{
		EcmlModel	model;

		shim_error_jmp = &jmp;
		ecml_model_open(raw, 0, &model);
		read_common_sections(&model);
		switch (model.header.kind)
		{
			case ECML_KIND_LOGREG:
				fuzz_logreg(&model);
				break;
			case ECML_KIND_MF:
				fuzz_mf(&model);
				break;
			case ECML_KIND_VECTORS:
				fuzz_vectors(&model);
				break;
			case ECML_KIND_LSTM:
				fuzz_lstm(&model);
				break;
			case ECML_KIND_GBDT:
				fuzz_gbdt(&model);
				break;
			case ECML_KIND_IFOREST:
				fuzz_iforest(&model);
				break;
			case ECML_KIND_WORDVEC:
				fuzz_wordvec(&model);
				break;
			case ECML_KIND_TEXTCLF:
				fuzz_textclf(&model);
				break;
			default:
				fprintf(stderr, "ecml_model_open accepted kind %u\n", model.header.kind);
				abort();
		}
		if (verbose)
			fprintf(stderr, "%s: decoded and scored a %s model\n",
					fixed ? "fixed up" : "as is", ecml_kind_name(model.header.kind));
	}
	else
	{
		if (verbose)
			fprintf(stderr, "%s: ERROR %s: %s\n", fixed ? "fixed up" : "as is",
					sqlstate(shim_error_code), shim_error_message);
		if (!acceptable_error(shim_error_code))
		{
			fprintf(stderr, "ERROR with SQLSTATE %s: %s\n",
					sqlstate(shim_error_code), shim_error_message);
			abort();
		}
	}
	shim_input_end();
	shim_error_jmp = NULL;
	shim_reset();
	free(raw);
}

/* Structured mode: the input is a recipe; run the model it makes as is. */
static void
run_recipe(const uint8_t *data, size_t size)
{
	sigjmp_buf	jmp;
	bytea	   *model;
	uint8_t    *copy;
	size_t		n;

	shim_error_jmp = &jmp;
	if (sigsetjmp(jmp, 0) != 0)
	{
		fprintf(stderr, "the generator failed: %s\n", shim_error_message);
		abort();
	}
	model = gen_model(data, size);
	n = VARSIZE(model) - VARHDRSZ;
	copy = malloc(Max(n, 1));
	memcpy(copy, VARDATA(model), n);
	shim_error_jmp = NULL;
	shim_reset();
	/* the builder's checksums are right: run it once, written out if asked */
	run_one(copy, n, n >= ECML_HEADER_SIZE && getenv("FUZZ_MODELS_WRITE_FIXED") != NULL);
	free(copy);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool initialized = false;

	if (!initialized)
	{
		const char *mode = getenv("FUZZ_MODELS_MODE");

		verbose = getenv("FUZZ_MODELS_VERBOSE") != NULL;
		structured = mode != NULL && strcmp(mode, "structured") == 0;
		initialized = true;
	}
	if (structured)
	{
		run_recipe(data, size);
		return 0;
	}
	run_one(data, size, false);
	if (size >= ECML_HEADER_SIZE)
		run_one(data, size, true);
	return 0;
}
