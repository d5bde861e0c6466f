#include "job.h"

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
class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, const std::vector<Napi::Value>& keep, Work work, Napi::Value result)
      : Napi::AsyncWorker(env, "fp8kit"), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)) {
    for (const auto& v : keep)
      if (v.IsObject()) keep_.push_back(Napi::Persistent(v));  // references hold objects only
    if (result.IsObject()) result_ = Napi::Persistent(result);
  }
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { status_ = guarded(work_, &call_); }
  void OnOK() override {
    if (status_ == FP8K_OK)
      deferred_.Resolve(result_.IsEmpty() ? Env().Undefined() : result_.Value());
    else
      deferred_.Reject(status_error(Env(), status_, call_.message).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Work work_;
  std::vector<Napi::Reference<Napi::Value>> keep_;
  Napi::Reference<Napi::Value> result_;
  fp8k_call call_{};
  int status_ = FP8K_OK;
};
}  // namespace

Napi::Value run_job(Napi::Env env, bool async, const std::vector<Napi::Value>& keep, Work work, Napi::Value result) {
  if (!async) {
    fp8k_call call{};
    int status = guarded(work, &call);
    if (status != FP8K_OK) throw status_error(env, status, call.message);
    return result;
  }
  auto* job = new Job(env, keep, std::move(work), result);  // deleted by AsyncWorker after OnOK
  Napi::Promise p = job->promise();
  job->Queue();
  return p;
}

}  // namespace fp8k::addon
