/*
 * options.c
 *	  The jsonb options parser shared by every trainer (docs/DESIGN.md section 2):
 *	  documented keys with defaults; an unknown key, a wrong type or an
 *	  out-of-range value is an ERROR that names the key and lists the valid
 *	  ones.
 */
#include "postgres.h"

#include <math.h>

#include "options.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/numeric.h"

static char *
valid_keys(const EcmlOptionSpec *specs, int nspecs)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; i < nspecs; i++)
		appendStringInfo(&s, "%s%s", i > 0 ? ", " : "", specs[i].name);
	return s.data;
}

static char *
valid_choices(const char *const *choices)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; choices[i] != NULL; i++)
		appendStringInfo(&s, "%s\"%s\"", i > 0 ? ", " : "", choices[i]);
	return s.data;
}

static void
wrong_type(const char *context, const EcmlOptionSpec *spec, const char *want)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s option \"%s\" must be %s", context, spec->name, want)));
}

/*
 * A value for a message: whole numbers in full (%g wrote 100000001 as
 * 1e+08, which reads as the limit itself), others as %g.
 */
static char *
number_text(double v)
{
	if (isfinite(v) && v == floor(v) && fabs(v) < 1e18)
		return psprintf("%.0f", v);
	return psprintf("%g", v);
}

static void
check_range(const char *context, const EcmlOptionSpec *spec, double v)
{
	bool		below = spec->min_exclusive ? !(v > spec->min) : !(v >= spec->min);

	if (isnan(v) || below || v > spec->max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s option \"%s\" is out of range: %s", context, spec->name,
						number_text(v)),
				 errdetail("Valid values are %s %s and at most %s.",
						   spec->min_exclusive ? "greater than" : "at least",
						   number_text(spec->min), number_text(spec->max))));
}

static double
numeric_value(JsonbValue *v)
{
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
											  NumericGetDatum(v->val.numeric)));
}

static int
choice_index(const char *context, const EcmlOptionSpec *spec, JsonbValue *v)
{
	char	   *s = pnstrdup(v->val.string.val, v->val.string.len);

	for (int i = 0; spec->choices[i] != NULL; i++)
		if (strcmp(s, spec->choices[i]) == 0)
			return i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s option \"%s\" has invalid value \"%s\"", context, spec->name, s),
			 errdetail("Valid values are %s%s.", valid_choices(spec->choices),
					   spec->type == ECML_OPT_REAL_OR_CHOICE ? " or a number" : "")));
	return -1;					/* keep compiler quiet */
}

static void
parse_one(const char *context, const EcmlOptionSpec *spec, JsonbValue *v,
		  char *field, JsonbContainer *container)
{
	switch (spec->type)
	{
		case ECML_OPT_BOOL:
			if (v->type != jbvBool)
				wrong_type(context, spec, "a boolean");
			*(bool *) field = v->val.boolean;
			break;
		case ECML_OPT_INT:
		case ECML_OPT_INT64:
			{
				double		d;

				if (v->type != jbvNumeric)
					wrong_type(context, spec, "an integer");
				d = numeric_value(v);
				if (d != floor(d))
					wrong_type(context, spec, "an integer");
				check_range(context, spec, d);
				if (spec->type == ECML_OPT_INT)
					*(int *) field = (int) d;
				else
					*(int64 *) field = DatumGetInt64(DirectFunctionCall1(numeric_int8,
																		 NumericGetDatum(v->val.numeric)));
				break;
			}
		case ECML_OPT_REAL:
			if (v->type != jbvNumeric)
				wrong_type(context, spec, "a number");
			*(double *) field = numeric_value(v);
			check_range(context, spec, *(double *) field);
			break;
		case ECML_OPT_CHOICE:
			if (v->type != jbvString)
				wrong_type(context, spec, psprintf("one of %s", valid_choices(spec->choices)));
			*(int *) field = choice_index(context, spec, v);
			break;
		case ECML_OPT_REAL_OR_CHOICE:
			{
				EcmlRealOrChoice *rc = (EcmlRealOrChoice *) field;

				if (v->type == jbvNumeric)
				{
					rc->choice = -1;
					rc->value = numeric_value(v);
					check_range(context, spec, rc->value);
				}
				else if (v->type == jbvString)
					rc->choice = choice_index(context, spec, v);
				else
					wrong_type(context, spec,
							   psprintf("a number or one of %s", valid_choices(spec->choices)));
				break;
			}
		case ECML_OPT_TEXT_ARRAY:
			{
				EcmlTextArray *ta = (EcmlTextArray *) field;
				JsonbIterator *it;
				JsonbValue	elem;
				JsonbIteratorToken tok;
				int			n = 0;

				if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
					wrong_type(context, spec, "an array of strings");
				ta->n = JsonContainerSize(v->val.binary.data);
				ta->items = palloc(sizeof(char *) * Max(ta->n, 1));
				it = JsonbIteratorInit(v->val.binary.data);
				while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
				{
					if (tok != WJB_ELEM)
						continue;
					if (elem.type != jbvString)
						wrong_type(context, spec, "an array of strings");
					ta->items[n++] = pnstrdup(elem.val.string.val, elem.val.string.len);
				}
				ta->n = n;
				break;
			}
	}
}

void
ecml_parse_options(Jsonb *opts, const EcmlOptionSpec *specs, int nspecs,
				   void *out, const char *context)
{
	JsonbIterator *it;
	JsonbValue	key;
	JsonbValue	val;
	JsonbIteratorToken tok;

	if (opts == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(opts) || JB_ROOT_IS_SCALAR(opts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s options must be a JSON object", context),
				 errhint("Pass options like '{\"%s\": ...}'; valid keys are: %s.",
						 nspecs > 0 ? specs[0].name : "key", valid_keys(specs, nspecs))));

	it = JsonbIteratorInit(&opts->root);
	while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		char	   *name;
		int			i;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(key.val.string.val, key.val.string.len);
		tok = JsonbIteratorNext(&it, &val, true);
		Assert(tok == WJB_VALUE);
		for (i = 0; i < nspecs; i++)
			if (strcmp(name, specs[i].name) == 0)
				break;
		if (i == nspecs)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown %s option \"%s\"", context, name),
					 errhint("Valid options are: %s.", valid_keys(specs, nspecs))));
		/* null means "the default" */
		if (val.type == jbvNull)
			continue;
		parse_one(context, &specs[i], &val, (char *) out + specs[i].offset, NULL);
	}
}

static void
append_number(StringInfo buf, double v)
{
	if (isfinite(v))
		appendStringInfo(buf, "%.17g", v);
	else
		appendStringInfoString(buf, "null");
}

void
ecml_options_to_json(StringInfo buf, const EcmlOptionSpec *specs, int nspecs,
					 const void *values)
{
	appendStringInfoChar(buf, '{');
	for (int i = 0; i < nspecs; i++)
	{
		const char *field = (const char *) values + specs[i].offset;

		if (i > 0)
			appendStringInfoString(buf, ", ");
		escape_json(buf, specs[i].name);
		appendStringInfoString(buf, ": ");
		switch (specs[i].type)
		{
			case ECML_OPT_BOOL:
				appendStringInfoString(buf, *(const bool *) field ? "true" : "false");
				break;
			case ECML_OPT_INT:
				appendStringInfo(buf, "%d", *(const int *) field);
				break;
			case ECML_OPT_INT64:
				appendStringInfo(buf, INT64_FORMAT, *(const int64 *) field);
				break;
			case ECML_OPT_REAL:
				append_number(buf, *(const double *) field);
				break;
			case ECML_OPT_CHOICE:
				escape_json(buf, specs[i].choices[*(const int *) field]);
				break;
			case ECML_OPT_REAL_OR_CHOICE:
				{
					const EcmlRealOrChoice *rc = (const EcmlRealOrChoice *) field;

					if (rc->choice >= 0)
						escape_json(buf, specs[i].choices[rc->choice]);
					else
						append_number(buf, rc->value);
					break;
				}
			case ECML_OPT_TEXT_ARRAY:
				{
					const EcmlTextArray *ta = (const EcmlTextArray *) field;

					appendStringInfoChar(buf, '[');
					for (int j = 0; j < ta->n; j++)
					{
						if (j > 0)
							appendStringInfoString(buf, ", ");
						escape_json(buf, ta->items[j]);
					}
					appendStringInfoChar(buf, ']');
					break;
				}
		}
	}
	appendStringInfoChar(buf, '}');
}

Jsonb *
ecml_options_arg(FunctionCallInfo fcinfo, int argno, MemoryContext cxt)
{
	MemoryContext old;
	Jsonb	   *opts;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	old = MemoryContextSwitchTo(cxt);
	opts = PG_GETARG_JSONB_P_COPY(argno);
	MemoryContextSwitchTo(old);
	return opts;
}
