// Argument checks on the native side: the TypeScript layer validates first, but
// nothing that reaches native code may crash the process.
#pragma once
#include <napi.h>

#include <string>

#include "../backend.h"

namespace fp8k::addon {

[[noreturn]] void fail(Napi::Env env, int status, const std::string& message);

struct View {
  void* data;
  size_t length;  // elements
};

// A typed array whose element type matches dtype and that holds at least n elements.
View typed_array(const Napi::CallbackInfo& info, size_t index, int dtype, size_t n, const char* name);
size_t size_arg(const Napi::CallbackInfo& info, size_t index, const char* name);
int int_arg(const Napi::CallbackInfo& info, size_t index, const char* name);
bool bool_arg(const Napi::CallbackInfo& info, size_t index, const char* name);

// The backend named by argument `index`, usable here, and implementing `op` (a non-NULL entry).
const fp8k_backend* backend_arg(const Napi::CallbackInfo& info, size_t index);
void require_op(Napi::Env env, const fp8k_backend* b, const void* op, const char* op_name);

}  // namespace fp8k::addon
