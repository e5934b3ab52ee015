#!/usr/bin/env bash
# Write large seed models (100 kB to 1 MB, crafted by craft_models) into
# directory $2, with the harness built in $1: the committed seeds are all
# under 8 kB, and libFuzzer never grows an input past -max_len from them.
set -euo pipefail
build=$1 out=$2
mkdir -p "$out"
{
    "$build/craft_models" gbdt-dag 44 "$out/large-gbdt-dag-44.bin"
    "$build/craft_models" gbdt-deep 6000 "$out/large-gbdt-deep-6000.bin"
    "$build/craft_models" gbdt-deep 16 "$out/large-gbdt-deep-16.bin"
    "$build/craft_models" lstm-text 20000 4 8 1 50 "$out/large-lstm-text-20000.bin"
    "$build/craft_models" lstm-text 30 16 128 2 10000 "$out/large-lstm-hidden-128.bin"
    "$build/craft_models" json-deep 300000 "$out/large-json-deep-300000.bin"
    "$build/craft_models" lstm-collide 20000 "$out/large-lstm-collide-20000.bin"
} 2>/dev/null
