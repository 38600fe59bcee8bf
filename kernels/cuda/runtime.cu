// The CUDA KernelTable: device discovery, one stream and one cuBLAS handle per device, checked
// allocations and transfers (pinned staging for large ones), scratch memory, deferred index
// errors, and the run-time choice between our kernels and the vendor libraries.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda_control.h"

namespace tg::kernels::cuda {
namespace {

// Transfers at least this large go through pinned buffers (faster DMA, no driver staging).
constexpr size_t kPinnedThreshold = size_t(1) << 20;
constexpr size_t kPinnedChunk = size_t(4) << 20;
constexpr int kScratchSlots = 4;

struct DeviceState {
  bool ready = false;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  IndexErrorRecord* error_host = nullptr;    // mapped pinned memory
  IndexErrorRecord* error_device = nullptr;  // its device alias
  void* scratch[kScratchSlots] = {};
  size_t scratch_bytes[kScratchSlots] = {};
  // Two pinned chunks used alternately, each guarded by an event for the copy that reads it.
  void* pinned[2] = {};
  cudaEvent_t pinned_done[2] = {};
  std::mutex pinned_mutex;  // threads sharing the device take turns with the pinned chunks
};

struct Runtime {
  std::once_flag probed;
  int count = 0;
  std::string reason;
  std::mutex mutex;  // guards lazy creation of per-device state
  std::vector<std::unique_ptr<DeviceState>> devices;
};

Runtime& runtime() {
  static auto* rt = new Runtime();  // never destroyed: tensors may be freed after main returns
  std::call_once(rt->probed, [r = rt] {
    const cudaError_t err = cudaGetDeviceCount(&r->count);
    if (err != cudaSuccess) {
      r->count = 0;
      r->reason = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(err);
      cudaGetLastError();  // clear: no device is not a sticky error
    } else if (r->count == 0) {
      r->reason = "no CUDA device found";
    }
    for (int i = 0; i < r->count; ++i) r->devices.push_back(std::make_unique<DeviceState>());
  });
  return *rt;
}

thread_local int t_device = -1;            // as last passed to cudaSetDevice on this thread
thread_local const char* t_op = "cuda";    // the op being served (for error messages)
thread_local DeviceState* t_state = nullptr;

DeviceState& init_state(int index) {
  Runtime& rt = runtime();
  std::lock_guard<std::mutex> lock(rt.mutex);
  DeviceState& s = *rt.devices[static_cast<size_t>(index)];
  if (s.ready) return s;
  check(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cublasCreate(&s.cublas), "cublasCreate");
  check(cublasSetStream(s.cublas, s.stream), "cublasSetStream");
  check(cudaHostAlloc(reinterpret_cast<void**>(&s.error_host), sizeof(IndexErrorRecord),
                      cudaHostAllocMapped),
        "cudaHostAlloc");
  std::memset(s.error_host, 0, sizeof(IndexErrorRecord));
  check(cudaHostGetDevicePointer(reinterpret_cast<void**>(&s.error_device), s.error_host, 0),
        "cudaHostGetDevicePointer");
  for (int k = 0; k < 2; ++k) {
    check(cudaMallocHost(&s.pinned[k], kPinnedChunk), "cudaMallocHost");
    check(cudaEventCreateWithFlags(&s.pinned_done[k], cudaEventDisableTiming), "cudaEventCreate");
  }
  s.ready = true;
  return s;
}

void activate(int index, const char* op) {
  t_op = op ? op : "cuda";
  if (index == t_device && t_state) return;
  Runtime& rt = runtime();
  TG_CHECK(rt.count > 0, Runtime, t_op, ": no CUDA device is available (", rt.reason, ")");
  TG_CHECK(index >= 0 && index < rt.count, Runtime, t_op, ": CUDA device ", index,
           " does not exist (", rt.count, " device", rt.count == 1 ? "" : "s", " found)");
  check(cudaSetDevice(index), "cudaSetDevice");
  t_device = index;
  t_state = &init_state(index);
}

DeviceState& state() {
  if (!t_state) activate(0, t_op);
  return *t_state;
}

// Throws (once) the first bad index a kernel recorded since the last check. Call after a sync.
void report_index_errors(DeviceState& s) {
  IndexErrorRecord* rec = s.error_host;
  if (reinterpret_cast<volatile int*>(&rec->flag)[0] == 0) return;
  const IndexErrorRecord r = *rec;
  std::memset(rec, 0, sizeof(IndexErrorRecord));
  const char* op = "index";
  switch (static_cast<IndexErrorKind>(r.kind)) {
    case IndexErrorKind::IndexSelect: op = "index_select"; break;
    case IndexErrorKind::IndexAdd: op = "index_add"; break;
    case IndexErrorKind::Gather: op = "gather"; break;
    case IndexErrorKind::ScatterAdd: op = "scatter_add"; break;
    case IndexErrorKind::CrossEntropy: op = "cross_entropy"; break;
    case IndexErrorKind::None: break;
  }
  TG_FAIL(Index, op, ": index ", r.value, " is out of bounds for dimension with size ", r.bound,
          " (found on the GPU by an earlier ", op, ", reported at this synchronization by ", t_op,
          "; the affected outputs hold zeros there)");
}

void sync_and_report(DeviceState& s) {
  check(cudaStreamSynchronize(s.stream), "cudaStreamSynchronize");
  report_index_errors(s);
}

// ---- KernelTable entries

void* device_allocate(size_t nbytes) {
  state();
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, std::max<size_t>(nbytes, 256));
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: core frees its cache and retries, then reports
    return nullptr;
  }
  check(err, "cudaMalloc");
  return p;
}

void device_deallocate(void* ptr) {
  // cudaFree waits for the device, so work still reading the block finishes first.
  if (ptr) check(cudaFree(ptr), "cudaFree");
}

void copy_from_host(void* dst, const void* host_src, size_t nbytes) {
  if (nbytes == 0) return;
  DeviceState& s = state();
  if (nbytes < kPinnedThreshold) {
    // Pageable source: the driver stages it before returning, so the caller may free it.
    check(cudaMemcpyAsync(dst, host_src, nbytes, cudaMemcpyHostToDevice, s.stream), "cudaMemcpyAsync");
    return;
  }
  std::lock_guard<std::mutex> lock(s.pinned_mutex);
  const char* src = static_cast<const char*>(host_src);
  char* out = static_cast<char*>(dst);
  for (size_t done = 0, k = 0; done < nbytes; done += kPinnedChunk, k ^= 1) {
    const size_t n = std::min(kPinnedChunk, nbytes - done);
    check(cudaEventSynchronize(s.pinned_done[k]), "cudaEventSynchronize");  // buffer k is free
    std::memcpy(s.pinned[k], src + done, n);
    check(cudaMemcpyAsync(out + done, s.pinned[k], n, cudaMemcpyHostToDevice, s.stream),
          "cudaMemcpyAsync");
    check(cudaEventRecord(s.pinned_done[k], s.stream), "cudaEventRecord");
  }
}

void copy_to_host(void* host_dst, const void* src, size_t nbytes) {
  DeviceState& s = state();
  if (nbytes == 0) {
    sync_and_report(s);
    return;
  }
  std::lock_guard<std::mutex> lock(s.pinned_mutex);
  const char* in = static_cast<const char*>(src);
  char* out = static_cast<char*>(host_dst);
  // Through the pinned chunks: copy one while the previous one is read out on the host.
  size_t pending_at = 0, pending_n = 0;
  int pending_k = -1;
  int k = 0;
  for (size_t done = 0; done < nbytes; done += kPinnedChunk, k ^= 1) {
    const size_t n = std::min(kPinnedChunk, nbytes - done);
    check(cudaEventSynchronize(s.pinned_done[k]), "cudaEventSynchronize");
    check(cudaMemcpyAsync(s.pinned[k], in + done, n, cudaMemcpyDeviceToHost, s.stream),
          "cudaMemcpyAsync");
    check(cudaEventRecord(s.pinned_done[k], s.stream), "cudaEventRecord");
    if (pending_k >= 0) {
      check(cudaEventSynchronize(s.pinned_done[pending_k]), "cudaEventSynchronize");
      std::memcpy(out + pending_at, s.pinned[pending_k], pending_n);
    }
    pending_at = done;
    pending_n = n;
    pending_k = k;
  }
  sync_and_report(s);
  std::memcpy(out + pending_at, s.pinned[pending_k], pending_n);
}

void device_synchronize() { sync_and_report(state()); }

}  // namespace

// ---- cuda_common.cuh

int current_device() {
  state();
  return t_device;
}
const char* current_op() { return t_op; }
cudaStream_t stream() { return state().stream; }
cublasHandle_t cublas() { return state().cublas; }
IndexErrorRecord* index_error_record() { return state().error_device; }

void fail(const char* what, const char* detail) {
  TG_FAIL(Runtime, t_op, ": ", what, " failed: ", detail);
}

void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) fail(what, cublasGetStatusString(status));
}

void unsupported(const char* what, DType t) {
  static const char* names[] = {"float32", "float64", "int64", "bool"};
  TG_FAIL(Type, t_op, ": ", what, " is not supported for dtype ", names[static_cast<int>(t) & 3],
          " on CUDA");
}

void* scratch(size_t nbytes, int slot) {
  DeviceState& s = state();
  TG_CHECK(slot >= 0 && slot < kScratchSlots, Runtime, t_op, ": scratch slot ", slot, " out of range");
  if (s.scratch_bytes[slot] < nbytes) {
    if (s.scratch[slot]) check(cudaFree(s.scratch[slot]), "cudaFree");  // waits for its readers
    s.scratch[slot] = nullptr;
    s.scratch_bytes[slot] = 0;
    const size_t grown = std::max(nbytes, size_t(1) << 16);
    check(cudaMalloc(&s.scratch[slot], grown), "cudaMalloc (scratch)");
    s.scratch_bytes[slot] = grown;
  }
  return s.scratch[slot];
}

}  // namespace tg::kernels::cuda

// ---- controls

namespace tg::kernels::cuda_control {
namespace {

Impl impl_from_env(const char* name, const char* library_name) {
  const char* v = std::getenv(name);
  if (!v || !*v || std::strcmp(v, "auto") == 0) return Impl::Auto;
  if (std::strcmp(v, "ours") == 0) return Impl::Ours;
  if (std::strcmp(v, library_name) == 0) return Impl::Library;
  TG_FAIL(Value, name, ": expected \"ours\", \"", library_name, "\" or \"auto\", got \"", v, "\"");
}

std::atomic<Impl>& matmul_setting() {
  static std::atomic<Impl> v{impl_from_env("TG_CUDA_MATMUL", "cublas")};
  return v;
}
std::atomic<Impl>& softmax_setting() {
  static std::atomic<Impl> v{impl_from_env("TG_CUDA_SOFTMAX", "cudnn")};
  return v;
}
std::atomic<bool>& tf32_setting() {
  static std::atomic<bool> v{[] {
    const char* e = std::getenv("TG_ALLOW_TF32");
    return e && std::strcmp(e, "1") == 0;
  }()};
  return v;
}

}  // namespace

int device_count() { return cuda::runtime().count; }
std::string unavailable_reason() { return cuda::runtime().reason; }
void synchronize(int device) {
  cuda::activate(device, "synchronize");
  cuda::sync_and_report(cuda::state());
}
void set_matmul_impl(Impl impl) { matmul_setting() = impl; }
Impl matmul_impl() { return matmul_setting(); }
void set_softmax_impl(Impl impl) { softmax_setting() = impl; }
Impl softmax_impl() { return softmax_setting(); }
void set_allow_tf32(bool allow) { tf32_setting() = allow; }
bool allow_tf32() { return tf32_setting(); }

}  // namespace tg::kernels::cuda_control

// ---- the table

namespace tg::kernels {

const KernelTable* cuda_kernels() {
  static const KernelTable table = {
      .allocate = cuda::device_allocate,
      .deallocate = cuda::device_deallocate,
      .copy_to_host = cuda::copy_to_host,
      .copy_from_host = cuda::copy_from_host,
      .synchronize = cuda::device_synchronize,
      .activate = cuda::activate,
#define TG_KERNEL(ret, name, params) .name = cuda::name,
#include "kernels/kernel_entries.h"
#undef TG_KERNEL
  };
  return &table;
}

}  // namespace tg::kernels
