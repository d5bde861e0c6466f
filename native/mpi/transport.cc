// libfp8kit_mpi.so: every MPI call of the `mpi` transport (SPEC §8), on one thread of its own. Built
// only where MPI is installed (scripts/build-mpi.cjs, with mpicxx); the addon opens it at run time.
//
// One MPI thread: MPI is initialized on it with MPI_THREAD_FUNNELED (every call comes from it, the
// level a single thread needs), each request of the addon's workers runs on it in turn, and MPI is
// finalized on it when the process exits. The JavaScript thread never enters MPI.
//
// Exchanges are nonblocking sends and receives polled against a deadline, so a peer that died or never
// calls ends in an error naming it instead of a hang. MPI_Finalize waits for the whole job, so the addon
// bounds it at exit (shutdown). Under OpenMPI, `mpirun --enable-recovery` keeps
// the survivors running when a process dies (without it the runtime kills the whole job itself).
#include "mpi_api.h"

#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct fp8k_mpi_comms {
  MPI_Comm comm[3] = {MPI_COMM_NULL, MPI_COMM_NULL, MPI_COMM_NULL};  // cluster, node, rail
  int rank = 0, node = 0, local = 0, nodes = 1, gpus = 1;
  // The cluster rank of peer p of communicator `which`.
  int rank_of(int which, int p) const { return which == FP8K_MPI_NODE ? node * gpus + p : which == FP8K_MPI_RAIL ? p * gpus + local : p; }
};

namespace {

constexpr size_t kChunk = size_t(1) << 30;  // bytes per MPI message: counts are ints
constexpr int kArgument = 1, kTransport = 2;

int fail(char* err, size_t cap, int status, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
  return status;
}

double now() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

std::string mpi_error(int rc) {
  char s[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(rc, s, &n);
  return std::string(s, n);
}

// The thread every MPI call runs on. Leaked on purpose: it is stopped (and MPI finalized) at exit.
class MpiThread {
 public:
  static MpiThread& get() {
    static MpiThread* t = new MpiThread();
    return *t;
  }
  int run(std::function<int()> f) {
    std::packaged_task<int()> task(std::move(f));
    std::future<int> done = task.get_future();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return -1;
      queue_.push_back(std::move(task));
    }
    wake_.notify_one();
    return done.get();
  }
  // Initializes MPI on first use (on this thread); 0 or kArgument with the reason.
  int init(char* err, size_t cap) {
    if (initialized_) return 0;
    int flag = 0;
    MPI_Initialized(&flag);
    if (!flag) {
      if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_RANK"))
        return fail(err, cap, kArgument, "this process was not started by mpirun (no OMPI_COMM_WORLD_SIZE / PMIX_RANK in its environment): run it as `mpirun -np N node ...`");
      if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided_) != MPI_SUCCESS) return fail(err, cap, kTransport, "MPI_Init_thread failed");
      owns_ = true;
    } else {
      MPI_Query_thread(&provided_);
    }
    initialized_ = true;
    return 0;
  }
  // Stops the thread once its queue is done (MPI finalized on it); false if that takes over timeout_s.
  bool shutdown(double timeout_s) {
    std::unique_lock<std::mutex> lock(mutex_);
    stopping_ = true;
    wake_.notify_one();
    if (!finished_cv_.wait_for(lock, std::chrono::duration<double>(timeout_s), [this] { return finished_; })) return false;
    lock.unlock();
    if (thread_.joinable()) thread_.join();
    return true;
  }
  const char* describe() {
    if (description_.empty()) {
      char v[MPI_MAX_LIBRARY_VERSION_STRING];
      int n = 0;
      MPI_Get_library_version(v, &n);
      std::string s(v, n);
      s = s.substr(0, s.find_first_of(",\n"));
      description_ = s + "; MPI thread level " + (initialized_ ? std::to_string(provided_) : std::string("not yet initialized")) + " (MPI_THREAD_FUNNELED = " +
                     std::to_string(MPI_THREAD_FUNNELED) + ": all MPI calls on one thread)";
    }
    return description_.c_str();
  }

 private:
  MpiThread() {
    thread_ = std::thread([this] { loop(); });
    atexit([] { get().stop(); });
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
  }
  void loop() {
    for (;;) {
      std::packaged_task<int()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) break;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
    int finalized = 0;
    if (owns_ && MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized) MPI_Finalize();
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
    finished_cv_.notify_all();
  }

  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_, finished_cv_;
  std::deque<std::packaged_task<int()>> queue_;
  bool stopping_ = false, initialized_ = false, owns_ = false, finished_ = false;
  int provided_ = 0;
  std::string description_;
};

// Posts every receive and send, then polls until all are done or the deadline passes. On timeout the
// receives still open are cancelled and the error names the peers they wait for.
int exchange_now(const fp8k_mpi_comms* c, int which, int parts, const void* const* send, const size_t* slen, void* const* recv, const size_t* rlen,
                 int tag, double timeout, char* err, size_t cap) {
  MPI_Comm comm = c->comm[which];
  int peers = 0;
  MPI_Comm_size(comm, &peers);
  std::vector<MPI_Request> req;
  std::vector<int> peer;
  std::vector<char> is_recv;
  auto post = [&](bool r, int p, char* base, size_t bytes) -> int {
    for (size_t off = 0; off < bytes; off += kChunk) {
      const int n = (int)std::min(kChunk, bytes - off);
      MPI_Request q;
      const int rc = r ? MPI_Irecv(base + off, n, MPI_BYTE, p, tag, comm, &q) : MPI_Isend(base + off, n, MPI_BYTE, p, tag, comm, &q);
      if (rc != MPI_SUCCESS) return rc;
      req.push_back(q), peer.push_back(p), is_recv.push_back(r);
    }
    return MPI_SUCCESS;
  };
  int rc = MPI_SUCCESS;
  // A peer's parts in order on both sides: MPI keeps messages of one sender, tag and communicator in order.
  for (int i = 0; i < peers * parts && rc == MPI_SUCCESS; i++)
    if (rlen[i]) rc = post(true, i / parts, static_cast<char*>(recv[i]), rlen[i]);
  for (int i = 0; i < peers * parts && rc == MPI_SUCCESS; i++)
    if (slen[i]) rc = post(false, i / parts, const_cast<char*>(static_cast<const char*>(send[i])), slen[i]);

  const double deadline = now() + timeout;
  std::vector<int> done(req.size());
  size_t left = req.size();
  int idle = 0;
  while (rc == MPI_SUCCESS && left > 0) {
    int out = 0;
    rc = MPI_Testsome((int)req.size(), req.data(), &out, done.data(), MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS || out == MPI_UNDEFINED) break;
    left -= out;
    if (out > 0) {
      idle = 0;
      continue;
    }
    if (now() > deadline) break;
    // Spin briefly (shared-memory transfers progress only while polled), then yield the core.
    if (++idle > 8) usleep(idle > 256 ? 500 : 50);
  }
  if (rc == MPI_SUCCESS && left == 0) return 0;

  std::string owed;
  std::vector<int> named;
  for (size_t i = 0; i < req.size(); i++) {
    if (req[i] == MPI_REQUEST_NULL) continue;
    const int r = c->rank_of(which, peer[i]);
    if (is_recv[i]) {
      if (std::find(named.begin(), named.end(), r) == named.end()) named.push_back(r);
      MPI_Cancel(&req[i]);
    }
    MPI_Request_free(&req[i]);
  }
  std::sort(named.begin(), named.end());
  for (int r : named) owed += (owed.empty() ? "" : ", ") + std::to_string(r);
  const char* link = which == FP8K_MPI_NODE ? "NVLink domain" : which == FP8K_MPI_RAIL ? "IB rail" : "cluster";
  if (rc != MPI_SUCCESS) return fail(err, cap, kTransport, "MPI error on the %s communicator: %s", link, mpi_error(rc).c_str());
  if (owed.empty()) return fail(err, cap, kTransport, "timed out after %.1f s: rank %d's sends were not taken (%s)", timeout, c->rank, link);
  return fail(err, cap, kTransport, "timed out after %.1f s waiting for rank(s) %s (%s): a rank that died, or that did not call", timeout, owed.c_str(), link);
}

int comms_now(int node, int nodes, int gpus, double timeout, fp8k_mpi_comms** out, int* rank, char* err, size_t cap) {
  if (int s = MpiThread::get().init(err, cap)) return s;
  int world = 0, me = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  if (world != nodes * gpus)
    return fail(err, cap, kArgument, "mpirun started %d processes; the topology (%d nodes x %d GPUs per node) needs %d", world, nodes, gpus, nodes * gpus);
  auto c = std::make_unique<fp8k_mpi_comms>();
  c->nodes = nodes, c->gpus = gpus;
  MPI_Comm w;
  if (MPI_Comm_dup(MPI_COMM_WORLD, &w) != MPI_SUCCESS) return fail(err, cap, kTransport, "MPI_Comm_dup failed");
  MPI_Comm_set_errhandler(w, MPI_ERRORS_RETURN);
  // Everyone's node request, exchanged with a deadline before any collective: a process that never
  // makes its cluster is reported rather than waited for.
  fp8k_mpi_comms hello;
  hello.comm[0] = w;
  std::vector<int> asked(world, -1);
  std::vector<const void*> sends(world, &node);
  std::vector<void*> recvs(world);
  std::vector<size_t> lens(world, sizeof(int));
  for (int p = 0; p < world; p++) recvs[p] = &asked[p];
  if (int s = exchange_now(&hello, FP8K_MPI_CLUSTER, 1, sends.data(), lens.data(), recvs.data(), lens.data(), 1, timeout, err, cap)) {
    MPI_Comm_free(&w);
    return s;
  }
  std::vector<int> node_of(world);
  const bool shared = asked[0] < 0;
  for (int p = 0; p < world; p++)
    if ((asked[p] < 0) != shared)
      return fail(err, cap, kArgument, "world ranks 0 and %d disagree on how nodes are found (a node id given on one, the shared-memory domain on the other)", p);
  if (shared) {
    // The node of a process: the index, in world-rank order, of its shared-memory domain's first process.
    MPI_Comm shm;
    MPI_Comm_split_type(w, MPI_COMM_TYPE_SHARED, me, MPI_INFO_NULL, &shm);
    int leader = me;
    MPI_Allreduce(MPI_IN_PLACE, &leader, 1, MPI_INT, MPI_MIN, shm);
    MPI_Comm_free(&shm);
    std::vector<int> leaders(world);
    MPI_Allgather(&leader, 1, MPI_INT, leaders.data(), 1, MPI_INT, w);
    std::vector<int> firsts(leaders);
    std::sort(firsts.begin(), firsts.end());
    firsts.erase(std::unique(firsts.begin(), firsts.end()), firsts.end());
    for (int p = 0; p < world; p++) node_of[p] = (int)(std::lower_bound(firsts.begin(), firsts.end(), leaders[p]) - firsts.begin());
  } else {
    node_of = asked;
  }
  const char* hint = shared ? " (nodes found as shared-memory domains: give nodeOf or FP8KIT_MPI_NODE to place ranks yourself)" : "";
  std::vector<int> count(nodes, 0);
  for (int p = 0; p < world; p++) {
    if (node_of[p] >= nodes) {
      MPI_Comm_free(&w);
      return fail(err, cap, kArgument, "world rank %d is on node %d; the topology has %d node(s)%s", p, node_of[p], nodes, hint);
    }
    count[node_of[p]]++;
  }
  for (int b = 0; b < nodes; b++)
    if (count[b] != gpus) {
      MPI_Comm_free(&w);
      return fail(err, cap, kArgument, "node %d has %d process(es); the topology has %d GPUs per node%s", b, count[b], gpus, hint);
    }
  c->node = node_of[me];
  for (int p = 0; p < me; p++) c->local += node_of[p] == c->node;
  c->rank = c->node * gpus + c->local;
  MPI_Comm_split(w, 0, c->rank, &c->comm[FP8K_MPI_CLUSTER]);
  MPI_Comm_split(w, c->node, c->local, &c->comm[FP8K_MPI_NODE]);
  MPI_Comm_split(w, c->local, c->node, &c->comm[FP8K_MPI_RAIL]);
  MPI_Comm_free(&w);
  for (MPI_Comm x : c->comm) MPI_Comm_set_errhandler(x, MPI_ERRORS_RETURN);
  *rank = c->rank;
  *out = c.release();
  return 0;
}

int comms_create(int node, int nodes, int gpus, double timeout, fp8k_mpi_comms** out, int* rank, char* err, size_t cap) {
  if (nodes < 1 || gpus < 1) return fail(err, cap, kArgument, "the topology needs at least one node and one GPU per node");
  const int s = MpiThread::get().run([&] { return comms_now(node, nodes, gpus, timeout, out, rank, err, cap); });
  return s < 0 ? fail(err, cap, kTransport, "MPI has been shut down (the process is exiting)") : s;
}

int exchange(fp8k_mpi_comms* c, int which, int parts, const void* const* send, const size_t* slen, void* const* recv, const size_t* rlen, int tag,
             double timeout, char* err, size_t cap) {
  if (!c || which < 0 || which > 2 || parts < 1) return fail(err, cap, kArgument, "exchange: bad communicator or part count");
  const int s = MpiThread::get().run([&] { return exchange_now(c, which, parts, send, slen, recv, rlen, tag, timeout, err, cap); });
  return s < 0 ? fail(err, cap, kTransport, "MPI has been shut down (the process is exiting)") : s;
}

const char* describe() {
  const char* d = nullptr;
  MpiThread::get().run([&] {
    d = MpiThread::get().describe();
    return 0;
  });
  return d ? d : "MPI (shut down)";
}

int shutdown(double timeout_s) { return MpiThread::get().shutdown(timeout_s) ? 0 : 1; }

const fp8k_mpi_api kApi = {FP8K_MPI_ABI, describe, comms_create, exchange, shutdown};

}  // namespace

extern "C" __attribute__((visibility("default"))) const fp8k_mpi_api* fp8k_mpi_entry(void) { return &kApi; }
