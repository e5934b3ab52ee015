/*
 * rowbuf.h
 *	  The training row buffer: fixed-size records in chunks allocated in the
 *	  aggregate context, moved (not copied) by combine functions, and the
 *	  framing of a parallel partial state shared by the serial functions:
 *	  a fixed header, the options jsonb padded to MAXALIGN, then a payload.
 */
#ifndef ECML_ROWBUF_H
#define ECML_ROWBUF_H

#include "postgres.h"

#include "utils/jsonb.h"

typedef struct RowbufChunk
{
	char	   *data;			/* nrows x record_size bytes */
	int			nrows;
	int			capacity;
} RowbufChunk;

typedef struct Rowbuf
{
	Size		record_size;	/* 0 until the first row fixes it */
	int64		nrows;
	Size		bytes;			/* chunk bytes held, as ecml_check_train_memory
								 * counts them */
	int			nchunks;
	int			maxchunks;
	RowbufChunk *chunks;
} Rowbuf;

/* Room for one more record, allocating a chunk (geometrically larger) if full. */
extern void *rowbuf_append(Rowbuf *rb, MemoryContext cxt, const char *trainer);

/* Move src's chunks to the end of dst, keeping row order. */
extern void rowbuf_move(Rowbuf *dst, Rowbuf *src, MemoryContext cxt,
						const char *trainer);

/* Copy the records, in order, to dst (nrows x record_size bytes). */
extern void rowbuf_write(const Rowbuf *rb, char *dst);

/* Load nrows records from src into an empty buffer, as one chunk. */
extern void rowbuf_read(Rowbuf *rb, const char *src, int64 nrows,
						MemoryContext cxt, const char *trainer);

/*
 * A new partial state of headlen + MAXALIGN(options) + payload_len bytes,
 * zero-filled, with the options copied after the header; *head and *payload
 * point where the caller writes.  ERROR past 1 GB, with a hint to
 * disable parallel aggregation followed by remedy (" or train on a
 * sample", or "").
 */
extern bytea *rowbuf_frame_new(const char *trainer, const char *remedy, Size headlen,
							   const Jsonb *options, Size payload_len,
							   char **head, char **payload);

/* The header of a partial state at least headlen bytes long. */
extern const char *rowbuf_frame_head(bytea *in, Size headlen, const char *what);

/*
 * Check a partial state's length against its header's optlen and
 * payload_len, copy the options (if any) into cxt; the payload.
 */
extern const char *rowbuf_frame_body(bytea *in, Size headlen, int32 optlen,
									 Size payload_len, MemoryContext cxt,
									 const char *what, Jsonb **options);

#endif							/* ECML_ROWBUF_H */
