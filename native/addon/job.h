// Runs a backend call now (the …Sync forms) or on the libuv pool (the Promise
// forms), holding references to every buffer it touches until it settles.
#pragma once
#include <napi.h>

#include <functional>
#include <string>
#include <vector>

#include "../backend.h"

namespace fp8k::addon {

using Work = std::function<int(fp8k_call*)>;

// The JS error for a backend status: an Error whose `code` lib/errors.ts maps onto Fp8kitError.
Napi::Error status_error(Napi::Env env, int status, const std::string& message);

// Sync: runs `work`, throws on failure, returns `result`. Async: returns a Promise of `result`.
Napi::Value run_job(Napi::Env env, bool async, const std::vector<Napi::Value>& keep, Work work, Napi::Value result);

}  // namespace fp8k::addon
