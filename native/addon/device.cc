#include "device.h"

#include <memory>

#include "alloc.h"
#include "args.h"
#include "job.h"

namespace fp8k::addon {

bool DeviceMem::freed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return release_requested_ || !ptr_;
}

void* DeviceMem::acquire() {
  std::lock_guard<std::mutex> lock(mu_);
  users_++;
  return ptr_;
}

void DeviceMem::settle() {
  std::unique_lock<std::mutex> lock(mu_);
  if (--users_ == 0 && release_requested_) {
    lock.unlock();
    release();
  }
}

void DeviceMem::release() {
  void* p;
  {
    std::lock_guard<std::mutex> lock(mu_);
    release_requested_ = true;
    if (users_ > 0 || !ptr_) return;
    p = ptr_;
    ptr_ = nullptr;
  }
  fp8k_call c{};
  backend->mem_free(p, &c);  // a failure to free cannot be reported to anyone; the memory is gone either way
}

namespace {
// Tags Externals made here, so an External from another addon is never taken for ours.
const napi_type_tag kDeviceTag = {0x66703868743031ull, 0x6465766d656d0001ull};
const napi_type_tag kStreamTag = {0x66703868743031ull, 0x73747265616d0001ull};

template <class T>
T* tagged(Napi::Value v, const napi_type_tag& tag) {
  if (!v.IsExternal()) return nullptr;
  bool ok = false;
  napi_check_object_type_tag(v.Env(), v, &tag, &ok);
  return ok ? v.As<Napi::External<T>>().Data() : nullptr;
}

struct Stream {
  const fp8k_backend* backend;
  void* handle;
  ~Stream() {
    fp8k_call c{};
    backend->stream_destroy(handle, &c);
  }
};

const fp8k_backend* device_backend(const Napi::CallbackInfo& info, size_t index) {
  const fp8k_backend* b = backend_arg(info, index);
  if (!b->mem_alloc) fail(info.Env(), FP8K_ERR_ARGUMENT, std::string("backend '") + b->name + "' works on host memory and has no device tensors");
  return b;
}
}  // namespace

DeviceMem* device_mem(Napi::Value v) { return tagged<DeviceMem>(v, kDeviceTag); }

void* stream_handle(Napi::Value v, const fp8k_backend* b) {
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  Stream* s = tagged<Stream>(v, kStreamTag);
  if (!s) fail(v.Env(), FP8K_ERR_ARGUMENT, "stream must be a stream made by createStream()");
  if (s->backend != b) fail(v.Env(), FP8K_ERR_ARGUMENT, std::string("stream belongs to backend '") + s->backend->name + "', not '" + b->name + "'");
  return s->handle;
}

// (backend, bytes) -> External owning that many bytes of device memory.
Napi::Value DeviceAlloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const fp8k_backend* b = device_backend(info, 0);
  size_t bytes = size_arg(info, 1, "bytes");
  void* p = nullptr;
  fp8k_call c{};
  int status = b->mem_alloc(&p, bytes, &c);
  if (status != FP8K_OK) fail(env, status, c.message);
  auto mem = std::make_unique<DeviceMem>(b, p, bytes);
  Napi::Value ext = device_external(env, mem.get());
  mem.release();  // the External's finalizer deletes it
  napi_type_tag_object(env, ext, &kDeviceTag);
  return ext;
}

// (handle): frees now, or once the operations using it settle.
Napi::Value DeviceFree(const Napi::CallbackInfo& info) {
  DeviceMem* m = device_mem(info[0]);
  if (!m) fail(info.Env(), FP8K_ERR_ARGUMENT, "not a device buffer");
  m->release();
  device_released(info.Env(), m);
  return info.Env().Undefined();
}

// (handle, hostArray, direction 'upload'|'download', stream, async)
Napi::Value DeviceCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceMem* m = device_mem(info[0]);
  if (!m) fail(env, FP8K_ERR_ARGUMENT, "not a device buffer");
  if (m->freed()) fail(env, FP8K_ERR_ARGUMENT, "the device tensor was freed");
  if (!info[1].IsTypedArray()) fail(env, FP8K_ERR_ARGUMENT, "host data must be a typed array");
  if (info[1].As<Napi::TypedArray>().ByteLength() != m->bytes()) fail(env, FP8K_ERR_SHAPE, "host data and device tensor differ in size");
  const bool upload = info[2].ToString().Utf8Value() == "upload";
  void* stream = stream_handle(info[3], m->backend);
  const bool async = bool_arg(info, 4, "async");
  std::vector<Arg> host{host_arg(env, info[1], m->bytes(), "host data")}, none;
  std::vector<std::shared_ptr<HostBuffer>> held;
  std::vector<CopyBack> back;
  if (async) upload ? stage_host(host, none, held, back) : stage_host(none, host, held, back);
  auto use = std::make_shared<DeviceUse>(m);
  void* p = host[0].host;
  const size_t bytes = m->bytes();
  const fp8k_backend* b = m->backend;
  return run_job(env, async, {info[0], info[1], info[3]},
                 [=, snapshots = held](fp8k_call* c) {
                   c->stream = stream;
                   int s = upload ? b->mem_upload(use->ptr, p, bytes, c) : b->mem_download(p, use->ptr, bytes, c);
                   return s != FP8K_OK ? s : b->synchronize(c);
                 },
                 info[1], std::move(back));
}

// (backend) -> a stream External, destroyed on garbage collection.
Napi::Value StreamCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const fp8k_backend* b = device_backend(info, 0);
  void* h = nullptr;
  fp8k_call c{};
  int status = b->stream_create(&h, &c);
  if (status != FP8K_OK) fail(env, status, c.message);
  auto ext = Napi::External<Stream>::New(env, new Stream{b, h}, [](Napi::Env, Stream* s) { delete s; });
  napi_type_tag_object(env, ext, &kStreamTag);
  return ext;
}

// (backend, stream, async): waits for the work queued on the stream.
Napi::Value StreamSync(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = device_backend(info, 0);
  void* stream = stream_handle(info[1], b);
  return run_job(info.Env(), bool_arg(info, 2, "async"), {info[1]},
                 [=](fp8k_call* c) {
                   c->stream = stream;
                   return b->synchronize(c);
                 },
                 info.Env().Undefined());
}

}  // namespace fp8k::addon
