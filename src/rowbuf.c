/*
 * rowbuf.c
 *	  The training row buffer and the partial-state framing (rowbuf.h).
 *
 * Chunks grow with the buffer (a quarter of what is held, within bounds)
 * so that appends stay cheap and the slack stays small.  Combine moves
 * chunks between states living in the same aggregate context, and a
 * deserialized state arrives as a single chunk.
 */
#include "postgres.h"

#include <limits.h>

#include "arrays.h"
#include "ecml.h"
#include "rowbuf.h"
#include "utils/memutils.h"

#define CHUNK_MIN_BYTES (64 * 1024)
#define CHUNK_MAX_BYTES (4 * 1024 * 1024)

static void
rowbuf_add_chunk(Rowbuf *rb, MemoryContext cxt, RowbufChunk chunk)
{
	if (rb->nchunks == rb->maxchunks)
	{
		int			newmax = Max(16, rb->maxchunks * 2);

		if (rb->chunks == NULL)
			rb->chunks = MemoryContextAlloc(cxt, sizeof(RowbufChunk) * newmax);
		else
			rb->chunks = repalloc(rb->chunks, sizeof(RowbufChunk) * newmax);
		rb->maxchunks = newmax;
	}
	rb->chunks[rb->nchunks++] = chunk;
}

void *
rowbuf_append(Rowbuf *rb, MemoryContext cxt, const char *trainer)
{
	RowbufChunk *last = rb->nchunks > 0 ? &rb->chunks[rb->nchunks - 1] : NULL;
	Size		rowbytes = rb->record_size;

	if (last == NULL || last->nrows == last->capacity)
	{
		RowbufChunk chunk;
		Size		want = Min(CHUNK_MAX_BYTES, Max(CHUNK_MIN_BYTES, rb->bytes / 4));

		chunk.capacity = (int) Max(1, want / rowbytes);
		chunk.nrows = 0;
		ecml_check_train_memory(rb->bytes + chunk.capacity * rowbytes, trainer);
		chunk.data = MemoryContextAllocHuge(cxt, chunk.capacity * rowbytes);
		rb->bytes += chunk.capacity * rowbytes;
		rowbuf_add_chunk(rb, cxt, chunk);
		last = &rb->chunks[rb->nchunks - 1];
	}
	rb->nrows++;
	return last->data + (Size) last->nrows++ * rowbytes;
}

void
rowbuf_move(Rowbuf *dst, Rowbuf *src, MemoryContext cxt, const char *trainer)
{
	ecml_check_train_memory(dst->bytes + src->bytes, trainer);
	if (dst->record_size == 0)
		dst->record_size = src->record_size;
	for (int i = 0; i < src->nchunks; i++)
		rowbuf_add_chunk(dst, cxt, src->chunks[i]);
	dst->nrows += src->nrows;
	dst->bytes += src->bytes;
	src->nchunks = 0;
	src->nrows = 0;
	src->bytes = 0;
}

void
rowbuf_write(const Rowbuf *rb, char *dst)
{
	for (int i = 0; i < rb->nchunks; i++)
	{
		Size		n = (Size) rb->chunks[i].nrows * rb->record_size;

		ecml_copy_interruptible(dst, rb->chunks[i].data, n);
		dst += n;
	}
}

void
rowbuf_read(Rowbuf *rb, const char *src, int64 nrows, MemoryContext cxt,
			const char *trainer)
{
	RowbufChunk chunk;
	Size		n = (Size) nrows * rb->record_size;

	Assert(rb->nchunks == 0 && nrows <= INT_MAX);
	if (nrows <= 0)
		return;
	chunk.nrows = chunk.capacity = (int) nrows;
	ecml_check_train_memory(n, trainer);
	chunk.data = MemoryContextAllocHuge(cxt, n);
	ecml_copy_interruptible(chunk.data, src, n);
	rb->nrows = nrows;
	rb->bytes = n;
	rowbuf_add_chunk(rb, cxt, chunk);
}

bytea *
rowbuf_frame_new(const char *trainer, const char *remedy, Size headlen,
				 const Jsonb *options, Size payload_len,
				 char **head, char **payload)
{
	Size		optlen = options ? VARSIZE(options) : 0;
	Size		total = VARHDRSZ + headlen + MAXALIGN(optlen) + payload_len;
	bytea	   *out;

	if (total > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s partial state of a parallel worker exceeds 1 GB", trainer),
				 errhint("Disable parallel aggregation for this query (SET max_parallel_workers_per_gather = 0)%s.",
						 remedy)));
	/* zeroed for the padding, interruptibly: a worker's rows can be 1 GB */
	out = palloc(total);
	ecml_zero_interruptible(out, total);
	SET_VARSIZE(out, total);
	*head = VARDATA(out);
	if (optlen > 0)
		memcpy(*head + headlen, options, optlen);
	*payload = *head + headlen + MAXALIGN(optlen);
	return out;
}

const char *
rowbuf_frame_head(bytea *in, Size headlen, const char *what)
{
	if (VARSIZE_ANY_EXHDR(in) < headlen)
		ecml_partial_state_invalid(what);
	return VARDATA_ANY(in);
}

const char *
rowbuf_frame_body(bytea *in, Size headlen, int32 optlen, Size payload_len,
				  MemoryContext cxt, const char *what, Jsonb **options)
{
	const char *p = VARDATA_ANY(in) + headlen;

	if (optlen < 0 ||
		VARSIZE_ANY_EXHDR(in) != headlen + MAXALIGN(optlen) + payload_len)
		ecml_partial_state_invalid(what);
	*options = NULL;
	if (optlen > 0)
	{
		*options = MemoryContextAlloc(cxt, optlen);
		memcpy(*options, p, optlen);
	}
	return p + MAXALIGN(optlen);
}
