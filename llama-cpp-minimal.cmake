# Run by llama.cpp's project() while llama-cpp-python builds it (see install.sh).
# A normal variable hides the cache entry llama-cpp-python forces on: with policy CMP0077,
# llama.cpp's option(LLAMA_BUILD_COMMON ...) then keeps it, and common/ and cpp-httplib are
# never compiled. The Python bindings load libllama and libggml only.
set(LLAMA_BUILD_COMMON OFF)
