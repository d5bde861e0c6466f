#include "alloc.h"

#include <stdlib.h>

#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "args.h"
#include "pool.h"

namespace fp8k::addon {

namespace {

// See Registry::credit.
constexpr size_t kCreditLimit = size_t(256) << 20;

struct Registry;
struct Tracked;

// One ArrayBuffer or device External handed to JavaScript.
struct Tracked {
  std::shared_ptr<Registry> registry;
  napi_ref weak = nullptr;
  std::unique_ptr<HostBuffer> host;
  DeviceMem* device = nullptr;  // owned; deleted by the finalizer
  int64_t external = 0;         // bytes added to V8's count (napi_adjust_external_memory); negative: an output's credit
  bool released = false;
};

// Per environment (main thread or worker), used on its JavaScript thread only.
struct Registry {
  std::unordered_set<Tracked*> live;                 // memory not yet taken back
  std::unordered_map<const void*, Tracked*> outputs;  // host outputs by address
  std::unordered_map<DeviceMem*, Tracked*> devices;
  // Weak-reference reclamation is sound only while JavaScript cannot detach our buffers (a detached
  // buffer's memory would live on in the ArrayBuffer it moved to). Decided once per environment.
  bool reclaim = true;
  // Bytes of the outputs alive or uncollected, and of those hidden from V8's count (see credit).
  size_t output_bytes = 0;
  size_t credited = 0;

  void release(napi_env env, Tracked* t) {
    if (t->released) return;
    t->released = true;
    live.erase(t);
    if (t->host) {
      if (outputs.erase(t->host->data())) output_bytes -= t->host->bytes();
      t->host.reset();
    }
    if (t->device) {
      devices.erase(t->device);
      t->device->release();
    }
    adjust(env, t, 0);
  }

  // V8 counts every ArrayBuffer's bytes, ours included, as external memory, and starts a full
  // collection whenever that count has grown by 64 MiB since the last one: a loop that drops a 29 MiB
  // result per call ran one every three or four calls (17 in 60 calls of bf16 [4096, 7168] quantize),
  // while the young-generation collections V8 runs for the same bytes (see nudge) need no help. On two
  // cores each full collection's marking threads stall fp8kit's two threads: a new output per call took
  // 1.5-2 times as long as `into`. So a new output's bytes are subtracted from V8's count (credited)
  // while all outputs alive or uncollected hold at most kCreditLimit. Past that every credit is
  // withdrawn and new outputs count in full, so V8 sees them pile up and collects them as it would
  // its own (a single withdrawal only starts incremental marking, which a loop of calls that allocate
  // little in JavaScript advances slowly: 419 outputs, 6.5 GB, were alive before it finished).
  void credit(napi_env env, Tracked* t) {
    const size_t bytes = t->host->bytes();
    output_bytes += bytes;
    if (output_bytes <= kCreditLimit) return adjust(env, t, -static_cast<int64_t>(bytes));
    if (!credited) return;
    for (auto& [p, o] : outputs)
      if (o->external < 0) adjust(env, o, 0);
  }

  // Sets what `t` adds to V8's count of external memory.
  void adjust(napi_env env, Tracked* t, int64_t external) {
    int64_t ignored;
    if (external != t->external) napi_adjust_external_memory(env, external - t->external, &ignored);
    credited += (t->external < 0 ? t->external : 0) - (external < 0 ? external : 0);
    t->external = external;
  }

  // Takes back the memory of every tracked object the collector has found dead.
  void sweep(napi_env env) {
    // Reading a reference makes a handle to the object: in the caller's scope it would keep every
    // tracked object alive through a collection later in the same call.
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    std::vector<Tracked*> dead;
    for (Tracked* t : live) {
      if (t->host && !reclaim) continue;
      napi_value v = nullptr;
      if (napi_get_reference_value(env, t->weak, &v) == napi_ok && v == nullptr) dead.push_back(t);
    }
    napi_close_handle_scope(env, scope);
    for (Tracked* t : dead) release(env, t);
  }
};

// ArrayBuffer.prototype.transfer (Node 21+) may move a buffer's memory to a new ArrayBuffer. Try it on
// an external buffer of our own: if it detaches, outputs are not reclaimed early nor used in place.
bool outputs_detachable(napi_env env) {
  napi_value global, ctor, proto, transfer, result, exception;
  napi_valuetype type = napi_undefined;
  if (napi_get_global(env, &global) != napi_ok || napi_get_named_property(env, global, "ArrayBuffer", &ctor) != napi_ok ||
      napi_get_named_property(env, ctor, "prototype", &proto) != napi_ok ||
      napi_get_named_property(env, proto, "transfer", &transfer) != napi_ok || napi_typeof(env, transfer, &type) != napi_ok ||
      type != napi_function)
    return false;
  void* mem = malloc(64);
  napi_value ab;
  if (!mem) return true;
  if (napi_create_external_arraybuffer(env, mem, 64, [](napi_env, void* d, void*) { free(d); }, nullptr, &ab) != napi_ok) {
    free(mem);
    return true;
  }
  if (napi_call_function(env, ab, transfer, 0, nullptr, &result) != napi_ok) {
    napi_get_and_clear_last_exception(env, &exception);
    return false;
  }
  bool detached = true;
  napi_is_detached_arraybuffer(env, ab, &detached);
  return detached;
}

void drop_registry(napi_env, void* data, void*) { delete static_cast<std::shared_ptr<Registry>*>(data); }

std::shared_ptr<Registry>& registry(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  if (!data) {
    auto* r = new std::shared_ptr<Registry>(std::make_shared<Registry>());
    (*r)->reclaim = !outputs_detachable(env);
    if (napi_set_instance_data(env, r, drop_registry, nullptr) != napi_ok) {
      delete r;
      throw std::bad_alloc();
    }
    data = r;
  }
  return *static_cast<std::shared_ptr<Registry>*>(data);
}

void finalize(napi_env env, void*, void* hint) {
  std::unique_ptr<Tracked> t(static_cast<Tracked*>(hint));
  t->registry->release(env, t.get());
  napi_delete_reference(env, t->weak);
  delete t->device;
}

// Registers `t`, already filled in, under a weak reference to `value`.
void track(napi_env env, napi_value value, Tracked* t) {
  if (napi_create_reference(env, value, 0, &t->weak) != napi_ok) fail(env, FP8K_ERR_INTERNAL, "cannot reference a new buffer");
  t->registry->live.insert(t);
}

// V8 runs a young-generation collection when the ArrayBuffers of the young generation hold enough
// memory, but checks that only when it allocates a backing store itself, which it never does for ours.
// A one-byte ArrayBuffer gives it that chance.
void nudge(napi_env env) {
  napi_value ignored;
  napi_create_arraybuffer(env, 1, nullptr, &ignored);
}

// The record of an allocation about to be handed out, once the memory of what the collector found dead
// has been taken back.
std::unique_ptr<Tracked> begin(napi_env env, std::shared_ptr<Registry>& r) {
  nudge(env);
  r->sweep(env);
  auto t = std::make_unique<Tracked>();
  t->registry = r;
  return t;
}

}  // namespace

// (bytes) -> ArrayBuffer of that many bytes, not zero-filled.
Napi::Value AllocOutput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t bytes = size_arg(info, 0, "bytes");
  std::shared_ptr<Registry>& r = registry(env);
  std::unique_ptr<Tracked> t = begin(env, r);
  const auto refuse = [&] { fail(env, FP8K_ERR_OUT_OF_MEMORY, "cannot allocate " + std::to_string(bytes) + " bytes"); };
  try {
    t->host = std::make_unique<HostBuffer>(bytes);
  } catch (const std::bad_alloc&) {
    refuse();
  }
  void* data = t->host->data();
  napi_value ab;
  napi_status s = napi_create_external_arraybuffer(env, data, bytes, finalize, t.get(), &ab);
  if (s == napi_no_external_buffers_allowed) {  // runtimes that forbid external buffers: V8's own memory
    if (napi_create_arraybuffer(env, bytes, nullptr, &ab) != napi_ok) refuse();
    return Napi::Value(env, ab);
  }
  if (s != napi_ok) refuse();
  Tracked* raw = t.release();  // the finalizer owns it now
  r->outputs[data] = raw;
  track(env, ab, raw);
  r->credit(env, raw);
  return Napi::Value(env, ab);
}

bool owned_output(napi_env env, const void* data, size_t bytes) {
  std::shared_ptr<Registry>& r = registry(env);
  if (!r->reclaim) return false;
  auto it = r->outputs.find(data);
  return it != r->outputs.end() && it->second->host->bytes() == bytes;
}

Napi::Value device_external(Napi::Env env, DeviceMem* m) {
  std::shared_ptr<Registry>& r = registry(env);
  std::unique_ptr<Tracked> t = begin(env, r);
  t->device = m;
  napi_value ext;
  if (napi_create_external(env, m, finalize, t.get(), &ext) != napi_ok) {
    t->device = nullptr;  // the caller still owns m
    fail(env, FP8K_ERR_OUT_OF_MEMORY, "cannot create a device tensor handle");
  }
  Tracked* raw = t.release();
  r->devices[m] = raw;
  track(env, ext, raw);
  r->adjust(env, raw, static_cast<int64_t>(m->bytes()));  // V8 does not see device memory
  return Napi::Value(env, ext);
}

void device_released(Napi::Env env, DeviceMem* m) {
  std::shared_ptr<Registry>& r = registry(env);
  auto it = r->devices.find(m);
  if (it != r->devices.end()) r->release(env, it->second);
}

// () -> {poolBytes, poolBuffers, poolLimit, poolHits, poolMisses, poolEvictions, outputs, outputBytes}
Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Registry>& r = registry(env);
  r->sweep(env);
  size_t output_bytes = 0;
  for (auto& [p, t] : r->outputs) output_bytes += t->host->bytes();
  size_t device_bytes = 0;
  for (auto& [m, t] : r->devices) device_bytes += m->bytes();
  PoolStats s = pool_stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("poolBytes", Napi::Number::New(env, double(s.cached_bytes)));
  o.Set("poolBuffers", Napi::Number::New(env, double(s.cached_buffers)));
  o.Set("poolLimit", Napi::Number::New(env, double(s.limit_bytes)));
  o.Set("poolHits", Napi::Number::New(env, double(s.hits)));
  o.Set("poolMisses", Napi::Number::New(env, double(s.misses)));
  o.Set("poolEvictions", Napi::Number::New(env, double(s.evictions)));
  o.Set("outputs", Napi::Number::New(env, double(r->outputs.size())));
  o.Set("outputBytes", Napi::Number::New(env, double(output_bytes)));
  o.Set("deviceTensors", Napi::Number::New(env, double(r->devices.size())));
  o.Set("deviceBytes", Napi::Number::New(env, double(device_bytes)));
  return o;
}

// () -> bytes returned to the OS
Napi::Value ReleaseMemory(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(pool_release()));
}

}  // namespace fp8k::addon
