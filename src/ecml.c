/*
 * ecml.c
 *	  The GUC variables, ecml.version(), the BLIS thread setting, and the
 *	  small shared helpers every trainer uses (memory cap, timing, RNG).
 *	  _PG_init, which defines the GUCs, is in init.c.
 */
#include "postgres.h"

#include <limits.h>
#include <stdlib.h>
#include <math.h>

#include "blas.h"
#include "common/int.h"
#include "ecml.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

int			ecml_train_memory_limit_kb = 1024 * 1024;
int			ecml_blas_threads = 1;
bool		ecml_progress = false;

/* Apply ecml.blas_threads before a BLIS call that may use threads. */
void
ecml_blas_prepare(void)
{
	static int	applied = 0;

	if (applied != ecml_blas_threads)
	{
		bli_thread_set_num_threads(ecml_blas_threads);
		applied = ecml_blas_threads;
	}
}

/* ---- training memory: one limit for everything a trainer holds ---- */

static Size
train_memory_limit_bytes(void)
{
	return (Size) ecml_train_memory_limit_kb * 1024;
}

/*
 * What to do about it: the trainers that ecml.train runs in passes can
 * train there in memory that does not grow with the rows.
 */
static const char *
train_memory_hint(const char *trainer)
{
	if (strcmp(trainer, "ecml.logreg_train") == 0)
		return "Train with ecml.train('logreg', source), whose memory does not grow with the rows, "
			"train on a sample (TABLESAMPLE), or raise ecml.train_memory_limit.";
	if (strcmp(trainer, "ecml.mf_train") == 0)
		return "Train with ecml.train('mf', source), whose memory grows with the users and items, "
			"not the interactions, or raise ecml.train_memory_limit.";
	if (strcmp(trainer, "ecml.fraud_train") == 0)
		return "Train with ecml.train('gbdt', source), whose memory grows with the bins and tree nodes, "
			"not the rows, train on a sample (TABLESAMPLE), or raise ecml.train_memory_limit.";
	if (strcmp(trainer, "ecml.train(gbdt)") == 0)
		return "The sketch holds sample_size rows and each tree level the histograms of its open nodes: "
			"lower sample_size, max_bins or max_depth, or raise ecml.train_memory_limit.";
	if (strcmp(trainer, "ecml.anomaly_train") == 0 || strcmp(trainer, "ecml.train(iforest)") == 0)
		return "The samples hold n_trees x sample_size rows: lower n_trees or sample_size, "
			"or raise ecml.train_memory_limit.";
	return "Train on a sample (TABLESAMPLE) or raise ecml.train_memory_limit.";
}

/*
 * The error for a trainer that would hold more than the limit: what (a
 * buffer's name) would take need bytes on top of held.  SIZE_MAX as need
 * stands for a size that overflowed.
 */
static void
train_memory_exceeded(const char *trainer, const char *what, Size held, Size need)
{
	Size		limit = train_memory_limit_bytes();

	if (what == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s training buffer would exceed ecml.train_memory_limit (%zu kB)",
						trainer, limit / 1024),
				 errdetail("The buffered rows need at least %zu kB.",
						   (held + need) / 1024),
				 errhint("%s", train_memory_hint(trainer))));
	if (need == SIZE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s %s would exceed ecml.train_memory_limit (%zu kB)",
						trainer, what, limit / 1024),
				 errdetail("Its size overflows a 64-bit byte count."),
				 errhint("%s", train_memory_hint(trainer))));
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("%s %s would exceed ecml.train_memory_limit (%zu kB)",
					trainer, what, limit / 1024),
			 errdetail("It needs %zu kB on top of the %zu kB the training already holds.",
					   (need + 1023) / 1024, held / 1024),
			 errhint("%s", train_memory_hint(trainer))));
}

void
ecml_check_train_memory(Size total_bytes, const char *trainer)
{
	if (total_bytes > train_memory_limit_bytes())
		train_memory_exceeded(trainer, NULL, 0, total_bytes);
}

Size
ecml_train_memory_room(Size held)
{
	Size		limit = train_memory_limit_bytes();

	return held < limit ? limit - held : 0;
}

Size
ecml_mul_size(Size a, Size b)
{
	uint64		r;

	if (pg_mul_u64_overflow((uint64) a, (uint64) b, &r) || r == SIZE_MAX)
		return SIZE_MAX;
	return (Size) r;
}

Size
ecml_add_size(Size a, Size b)
{
	uint64		r;

	if (a == SIZE_MAX || b == SIZE_MAX ||
		pg_add_u64_overflow((uint64) a, (uint64) b, &r) || r == SIZE_MAX)
		return SIZE_MAX;
	return (Size) r;
}

void
ecml_train_memory_init(EcmlTrainMemory *m, const char *trainer, Size held)
{
	m->trainer = trainer;
	m->held = held;
}

void
ecml_train_memory_check(const EcmlTrainMemory *m, Size bytes, const char *what)
{
	if (bytes == SIZE_MAX || bytes > ecml_train_memory_room(m->held))
		train_memory_exceeded(m->trainer, what, m->held, bytes);
}

void
ecml_train_memory_charge(EcmlTrainMemory *m, Size bytes, const char *what)
{
	ecml_train_memory_check(m, bytes, what);
	m->held += bytes;
}

void
ecml_train_memory_release(EcmlTrainMemory *m, Size bytes)
{
	m->held = bytes < m->held ? m->held - bytes : 0;
}

void *
ecml_train_alloc(EcmlTrainMemory *m, Size nelem, Size elemsize, int flags,
				 const char *what)
{
	Size		bytes = ecml_mul_size(nelem, elemsize);

	ecml_train_memory_charge(m, bytes, what);
	/* palloc refuses a zero size; one byte keeps empty buffers legal */
	return palloc_extended(Max(bytes, 1), MCXT_ALLOC_HUGE | flags);
}

void
ecml_train_free(EcmlTrainMemory *m, void *p, Size nelem, Size elemsize)
{
	if (p != NULL)
		pfree(p);
	ecml_train_memory_release(m, ecml_mul_size(nelem, elemsize));
}

double
ecml_elapsed_seconds(TimestampTz start)
{
	return (double) (GetCurrentTimestamp() - start) / 1000000.0;
}


/* ---- aggregate support functions ---- */

/*
 * The aggregate's memory context.  A support function called directly from
 * SQL (not by an aggregate) is an internal error naming fn.
 */
MemoryContext
ecml_agg_context(FunctionCallInfo fcinfo, const char *fn)
{
	MemoryContext aggcxt;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "%s called in non-aggregate context", fn);
	return aggcxt;
}

/*
 * A varlena state in argument argno that the caller may change in place:
 * the aggregate's own state (detoasted) inside an aggregate, a copy when
 * called directly from SQL, whose arguments must not be modified.
 */
struct varlena *
ecml_agg_writable_arg(FunctionCallInfo fcinfo, int argno)
{
	if (AggCheckCallContext(fcinfo, NULL))
		return PG_DETOAST_DATUM(PG_GETARG_DATUM(argno));
	return PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(argno));
}

/* See ecml.h: a worker's serialized internal state that does not parse. */
void
ecml_partial_state_invalid(const char *agg)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg_internal("ecml: invalid %s partial state", agg)));
}

/* See ecml.h: one error for every pass aggregate's broken state. */
void
ecml_pass_state_invalid(const char *agg, const char *kind, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: invalid %s", agg, what),
			 errhint("%s is a step of ecml.train('%s', ...); call that instead.",
					 agg, kind)));
}

/* ---- progress ---- */

/* A NOTICE with the formatted message when ecml.progress is on. */
void
ecml_progress_notice(const char *fmt, ...)
{
	StringInfoData buf;

	if (!ecml_progress)
		return;
	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	ereport(NOTICE, (errmsg_internal("%s", buf.data)));
	pfree(buf.data);
}

/* Seconds a loop of total steps has left after done, at the rate so far. */
double
ecml_seconds_left(double elapsed, double done, double total)
{
	return elapsed / Max(done, 1) * (total - done);
}

/* ---- random numbers: splitmix64 seeding xoshiro256** ---- */

static inline uint64
rotl64(uint64 x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void
ecml_rng_seed(EcmlRng *rng, uint64 seed)
{
	uint64		z = seed;

	for (int i = 0; i < 4; i++)
	{
		uint64		t;

		z += UINT64CONST(0x9e3779b97f4a7c15);
		t = z;
		t = (t ^ (t >> 30)) * UINT64CONST(0xbf58476d1ce4e5b9);
		t = (t ^ (t >> 27)) * UINT64CONST(0x94d049bb133111eb);
		rng->s[i] = t ^ (t >> 31);
	}
}

uint64
ecml_rng_next(EcmlRng *rng)
{
	uint64	   *s = rng->s;
	uint64		result = rotl64(s[1] * 5, 7) * 9;
	uint64		t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return result;
}

double
ecml_rng_uniform(EcmlRng *rng)
{
	/* the top 53 bits give every double in [0, 1) with equal spacing */
	return (double) (ecml_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

double
ecml_rng_normal(EcmlRng *rng)
{
	double		u1,
				u2;

	/* Box-Muller; u1 in (0, 1] so the log is finite */
	u1 = 1.0 - ecml_rng_uniform(rng);
	u2 = ecml_rng_uniform(rng);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64
ecml_rng_below(EcmlRng *rng, uint64 n)
{
	/* rejection sampling removes the modulo bias */
	uint64		limit = PG_UINT64_MAX - PG_UINT64_MAX % n;
	uint64		x;

	do
		x = ecml_rng_next(rng);
	while (x >= limit);
	return x % n;
}

/* ---- SQL-callable ---- */

/* ecml.version() → text: the extension's library version */
PG_FUNCTION_INFO_V1(ecml_version);
Datum
ecml_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(ECML_VERSION));
}

/* qsort's comparison of int64s, ascending */
int
ecml_int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}
