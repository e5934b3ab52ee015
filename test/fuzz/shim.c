/*
 * shim.c
 *	  The least of the server that ecml's model decoders need, so that they
 *	  run outside PostgreSQL under libFuzzer: palloc and friends on malloc,
 *	  and ereport.
 *
 * Memory: every palloc'd chunk is linked into one list, the harness's only
 * "memory context"; shim_reset() frees it after each input, whether the
 * decoder finished or raised an ERROR, as the server resets a context.  So
 * LeakSanitizer sees no leak from an aborted decode, and AddressSanitizer
 * sees each chunk as its own allocation (inside the server, chunks share
 * blocks and an overrun into a neighbour goes unnoticed).
 *
 * Errors: an ereport at ERROR or above records the SQLSTATE and message and
 * longjmps to the harness's sigsetjmp (shim_error_jmp), like PG_TRY; lower
 * levels are dropped.  The error code is what the harness checks.
 *
 * Everything else the decoders' source files reference (fmgr glue, array
 * and JSON output) is in functions the harness never calls; the build drops
 * them with -ffunction-sections and --gc-sections, so they need no shim.
 */
#include "postgres.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "miscadmin.h"
#include "shim.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

sigjmp_buf *shim_error_jmp = NULL;
int			shim_error_code = 0;
char		shim_error_message[1024];

MemoryContext CurrentMemoryContext = NULL;

/* ---- interrupts ---- */

/*
 * CHECK_FOR_INTERRUPTS() calls ProcessInterrupts whenever InterruptPending
 * is set, so it is set for good: every check a decoder or kernel makes
 * lands here and is time-stamped.  A watchdog thread (shim_watchdog_start)
 * aborts the input when the code has run for shim_cfi_gap_seconds without
 * one: a loop whose length the model controls and that would ignore cancel
 * and statement_timeout in the server.
 */
volatile sig_atomic_t InterruptPending = true;

static _Atomic int64_t last_check_ns;
static _Atomic bool input_running;
int			shim_cfi_gap_seconds = 10;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
ProcessInterrupts(void)
{
	atomic_store_explicit(&last_check_ns, now_ns(), memory_order_relaxed);
}

static void *
watchdog(void *arg)
{
	for (;;)
	{
		usleep(200 * 1000);
		if (atomic_load(&input_running) &&
			now_ns() - atomic_load(&last_check_ns) > (int64_t) shim_cfi_gap_seconds * 1000000000)
		{
			fprintf(stderr, "==shim== no CHECK_FOR_INTERRUPTS() for %d s while decoding or scoring "
					"one input: a loop the model controls cannot be cancelled\n",
					shim_cfi_gap_seconds);
			abort();
		}
	}
	return NULL;
}

void
shim_input_begin(size_t input_size)
{
	static bool started = false;
	const char *gap = getenv("FUZZ_CFI_GAP");

	if (!started)
	{
		pthread_t	t;

		if (gap != NULL)
			shim_cfi_gap_seconds = atoi(gap);
		if (shim_cfi_gap_seconds > 0 && pthread_create(&t, NULL, watchdog, NULL) == 0)
			pthread_detach(t);
		started = true;
	}
	shim_input_size = input_size;
	atomic_store(&last_check_ns, now_ns());
	atomic_store(&input_running, true);
}

void
shim_input_end(void)
{
	atomic_store(&input_running, false);
}

/* pg_strong_random without OpenSSL: the vocabulary hash's key */
bool
pg_strong_random(void *buf, size_t len)
{
	FILE	   *f = fopen("/dev/urandom", "rb");
	bool		ok = f != NULL && fread(buf, 1, len, f) == len;

	if (f != NULL)
		fclose(f);
	return ok;
}

/* ecml_builder_finish stamps the creation time (the generators' models) */
TimestampTz
GetCurrentTimestamp(void)
{
	return 0;
}

/* ---- memory ---- */

/* 32 bytes keep the user's pointer 16-byte aligned, like malloc's */
typedef struct Chunk
{
	struct Chunk *prev;
	struct Chunk *next;
	Size		size;
	Size		pad;
} Chunk;

static Chunk chunks = {&chunks, &chunks, 0, 0};

/*
 * What the decoders may hold for an input of shim_input_size bytes: a
 * decoder that sizes an allocation by a count it has not checked against
 * the bytes that hold the elements asks for far more, which in the server
 * ends in "invalid memory alloc request size" (an internal error) or
 * exhausts memory.  Real decoders hold a few copies of the model plus
 * small per-call buffers.
 */
size_t		shim_input_size = 0;
static size_t live_bytes = 0;

#define SHIM_ALLOC_FACTOR 32
#define SHIM_ALLOC_SLACK ((size_t) 64 * 1024 * 1024)

static void
check_amplification(Size add)
{
	size_t		cap = SHIM_ALLOC_FACTOR * shim_input_size + SHIM_ALLOC_SLACK;

	/* only while decoding an input: generators and crafts may be large */
	if (atomic_load(&input_running) && live_bytes + add > cap)
	{
		fprintf(stderr, "==shim== decoding %zu input bytes holds %zu bytes and asks for %zu more: "
				"an allocation sized by an unchecked count\n",
				shim_input_size, live_bytes, (size_t) add);
		abort();
	}
}

static void
out_of_memory(Size size)
{
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("out of memory"),
			 errdetail("Failed on request of size %zu.", size)));
}

static void *
chunk_alloc(Size size, int flags)
{
	Chunk	   *c;

	/* the same limits as mcxt.c */
	if (!((flags & MCXT_ALLOC_HUGE) ? AllocHugeSizeIsValid(size) : AllocSizeIsValid(size)))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	check_amplification(size);
	c = (flags & MCXT_ALLOC_ZERO) ? calloc(1, sizeof(Chunk) + size) : malloc(sizeof(Chunk) + size);
	if (c == NULL)
	{
		if (flags & MCXT_ALLOC_NO_OOM)
			return NULL;
		out_of_memory(size);
	}
	c->size = size;
	live_bytes += size;
	c->prev = &chunks;
	c->next = chunks.next;
	chunks.next->prev = c;
	chunks.next = c;
	return c + 1;
}

void *
palloc(Size size)
{
	return chunk_alloc(size, 0);
}

void *
palloc0(Size size)
{
	return chunk_alloc(size, MCXT_ALLOC_ZERO);
}

void *
palloc_extended(Size size, int flags)
{
	return chunk_alloc(size, flags);
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	return chunk_alloc(size, 0);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	return chunk_alloc(size, MCXT_ALLOC_ZERO);
}

void *
MemoryContextAllocHuge(MemoryContext context, Size size)
{
	return chunk_alloc(size, MCXT_ALLOC_HUGE);
}

void
pfree(void *pointer)
{
	Chunk	   *c;

	/*
	 * libpgcommon.a is the frontend build, whose pfree accepts NULL; from 17
	 * on its JSON parser relies on that (FREE(fname) in parse_object_field,
	 * NULL-checked only in the backend build).
	 */
	if (pointer == NULL)
		return;
	c = (Chunk *) pointer - 1;
	c->prev->next = c->next;
	c->next->prev = c->prev;
	live_bytes -= c->size;
	free(c);
}

static void *
chunk_realloc(void *pointer, Size size, int flags)
{
	Chunk	   *c = (Chunk *) pointer - 1;
	Chunk	   *prev = c->prev;
	Chunk	   *next = c->next;
	Chunk	   *n;

	if (!((flags & MCXT_ALLOC_HUGE) ? AllocHugeSizeIsValid(size) : AllocSizeIsValid(size)))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	if (size > c->size)
		check_amplification(size - c->size);
	n = realloc(c, sizeof(Chunk) + size);
	if (n == NULL)
		out_of_memory(size);
	live_bytes += size - n->size;
	n->size = size;
	prev->next = n;
	next->prev = n;
	return n + 1;
}

void *
repalloc(void *pointer, Size size)
{
	return chunk_realloc(pointer, size, 0);
}

void *
repalloc_huge(void *pointer, Size size)
{
	return chunk_realloc(pointer, size, MCXT_ALLOC_HUGE);
}

char *
pstrdup(const char *in)
{
	Size		len = strlen(in);
	char	   *out = palloc(len + 1);

	memcpy(out, in, len + 1);
	return out;
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

void
shim_reset(void)
{
	while (chunks.next != &chunks)
		pfree(chunks.next + 1);
}

/* ---- ereport ---- */

static int	error_level;

bool
errstart(int elevel, const char *domain)
{
	if (elevel < ERROR)
		return false;
	error_level = elevel;
	shim_error_code = ERRCODE_INTERNAL_ERROR;	/* elog's default */
	shim_error_message[0] = '\0';
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (error_level > ERROR || shim_error_jmp == NULL)
	{
		fprintf(stderr, "ereport(%d) outside the harness's error handler at %s:%d: %s\n",
				error_level, filename, lineno, shim_error_message);
		abort();
	}
	siglongjmp(*shim_error_jmp, 1);
}

int
errcode(int sqlerrcode)
{
	shim_error_code = sqlerrcode;
	return 0;
}

/* format the message as the server would, so bad format arguments show */
static int
format_message(char *buf, size_t len, const char *fmt, va_list args)
{
	vsnprintf(buf, len, fmt, args);
	return 0;
}

int
errmsg(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	format_message(shim_error_message, sizeof(shim_error_message), fmt, args);
	va_end(args);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	format_message(shim_error_message, sizeof(shim_error_message), fmt, args);
	va_end(args);
	return 0;
}

static int
other_text(const char *fmt, va_list args)
{
	char		buf[1024];

	return format_message(buf, sizeof(buf), fmt, args);
}

int
errdetail(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	other_text(fmt, args);
	va_end(args);
	return 0;
}

int
errdetail_internal(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	other_text(fmt, args);
	va_end(args);
	return 0;
}

int
errhint(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	other_text(fmt, args);
	va_end(args);
	return 0;
}

