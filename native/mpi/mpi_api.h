// The C interface between the addon and libfp8kit_mpi.so, the small library that holds every MPI call
// (SPEC §8, the `mpi` transport). The addon builds and runs without it: it opens the library at run
// time, after libmpi with global symbol visibility (OpenMPI's components resolve libmpi's symbols).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FP8K_MPI_ABI 3

// A cluster's communicators: the cluster's ranks (rank r = node · gpusPerNode + local), the node's
// ranks (by local index: the NVLink domain) and the rail's (by node: the IB rail of equal local indices).
enum { FP8K_MPI_CLUSTER = 0, FP8K_MPI_NODE = 1, FP8K_MPI_RAIL = 2 };

typedef struct fp8k_mpi_comms fp8k_mpi_comms;

// Every function runs its MPI calls on the library's own MPI thread (MPI is initialized there with
// MPI_THREAD_FUNNELED and finalized there at exit) and blocks its caller until they finish. They
// return 0, or an error with its message in err: 1 for bad arguments (a topology MPI does not match),
// 2 for a transport failure (a peer that did not answer in time, an MPI error).
typedef struct {
  uint32_t abi_version;
  // The MPI library's identification (MPI_Get_library_version's first line), and the thread level.
  const char* (*describe)(void);
  // node >= 0: this process's node; -1: the node is the shared-memory domain (MPI_COMM_TYPE_SHARED).
  // The world must hold nodes x gpus_per_node processes, gpus_per_node on each node. Ranks are
  // numbered node-major, locals by world rank. Every process must call it; the first step (each
  // process's node) waits at most timeout_s for the others.
  // A cluster's communicators live until the process exits (freeing them would be an MPI call that
  // waits behind a running exchange; a process makes few clusters).
  int (*comms_create)(int node, int nodes, int gpus_per_node, double timeout_s, fp8k_mpi_comms** out, int* rank, char* err, size_t cap);
  // For every peer p of communicator `which` and part j < parts (entry p · parts + j): sends slen bytes
  // from send and receives rlen bytes into recv (0: nothing), all at once, the parts of a peer in order.
  // Fails after timeout_s naming the peers still owed, having cancelled its receives (a failed exchange
  // leaves its buffers owned by MPI: do not reuse them).
  int (*exchange)(fp8k_mpi_comms* c, int which, int parts, const void* const* send, const size_t* slen, void* const* recv, const size_t* rlen,
                  int tag, double timeout_s, char* err, size_t cap);
  // Finishes the requests under way, finalizes MPI and stops the MPI thread: 0 when that took less
  // than timeout_s, else 1 (MPI_Finalize waits for every process of the job: one that hangs holds it).
  // Without it the thread is stopped at exit, unbounded.
  int (*shutdown)(double timeout_s);
} fp8k_mpi_api;

// The library's one exported symbol.
const fp8k_mpi_api* fp8k_mpi_entry(void);

#ifdef __cplusplus
}
#endif
