#include "dl.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#endif

namespace fp8k::addon::dl {

#ifdef _WIN32

void* open(const std::string& path, bool) { return LoadLibraryA(path.c_str()); }
void* sym(void* lib, const char* name) { return reinterpret_cast<void*>(GetProcAddress(static_cast<HMODULE>(lib), name)); }
void close(void* lib) { FreeLibrary(static_cast<HMODULE>(lib)); }

std::string error() {
  const DWORD code = GetLastError();
  char buf[512] = "";
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr, code, 0, buf, sizeof buf, nullptr);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = 0;
  return n ? std::string(buf) : "error " + std::to_string(code);
}

void pin(const void* address) {
  HMODULE self;
  GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN, static_cast<LPCSTR>(address), &self);
}

#else

void* open(const std::string& path, bool global) { return dlopen(path.c_str(), RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL)); }
void* sym(void* lib, const char* name) { return dlsym(lib, name); }
void close(void* lib) { dlclose(lib); }

std::string error() {
  const char* e = dlerror();
  return e ? e : "unknown error";
}

void pin(const void* address) {
  Dl_info self;
  if (dladdr(address, &self) && self.dli_fname) dlopen(self.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
}

#endif

}  // namespace fp8k::addon::dl
