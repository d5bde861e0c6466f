// Memory handed to JavaScript: output ArrayBuffers over pooled host buffers, and device allocations
// behind Externals. V8 is told about device memory (napi_adjust_external_memory), so that dropping
// results triggers collections; it counts ArrayBuffers itself, and young outputs are hidden from that
// count up to a limit (alloc.cc, Registry::credit_outputs).
//
// Node runs the finalizers of external ArrayBuffers and Externals from the event loop, so a
// synchronous loop of calls would never free anything. Each allocation therefore also holds a weak
// reference: the next allocation on that thread takes back the memory of every object the collector
// has found dead, without waiting for its finalizer.
#pragma once
#include <napi.h>

#include "device.h"

namespace fp8k::addon {

Napi::Value AllocOutput(const Napi::CallbackInfo& info);
Napi::Value MemoryStats(const Napi::CallbackInfo& info);
Napi::Value ReleaseMemory(const Napi::CallbackInfo& info);

// True when [data, data + bytes) is a whole live output ArrayBuffer of this thread's that JavaScript
// cannot detach (Node marks external buffers untransferable), so a Promise call may use it in place.
bool owned_output(napi_env env, const void* data, size_t bytes);

// An External owning `m` (deleted by its finalizer), reported to V8 and reclaimed like outputs.
Napi::Value device_external(Napi::Env env, DeviceMem* m);
// Explicit free(): the bytes stop counting at once.
void device_released(Napi::Env env, DeviceMem* m);

}  // namespace fp8k::addon
