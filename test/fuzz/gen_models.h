/*
 * gen_models.h
 *	  The structure-aware model generator (gen_models.c): a recipe of bytes
 *	  to a model with valid checksums, and the named crafted models of the
 *	  regression tests (craft_models.c).
 */
#ifndef ECML_FUZZ_GEN_MODELS_H
#define ECML_FUZZ_GEN_MODELS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "model.h"

extern bytea *gen_model(const uint8_t *recipe, size_t size);

extern bytea *craft_gbdt_dag(int levels, int nfeatures);
extern bytea *craft_gbdt_deep(int levels, int nfeatures);
extern bytea *craft_iforest_dag(void);
extern bytea *craft_json_deep(int levels);
extern bytea *craft_many_names(Size n);
extern bytea *craft_lstm_text(int V, int E, int H, int L, int max_length,
							  const char *words, Size words_len);
extern bytea *craft_lstm_successors(int which);
extern bytea *craft_lstm_neighbours(int which);
extern bytea *craft_lstm_cell(int which);

#endif							/* ECML_FUZZ_GEN_MODELS_H */
