/*
 * glue_lstm.c: lstm_parse, then ecml.lstm_top's network pass over a
 * short sequence (the first and last vocabulary entries and the unknown
 * token) and a look-up of every vocabulary entry.
 */
#include "../../src/lstm_predict.c"
#include "glue.h"

void
fuzz_lstm(const EcmlModel *model)
{
	LstmModel  *m = lstm_parse(model, CurrentMemoryContext);
	int32		ids[3] = {1, m->net.V - 1, LSTM_UNKNOWN};
	float	   *p = lstm_next_probs(m, ids, 3);

	for (int c = 0; c < m->net.V; c++)
		fuzz_sink += p[c];
	/* every entry finds itself, as a scoring sequence would */
	for (int i = 0; i < m->vocab.n; i++)
	{
		if (m->token_type == LSTM_TOKENS_TEXT)
			fuzz_sink += lstm_vocab_find(&m->vocab, 0, m->vocab.strs[i], m->vocab.lens[i]);
		else
			fuzz_sink += lstm_vocab_find(&m->vocab, m->vocab.ids[i], NULL, 0);
	}
}
