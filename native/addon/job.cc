#include "job.h"

#include <string.h>

namespace fp8k::addon {

static const char* status_code(int status) {
  switch (status) {
    case FP8K_ERR_ARGUMENT: return "ERR_ARGUMENT";
    case FP8K_ERR_SHAPE: return "ERR_SHAPE";
    case FP8K_ERR_DTYPE: return "ERR_DTYPE";
    case FP8K_ERR_NON_FINITE: return "ERR_NON_FINITE";
    case FP8K_ERR_BACKEND_UNAVAILABLE: return "ERR_BACKEND_UNAVAILABLE";
    case FP8K_ERR_OUT_OF_MEMORY: return "ERR_OUT_OF_MEMORY";
    case FP8K_ERR_CUDA: return "ERR_CUDA";
    case FP8K_ERR_TRANSPORT: return "ERR_TRANSPORT";
    default: return "ERR_INTERNAL";
  }
}

Napi::Error status_error(Napi::Env env, int status, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, status_code(status)));
  return e;
}

// A C++ exception escaping a backend (bad_alloc, an emulator fault) becomes a status.
static int guarded(const Work& work, fp8k_call* call) {
  try {
    return work(call);
  } catch (const std::bad_alloc&) {
    return fp8k_fail(call, FP8K_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fp8k_fail(call, FP8K_ERR_INTERNAL, "%s", e.what());
  }
}

namespace {

// A Promise call, on the C API so that nothing can throw once it is queued. Its completion runs on
// the JavaScript thread, also while a worker is being torn down (terminate(), process.exit()): Node
// waits for queued work before it frees the environment, but no JavaScript may run then, so every
// Node-API failure is ignored and the references are released all the same.
class Job {
 public:
  Job(Work work) : work_(std::move(work)) {}

  static Napi::Value start(Napi::Env env, const std::vector<Napi::Value>& keep, Work work, Napi::Value result,
                           std::vector<CopyBack> copy_back) {
    auto job = std::make_unique<Job>(std::move(work));
    napi_value promise, name;
    bool ok = napi_create_promise(env, &job->deferred_, &promise) == napi_ok;
    for (const auto& v : keep)
      if (ok && v.IsObject()) ok = job->hold(env, v) != nullptr;  // references hold objects only
    if (ok && result.IsObject()) ok = (job->result_ = job->hold(env, result)) != nullptr;
    for (CopyBack& c : copy_back)
      if (ok) {
        napi_ref target = job->hold(env, Napi::Value(env, c.target));
        ok = target != nullptr;
        job->copies_.push_back({std::move(c.staging), target, std::move(c.name)});
      }
    ok = ok && napi_create_string_utf8(env, "fp8kit", NAPI_AUTO_LENGTH, &name) == napi_ok &&
         napi_create_async_work(env, nullptr, name, execute, complete, job.get(), &job->async_) == napi_ok &&
         napi_queue_async_work(env, job->async_) == napi_ok;
    if (!ok) {
      job->release(env);
      throw status_error(env, FP8K_ERR_OUT_OF_MEMORY, "cannot queue the call");
    }
    job.release();  // complete() deletes it
    return Napi::Value(env, promise);
  }

 private:
  struct Copy {
    std::shared_ptr<HostBuffer> staging;
    napi_ref target;
    std::string name;
  };

  napi_ref hold(napi_env env, napi_value v) {
    napi_ref r = nullptr;
    if (napi_create_reference(env, v, 1, &r) != napi_ok) return nullptr;
    refs_.push_back(r);
    return r;
  }

  static void execute(napi_env, void* data) {
    Job* job = static_cast<Job*>(data);
    job->status_ = guarded(job->work_, &job->call_);
  }

  static void complete(napi_env env, napi_status status, void* data) {
    std::unique_ptr<Job> job(static_cast<Job*>(data));
    if (status == napi_ok) job->settle(env);
    job->release(env);
  }

  // Staged outputs go into the caller's arrays, unless one was detached meanwhile.
  void copy_back(napi_env env) {
    for (const Copy& c : copies_) {
      napi_value array, buffer;
      napi_typedarray_type type;
      size_t length, offset, capacity;
      void *view, *base = nullptr;
      bool detached = true;
      if (napi_get_reference_value(env, c.target, &array) == napi_ok && array &&
          napi_get_typedarray_info(env, array, &type, &length, &view, &buffer, &offset) == napi_ok &&
          napi_is_detached_arraybuffer(env, buffer, &detached) == napi_ok && !detached &&
          napi_get_arraybuffer_info(env, buffer, &base, &capacity) == napi_ok && base && offset + c.staging->bytes() <= capacity) {
        memcpy(static_cast<char*>(base) + offset, c.staging->data(), c.staging->bytes());
      } else {
        status_ = fp8k_fail(&call_, FP8K_ERR_ARGUMENT, "%s was detached while the call ran; the result was not written", c.name.c_str());
        return;
      }
    }
  }

  void settle(napi_env env) {
    if (status_ == FP8K_OK) copy_back(env);
    if (status_ == FP8K_OK) {
      napi_value v = nullptr;
      if (result_) napi_get_reference_value(env, result_, &v);
      if (!v) napi_get_undefined(env, &v);
      napi_resolve_deferred(env, deferred_, v);
      return;
    }
    napi_value message, code, error;
    if (napi_create_string_utf8(env, call_.message, NAPI_AUTO_LENGTH, &message) == napi_ok &&
        napi_create_string_utf8(env, status_code(status_), NAPI_AUTO_LENGTH, &code) == napi_ok &&
        napi_create_error(env, nullptr, message, &error) == napi_ok && napi_set_named_property(env, error, "code", code) == napi_ok)
      napi_reject_deferred(env, deferred_, error);
  }

  void release(napi_env env) {
    for (napi_ref r : refs_) napi_delete_reference(env, r);
    refs_.clear();
    copies_.clear();
    if (async_) napi_delete_async_work(env, async_);
    async_ = nullptr;
  }

  Work work_;
  napi_deferred deferred_ = nullptr;
  napi_async_work async_ = nullptr;
  std::vector<napi_ref> refs_;
  napi_ref result_ = nullptr;
  std::vector<Copy> copies_;
  fp8k_call call_{};
  int status_ = FP8K_OK;
};

}  // namespace

Napi::Value run_job(Napi::Env env, bool async, const std::vector<Napi::Value>& keep, Work work, Napi::Value result,
                    std::vector<CopyBack> copy_back) {
  if (!async) {
    fp8k_call call{};
    int status = guarded(work, &call);
    if (status != FP8K_OK) throw status_error(env, status, call.message);
    return result;
  }
  return Job::start(env, keep, std::move(work), result, std::move(copy_back));
}

}  // namespace fp8k::addon
