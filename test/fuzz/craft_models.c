/*
 * craft_models.c
 *	  Write one crafted model (valid checksums, malicious structure) to a
 *	  file, for the regression inputs and the SQL checks that load it
 *	  (test/extra/crafted_models.sh):
 *
 *	craft_models gbdt-dag LEVELS FILE		one tree, node k's children k+1, k+2
 *	craft_models gbdt-deep LEVELS FILE		one proper tree LEVELS deep
 *	craft_models iforest-dag FILE			one tree, inner nodes 1 and 2 share children
 *	craft_models json-deep LEVELS FILE		an INFO section of LEVELS '['
 *	craft_models names N FILE				a logreg model with N empty feature names
 *	craft_models lstm-text V E H L MAXLEN FILE	an lstm over text tokens w1..w(V-1)
 *	craft_models lstm-collide WORDS FILE	an lstm whose WORDS text tokens all
 *											hash into 1/64 of the slots of
 *											the vocabulary's table under the
 *											unkeyed hash it used before
 *											(hash_bytes)
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/hashfn.h"
#include "gen_models.h"
#include "lib/stringinfo.h"
#include "shim.h"

static void
write_model(bytea *m, const char *path)
{
	FILE	   *f = fopen(path, "wb");
	Size		n = VARSIZE(m) - VARHDRSZ;

	if (f == NULL || fwrite(VARDATA(m), 1, n, f) != n || fclose(f) != 0)
	{
		perror(path);
		exit(1);
	}
	fprintf(stderr, "%s: %zu bytes\n", path, n);
}

/* the words w whose old vocabulary slot, hash_bytes(w) & mask, is in the first 1/64 */
static void
colliding_words(int nwords, StringInfo out)
{
	Size		nslots = 1;
	uint32		mask;
	uint32		window;
	char		w[32];

	/* as lstm_vocab_init(V - 1) sized the table: slots >= 2 * entries */
	while (nslots < (Size) Max(nwords, 16) * 2)
		nslots <<= 1;
	mask = (uint32) (nslots - 1);
	window = (uint32) (nslots / 64);
	for (long i = 0, found = 0; found < nwords; i++)
	{
		int			len = snprintf(w, sizeof(w), "c%ld", i);

		if ((hash_bytes((const unsigned char *) w, len) & mask) < window)
		{
			appendBinaryStringInfo(out, w, len + 1);
			found++;
		}
	}
}

int
main(int argc, char **argv)
{
	sigjmp_buf	jmp;

	shim_error_jmp = &jmp;
	if (sigsetjmp(jmp, 0) != 0)
	{
		fprintf(stderr, "craft_models: ERROR %s\n", shim_error_message);
		return 1;
	}
	if (argc == 4 && strcmp(argv[1], "gbdt-dag") == 0)
		write_model(craft_gbdt_dag(atoi(argv[2]), 3), argv[3]);
	else if (argc == 4 && strcmp(argv[1], "gbdt-deep") == 0)
		write_model(craft_gbdt_deep(atoi(argv[2]), 3), argv[3]);
	else if (argc == 3 && strcmp(argv[1], "iforest-dag") == 0)
		write_model(craft_iforest_dag(), argv[2]);
	else if (argc == 4 && strcmp(argv[1], "json-deep") == 0)
		write_model(craft_json_deep(atoi(argv[2])), argv[3]);
	else if (argc == 4 && strcmp(argv[1], "names") == 0)
		write_model(craft_many_names((Size) atol(argv[2])), argv[3]);
	else if (argc == 8 && strcmp(argv[1], "lstm-text") == 0)
		write_model(craft_lstm_text(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]),
									atoi(argv[5]), atoi(argv[6]), NULL, 0), argv[7]);
	else if (argc == 4 && strcmp(argv[1], "lstm-succ") == 0)
		write_model(craft_lstm_successors(atoi(argv[2])), argv[3]);
	else if (argc == 4 && strcmp(argv[1], "lstm-knn") == 0)
		write_model(craft_lstm_neighbours(atoi(argv[2])), argv[3]);
	else if (argc == 4 && strcmp(argv[1], "lstm-cell") == 0)
		write_model(craft_lstm_cell(atoi(argv[2])), argv[3]);
	else if (argc == 4 && strcmp(argv[1], "lstm-collide") == 0)
	{
		StringInfoData words;
		int			n = atoi(argv[2]);

		initStringInfo(&words);
		colliding_words(n, &words);
		write_model(craft_lstm_text(n + 1, 1, 1, 1, 100, words.data, words.len), argv[3]);
	}
	else
	{
		fprintf(stderr, "usage: craft_models gbdt-dag LEVELS FILE | gbdt-deep LEVELS FILE | iforest-dag FILE |\n"
				"       json-deep LEVELS FILE | names N FILE |\n"
				"       lstm-text V E H L MAXLEN FILE | lstm-collide WORDS FILE | lstm-succ CASE FILE |\n"
				"       lstm-knn CASE FILE | lstm-cell CASE FILE\n");
		return 2;
	}
	return 0;
}
