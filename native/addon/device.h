// Device memory as JS sees it: an External owning one allocation of a device backend, freed
// explicitly or when garbage-collected, never while an operation still uses it.
#pragma once
#include <napi.h>

#include <mutex>

#include "../backend.h"

namespace fp8k::addon {

class DeviceMem {
 public:
  DeviceMem(const fp8k_backend* b, void* ptr, size_t bytes) : backend(b), ptr_(ptr), bytes_(bytes) {}
  ~DeviceMem() { release(); }
  const fp8k_backend* const backend;
  size_t bytes() const { return bytes_; }
  bool freed() const;
  // Operations hold the memory from argument parsing until they settle.
  void* acquire();
  void settle();
  // Frees now, or when the last operation using it settles.
  void release();

 private:
  mutable std::mutex mu_;
  void* ptr_;
  size_t bytes_;
  int users_ = 0;
  bool release_requested_ = false;
};

// Holds a DeviceMem for one operation (acquire on creation, settle on destruction).
struct DeviceUse {
  explicit DeviceUse(DeviceMem* m) : mem(m), ptr(m->acquire()) {}
  ~DeviceUse() { mem->settle(); }
  DeviceMem* const mem;
  void* const ptr;
};

// The DeviceMem behind a JS value, or null when it is not one.
DeviceMem* device_mem(Napi::Value v);
// The stream behind a JS value (null for undefined: the backend's default), checked against backend b.
void* stream_handle(Napi::Value v, const fp8k_backend* b);

Napi::Value DeviceAlloc(const Napi::CallbackInfo& info);
Napi::Value DeviceFree(const Napi::CallbackInfo& info);
Napi::Value DeviceCopy(const Napi::CallbackInfo& info);
Napi::Value StreamCreate(const Napi::CallbackInfo& info);
Napi::Value StreamSync(const Napi::CallbackInfo& info);

}  // namespace fp8k::addon
