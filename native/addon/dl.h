// Libraries opened at run time (the CUDA plugin, libmpi and the mpi transport, the CUDA driver):
// dlopen where there is one, LoadLibrary on Windows.
#pragma once

#include <string>

namespace fp8k::addon::dl {

// nullptr on failure, and error() says why. global: its symbols serve libraries opened later (libmpi).
void* open(const std::string& path, bool global);
void* sym(void* lib, const char* name);
void close(void* lib);
std::string error();
// Keeps the library that holds `address` loaded until the process ends.
void pin(const void* address);

}  // namespace fp8k::addon::dl
