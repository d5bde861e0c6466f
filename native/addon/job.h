// Runs a backend call now (the …Sync forms) or on the libuv pool (the Promise forms), holding
// references to every buffer it touches until it settles.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../backend.h"
#include "pool.h"

namespace fp8k::addon {

using Work = std::function<int(fp8k_call*)>;

// An output a Promise call writes into a staging buffer, copied into the caller's typed array when the
// call settles (the caller's buffer may be detached, and its memory freed, while the call runs).
struct CopyBack {
  std::shared_ptr<HostBuffer> staging;
  napi_value target;  // the typed array; valid in the scope that made the call
  std::string name;
};

// The JS error for a backend status: an Error whose `code` lib/errors.ts maps onto Fp8kitError.
Napi::Error status_error(Napi::Env env, int status, const std::string& message);

// Sync: runs `work`, throws on failure, returns `result`. Async: returns a Promise of `result`.
Napi::Value run_job(Napi::Env env, bool async, const std::vector<Napi::Value>& keep, Work work, Napi::Value result,
                    std::vector<CopyBack> copy_back = {});

}  // namespace fp8k::addon
