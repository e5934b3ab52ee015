#!/usr/bin/env bash
# Build the model-reader fuzzer (test/fuzz/fuzz_models) with clang's
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer, against the
# real server headers (pg_config --includedir-server) and ecml's own
# sources, unchanged.  Functions of those sources that the harness never
# reaches (fmgr wrappers, SQL output) are dropped by --gc-sections, so the
# shim (shim.c) holds only palloc/pfree/ereport and a few globals.
#
#   bash test/fuzz/build.sh            (from any directory; no root needed)
#
# Fails loudly when clang, lld or the libFuzzer runtime (libclang-rt-14-dev
# on Debian 12) is missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
CC=${CC:-clang}
out=${FUZZ_BUILD_DIR:-$here/build}

command -v "$CC" >/dev/null || { echo "ERROR: $CC not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
command -v ld.lld >/dev/null || { echo "ERROR: ld.lld not found (apt-get install lld)" >&2; exit 1; }
[ -x "$PG_CONFIG" ] || { echo "ERROR: $PG_CONFIG not found (apt-get install postgresql-server-dev-15)" >&2; exit 1; }
fuzzer_rt=$("$CC" -print-file-name="libclang_rt.fuzzer-x86_64.a")
if [ ! -f "$fuzzer_rt" ]; then
    fuzzer_rt=$(find /usr/lib/llvm-*/lib/clang -name 'libclang_rt.fuzzer-x86_64.a' 2>/dev/null | head -n 1)
fi
[ -n "$fuzzer_rt" ] && [ -f "$fuzzer_rt" ] ||
    { echo "ERROR: libFuzzer runtime (libclang_rt.fuzzer) missing: apt-get install libclang-rt-14-dev" >&2; exit 1; }

# libpgcommon.a / libpgport.a: Debian puts them in pkglibdir, a server
# built from source (test/pgbuild.sh) in libdir
pglib=$("$PG_CONFIG" --pkglibdir)
[ -f "$pglib/libpgcommon.a" ] || pglib=$("$PG_CONFIG" --libdir)
blis_inc=/usr/include/x86_64-linux-gnu/blis-pthread
blis_lib=/usr/lib/x86_64-linux-gnu/blis-pthread
# No -fwrapv (the server build has it): a signed overflow in a decoder is a
# wrapped size or index, and UBSan should say so.
cflags=(-g -O1 -fno-omit-frame-pointer -std=gnu11
        -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
        -ffunction-sections -fdata-sections
        -Wall -Wno-unused-function -Wno-missing-field-initializers -Wno-unused-command-line-argument -Wno-ignored-attributes -Wno-unknown-pragmas
        -I"$here" -I"$root/src" -I"$("$PG_CONFIG" --includedir-server)" -isystem "$blis_inc")

# ecml sources the decoders and the scoring they are exercised with need;
# the kinds' scoring files (logreg_predict.c, ...) come in through glue_*.c.
srcs=(model model_cache model_info vectors_pack vectors_model gbdt_predict gbdt_model lstm_vocab lstm_train lstm_model iforest_train iforest_model mf_model
      arrays distance topk ecml nn_lstm nn_gru nn_embedding nn_dropout lstm_repeat lstm_successors lstm_neighbours text_vocab)

mkdir -p "$out"
objs=()
for s in "${srcs[@]}"; do
    "$CC" "${cflags[@]}" -c "$root/src/$s.c" -o "$out/src_$s.o"
    objs+=("$out/src_$s.o")
done
for s in shim gen_models glue_logreg glue_mf glue_vectors glue_lstm glue_gbdt glue_iforest glue_wordvec glue_textclf; do
    "$CC" "${cflags[@]}" -c "$here/$s.c" -o "$out/$s.o"
    objs+=("$out/$s.o")
done
for s in fuzz_models craft_models; do
    "$CC" "${cflags[@]}" -c "$here/$s.c" -o "$out/$s.o"
done
# lld, not GNU ld: with coverage instrumentation GNU ld reports the
# undefined server symbols of unreached functions before collecting them
"$CC" -fsanitize=fuzzer,address,undefined -fuse-ld=lld -Wl,--gc-sections -o "$out/fuzz_models" \
    "$out/fuzz_models.o" "${objs[@]}" "$pglib/libpgcommon.a" "$pglib/libpgport.a" \
    -L"$blis_lib" -Wl,-rpath,"$blis_lib" -lblis -lpthread -lm
# the crafted models' writer: the same objects, its own main
"$CC" -fsanitize=address,undefined -fuse-ld=lld -Wl,--gc-sections -o "$out/craft_models" \
    "$out/craft_models.o" "${objs[@]}" "$pglib/libpgcommon.a" "$pglib/libpgport.a" \
    -L"$blis_lib" -Wl,-rpath,"$blis_lib" -lblis -lpthread -lm
echo "$out/fuzz_models"
