/*
 * options.h
 *	  The jsonb options argument every trainer takes: documented keys,
 *	  defaults, and an ERROR naming the key and the valid ones otherwise.
 */
#ifndef ECML_OPTIONS_H
#define ECML_OPTIONS_H

#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

typedef enum EcmlOptionType
{
	ECML_OPT_BOOL,				/* bool */
	ECML_OPT_INT,				/* int, within [min, max] */
	ECML_OPT_INT64,				/* int64, within [min, max] */
	ECML_OPT_REAL,				/* double, within [min, max] */
	ECML_OPT_CHOICE,			/* int: index into choices */
	ECML_OPT_REAL_OR_CHOICE,	/* EcmlRealOrChoice */
	ECML_OPT_TEXT_ARRAY			/* EcmlTextArray */
} EcmlOptionType;

typedef struct EcmlRealOrChoice
{
	int			choice;			/* index into choices, or -1 for a number */
	double		value;
} EcmlRealOrChoice;

typedef struct EcmlTextArray
{
	int			n;
	char	  **items;
} EcmlTextArray;

typedef struct EcmlOptionSpec
{
	const char *name;
	EcmlOptionType type;
	Size		offset;			/* offsetof() the field in the options struct */
	double		min;			/* numeric range, inclusive ... */
	double		max;
	bool		min_exclusive;	/* ... unless this says (0, max] */
	const char *const *choices; /* NULL-terminated, for the CHOICE kinds */
} EcmlOptionSpec;

/*
 * Parse opts (may be NULL) into *out, whose fields the caller has already
 * set to their defaults.  context names the function in error messages.
 */
extern void ecml_parse_options(Jsonb *opts, const EcmlOptionSpec *specs,
							   int nspecs, void *out, const char *context);

/*
 * Append the options in effect (given or default) as a JSON object to buf,
 * for a model's hyper-parameters section.
 */
extern void ecml_options_to_json(StringInfo buf, const EcmlOptionSpec *specs,
								 int nspecs, const void *values);

/*
 * An aggregate's options argument argno, copied into the aggregate context
 * cxt so that it outlives the call; NULL when absent or SQL NULL.
 */
extern Jsonb *ecml_options_arg(FunctionCallInfo fcinfo, int argno,
							   MemoryContext cxt);

#endif							/* ECML_OPTIONS_H */
