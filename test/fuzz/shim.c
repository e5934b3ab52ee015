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

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include "miscadmin.h"
#include "shim.h"
#include "utils/memutils.h"

sigjmp_buf *shim_error_jmp = NULL;
int			shim_error_code = 0;
char		shim_error_message[1024];

/* CHECK_FOR_INTERRUPTS() reads these; nothing here ever sets them */
volatile sig_atomic_t InterruptPending = false;
MemoryContext CurrentMemoryContext = NULL;

void
ProcessInterrupts(void)
{
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
	c = (flags & MCXT_ALLOC_ZERO) ? calloc(1, sizeof(Chunk) + size) : malloc(sizeof(Chunk) + size);
	if (c == NULL)
	{
		if (flags & MCXT_ALLOC_NO_OOM)
			return NULL;
		out_of_memory(size);
	}
	c->size = size;
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
	Chunk	   *c = (Chunk *) pointer - 1;

	c->prev->next = c->next;
	c->next->prev = c->prev;
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
	n = realloc(c, sizeof(Chunk) + size);
	if (n == NULL)
		out_of_memory(size);
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

