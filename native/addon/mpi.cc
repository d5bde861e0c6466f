#include "mpi.h"

#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "../mpi/mpi_api.h"
#include "args.h"
#include "dl.h"
#include "job.h"
#include "plugin.h"

namespace fp8k::addon {

namespace {

struct Loaded {
  bool tried = false;
  const fp8k_mpi_api* api = nullptr;
  std::string reason, description;
};
Loaded g_mpi;

// A cluster's communicators and its rank. Never freed: freeing is an MPI call the JavaScript thread
// would wait for behind a running exchange, and a process makes few clusters.
struct Comms {
  fp8k_mpi_comms* comms = nullptr;
  int rank = -1, nodes = 0, gpus = 0;
};
const napi_type_tag kCommsTag = {0x6670386b69744d50ULL, 0x49636f6d6d730001ULL};

Comms* comms_arg(const Napi::CallbackInfo& info, size_t index) {
  Napi::Value v = info[index];
  bool ok = false;
  if (!v.IsExternal() || napi_check_object_type_tag(info.Env(), v, &kCommsTag, &ok) != napi_ok || !ok)
    fail(info.Env(), FP8K_ERR_ARGUMENT, "not an mpi cluster handle");
  return v.As<Napi::External<Comms>>().Data();
}

const fp8k_mpi_api* api_or_fail(Napi::Env env) {
  if (!g_mpi.api) fail(env, FP8K_ERR_BACKEND_UNAVAILABLE, "the mpi transport is unavailable: " + g_mpi.reason);
  return g_mpi.api;
}

}  // namespace

// (paths[]) -> {available, reason, description}: opens libmpi with global symbols, then the first of
// `paths` that loads. Tried once per process.
Napi::Value MpiLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!g_mpi.tried && info[0].IsArray()) {
    g_mpi.tried = true;
    std::string tried;
    void* mpi = nullptr;
    for (const char* name : {"libmpi.so.40", "libmpi.so.12", "libmpi.so"}) {
      mpi = dl::open(name, true);
      if (mpi) break;
      tried += std::string(tried.empty() ? "" : "; ") + dl::error();
    }
#ifdef _WIN32
    if (!mpi) {
      g_mpi.reason = "the mpi transport is built on Linux only (OpenMPI and mpicxx); on Windows clusters run as 'sim'";
    }
#else
    if (!mpi) {
      g_mpi.reason = "no MPI library (" + tried + "); install OpenMPI (Debian: apt-get install openmpi-bin libopenmpi-dev) and rebuild fp8kit";
    } else {
      Napi::Array a = info[0].As<Napi::Array>();
      std::vector<std::string> paths;
      for (uint32_t i = 0; i < a.Length(); i++) paths.push_back(a.Get(i).ToString());
      std::string missing;
      tried.clear();
      g_mpi.api = static_cast<const fp8k_mpi_api*>(open_first(paths, "fp8k_mpi_entry", [](const void* t) {
        return static_cast<const fp8k_mpi_api*>(t)->abi_version == FP8K_MPI_ABI ? std::string() : std::string("another ABI version");
      }, missing, tried));
      if (!g_mpi.api)
        g_mpi.reason = tried.empty() ? "libfp8kit_mpi.so is not built (looked for " + missing + "); build it with `node scripts/build-mpi.cjs` (needs mpicxx)"
                                     : "libfp8kit_mpi.so failed to load: " + tried;
    }
#endif
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", g_mpi.api != nullptr);
  o.Set("reason", g_mpi.api ? env.Null() : Napi::String::New(env, g_mpi.reason.empty() ? "not loaded" : g_mpi.reason));
  if (g_mpi.api) {
    if (g_mpi.description.empty()) g_mpi.description = g_mpi.api->describe();
    o.Set("description", g_mpi.description);
  }
  return o;
}

// (node | -1, nodes, gpusPerNode, timeoutSeconds) -> Promise of {handle} (mpiRank reads its rank).
Napi::Value MpiComms(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const fp8k_mpi_api* api = api_or_fail(env);
  const int node = int_arg(info, 0, "node");
  auto* c = new Comms;
  c->nodes = int_arg(info, 1, "nodes"), c->gpus = int_arg(info, 2, "gpusPerNode");
  const double timeout = info[3].ToNumber().DoubleValue();
  Napi::External<Comms> ext = Napi::External<Comms>::New(env, c);  // not freed (Comms)
  napi_type_tag_object(env, ext, &kCommsTag);
  Napi::Object holder = Napi::Object::New(env);  // a Promise resolves to objects only (job.cc)
  holder.Set("handle", ext);
  return run_job(env, true, {ext}, [api, c, node, timeout](fp8k_call* call) {
    const int s = api->comms_create(node, c->nodes, c->gpus, timeout, &c->comms, &c->rank, call->message, sizeof call->message);
    return s == 0 ? FP8K_OK : fp8k_fail(call, s == 1 ? FP8K_ERR_ARGUMENT : FP8K_ERR_TRANSPORT, "%s", std::string(call->message).c_str());
  }, holder);
}

Napi::Value MpiRank(const Napi::CallbackInfo& info) {
  Comms* c = comms_arg(info, 0);
  return Napi::Number::New(info.Env(), c->rank);
}

// (handle, which, sends, recvs, tag, timeoutSeconds) -> Promise: messages to and from every peer of
// communicator `which` (0 cluster, 1 node, 2 rail). sends[p] / recvs[p]: null, a typed array, or an array
// of them (typed arrays or nulls), sent one after the other.
Napi::Value MpiExchange(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const fp8k_mpi_api* api = api_or_fail(env);
  Comms* c = comms_arg(info, 0);
  if (!c->comms) fail(env, FP8K_ERR_ARGUMENT, "the mpi cluster is not connected");
  const int which = int_arg(info, 1, "which");
  const size_t peers = which == FP8K_MPI_NODE ? c->gpus : which == FP8K_MPI_RAIL ? c->nodes : (size_t)c->nodes * c->gpus;
  if (!info[2].IsArray() || !info[3].IsArray() || info[2].As<Napi::Array>().Length() != peers || info[3].As<Napi::Array>().Length() != peers)
    fail(env, FP8K_ERR_ARGUMENT, "exchange: one send and one receive entry per peer");
  std::vector<Napi::Value> keep{info[0], info[2], info[3]};
  // The most parts any peer has, on either side.
  uint32_t parts = 1;
  for (int side = 2; side <= 3; side++)
    for (uint32_t p = 0; p < peers; p++) {
      Napi::Value v = info[side].As<Napi::Array>().Get(p);
      if (v.IsArray()) parts = std::max(parts, v.As<Napi::Array>().Length());
    }
  auto buffers = [&](Napi::Array a, std::vector<void*>& ptr, std::vector<size_t>& len) {
    ptr.assign(peers * parts, nullptr), len.assign(peers * parts, 0);
    for (uint32_t p = 0; p < peers; p++) {
      Napi::Value v = a.Get(p);
      for (uint32_t j = 0; j < parts; j++) {
        Napi::Value x = v.IsArray() ? (j < v.As<Napi::Array>().Length() ? v.As<Napi::Array>().Get(j) : env.Null()) : j == 0 ? v : env.Null();
        if (x.IsNull() || x.IsUndefined()) continue;
        if (!x.IsTypedArray()) fail(env, FP8K_ERR_ARGUMENT, "exchange: buffers must be typed arrays");
        Napi::TypedArray t = x.As<Napi::TypedArray>();
        ptr[p * parts + j] = static_cast<char*>(t.ArrayBuffer().Data()) + t.ByteOffset();
        len[p * parts + j] = t.ByteLength();
        keep.push_back(x);
      }
    }
  };
  std::vector<void*> sp, rp;
  std::vector<size_t> sl, rl;
  buffers(info[2].As<Napi::Array>(), sp, sl);
  buffers(info[3].As<Napi::Array>(), rp, rl);
  const int tag = int_arg(info, 4, "tag");
  const double timeout = info[5].ToNumber().DoubleValue();
  fp8k_mpi_comms* comms = c->comms;
  const int np = (int)parts;
  return run_job(env, true, keep, [=](fp8k_call* call) {
    std::vector<const void*> send(sp.begin(), sp.end());
    const int s = api->exchange(comms, which, np, send.data(), sl.data(), rp.data(), rl.data(), tag, timeout, call->message, sizeof call->message);
    return s == 0 ? FP8K_OK : fp8k_fail(call, s == 1 ? FP8K_ERR_ARGUMENT : FP8K_ERR_TRANSPORT, "%s", std::string(call->message).c_str());
  }, env.Undefined());
}

}  // namespace fp8k::addon

namespace fp8k::addon {

// (timeoutSeconds, exitCode), from process 'exit': finalizes MPI on its thread; where MPI_Finalize
// waits longer (a process of the job that hangs), ends the process now with its exit code rather than
// hang in exit().
Napi::Value MpiShutdown(const Napi::CallbackInfo& info) {
  if (!g_mpi.api) return info.Env().Undefined();
  const double timeout = info[0].ToNumber().DoubleValue();
  const int code = info[1].ToNumber().Int32Value();
  if (g_mpi.api->shutdown(timeout) != 0) {
    fprintf(stderr, "fp8kit: MPI_Finalize did not finish within %.0f s (a process of the job that hangs?); exiting without it\n", timeout);
    fflush(nullptr);
    _exit(code);
  }
  return info.Env().Undefined();
}

}  // namespace fp8k::addon
