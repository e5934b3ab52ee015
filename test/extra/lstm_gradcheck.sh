#!/usr/bin/env bash
# Finite-difference gradient checks of the LSTM layer kernels (src/nn_*.c):
# test/unit/lstm_gradcheck.c compiles the same kernel files training uses,
# without PostgreSQL, against the pthread BLIS the extension links.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
blis_inc=/usr/include/x86_64-linux-gnu/blis-pthread
blis_lib=/usr/lib/x86_64-linux-gnu/blis-pthread
tmp=$(mktemp -d /tmp/lstm_gradcheck.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
gcc -std=gnu99 -O2 -Wall -Werror -isystem "$blis_inc" -Isrc \
    test/unit/lstm_gradcheck.c src/nn_embedding.c src/nn_lstm.c src/nn_gru.c src/nn_softmax.c src/nn_rankloss.c src/nn_adam.c src/nn_dropout.c \
    -L"$blis_lib" -Wl,-rpath,"$blis_lib" -lblis -lm -lpthread -o "$tmp/lstm_gradcheck"
"$tmp/lstm_gradcheck"
