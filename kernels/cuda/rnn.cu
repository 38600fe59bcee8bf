// CUDA recurrent-cell steps (the semantics of kernels/cpu/rnn.cpp; the contract is RnnCellArgs in
// kernel_api.h): the pointwise part of an LSTM or GRU step and its backward, one thread per
// (row, hidden unit), float32 and float64. The backward recomputes the activations from the saved
// pre-activations, as the CPU does. The CPU's float32 exp/tanh are its own polynomials; here they
// are CUDA's libm, so float32 results agree to a few ulps, not bit for bit.
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace tg::kernels::cuda {
namespace {

template <typename T>
__device__ inline T exp_t(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return expf(x);
  } else {
    return exp(x);
  }
}

template <typename T>
__device__ inline T tanh_t(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return tanhf(x);
  } else {
    return tanh(x);
  }
}

// 1 / (1 + exp(-x)) without overflow: exp only sees -|x| (the CPU's formulation).
template <typename T>
__device__ inline T sigmoid_t(T x) {
  const T e = exp_t(-fabs(x));
  const T r = T(1) / (T(1) + e);
  return x < T(0) ? r * e : r;
}

// Unit j of row b: (b, j) from the flat index t < batch * hidden. The gate rows are G * hidden
// wide; offsets are 64-bit, the division is in I.
struct Unit {
  int64_t row;    // b * hidden + j: the state arrays
  int64_t gates;  // b * G * hidden + j: gate block 0 of the gate arrays
};

template <int G, typename I>
__device__ inline Unit unit_of(I t, I hidden) {
  const I b = t / hidden, j = t - b * hidden;
  return {int64_t(t), int64_t(b) * G * hidden + j};
}

template <typename I>
__device__ inline I thread_index() {
  return I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x);
}
template <typename I>
__device__ inline I thread_count() {
  return I(gridDim.x) * I(blockDim.x);
}

// The activated LSTM gates (i, f, g, o) of one unit; pre-activation = input + hidden addend.
template <typename T>
struct LstmGates {
  T i, f, g, o;
};

template <typename T>
__device__ inline LstmGates<T> lstm_gates(const T* x, const T* y, int64_t at, int64_t h) {
  return {sigmoid_t(x[at] + y[at]), sigmoid_t(x[at + h] + y[at + h]),
          tanh_t(x[at + 2 * h] + y[at + 2 * h]), sigmoid_t(x[at + 3 * h] + y[at + 3 * h])};
}

// The GRU gates (r, z, n) and the n block of hidden_gates, which r scales.
template <typename T>
struct GruGates {
  T r, z, n, hidden_n;
};

template <typename T>
__device__ inline GruGates<T> gru_gates(const T* x, const T* y, int64_t at, int64_t h) {
  const T r = sigmoid_t(x[at] + y[at]);
  const T z = sigmoid_t(x[at + h] + y[at + h]);
  const T hn = y[at + 2 * h];
  return {r, z, tanh_t(x[at + 2 * h] + r * hn), hn};
}

template <typename T, typename I>
__global__ void lstm_kernel(I items, I hidden, const T* __restrict__ x, const T* __restrict__ y,
                            const T* __restrict__ c, T* __restrict__ h_out,
                            T* __restrict__ c_out) {
  for (I t = thread_index<I>(); t < items; t += thread_count<I>()) {
    const Unit u = unit_of<4>(t, hidden);
    const LstmGates<T> gate = lstm_gates(x, y, u.gates, int64_t(hidden));
    const T cell = gate.f * c[u.row] + gate.i * gate.g;
    c_out[u.row] = cell;
    h_out[u.row] = gate.o * tanh_t(cell);
  }
}

template <typename T, typename I>
__global__ void lstm_backward_kernel(I items, I hidden, const T* __restrict__ x,
                                     const T* __restrict__ y, const T* __restrict__ c,
                                     const T* __restrict__ gh, const T* __restrict__ gc,
                                     T* __restrict__ d_gates, T* __restrict__ d_c) {
  const int64_t h = hidden;
  for (I t = thread_index<I>(); t < items; t += thread_count<I>()) {
    const Unit u = unit_of<4>(t, hidden);
    const LstmGates<T> gate = lstm_gates(x, y, u.gates, h);
    const T c_prev = c[u.row], g_h = gh[u.row];
    const T tanh_cell = tanh_t(gate.f * c_prev + gate.i * gate.g);
    // The cell's gradient: directly from c_out, and through h_out = o * tanh(c_out).
    const T d_cell = gc[u.row] + g_h * gate.o * (T(1) - tanh_cell * tanh_cell);
    T* d = d_gates + u.gates;
    d[0] = d_cell * gate.g * gate.i * (T(1) - gate.i);
    d[h] = d_cell * c_prev * gate.f * (T(1) - gate.f);
    d[2 * h] = d_cell * gate.i * (T(1) - gate.g * gate.g);
    d[3 * h] = g_h * tanh_cell * gate.o * (T(1) - gate.o);
    d_c[u.row] = d_cell * gate.f;
  }
}

template <typename T, typename I>
__global__ void gru_kernel(I items, I hidden, const T* __restrict__ x, const T* __restrict__ y,
                           const T* __restrict__ h_prev, T* __restrict__ h_out) {
  for (I t = thread_index<I>(); t < items; t += thread_count<I>()) {
    const Unit u = unit_of<3>(t, hidden);
    const GruGates<T> gate = gru_gates(x, y, u.gates, int64_t(hidden));
    h_out[u.row] = gate.n + gate.z * (h_prev[u.row] - gate.n);
  }
}

template <typename T, typename I>
__global__ void gru_backward_kernel(I items, I hidden, const T* __restrict__ x,
                                    const T* __restrict__ y, const T* __restrict__ h_prev,
                                    const T* __restrict__ gh, T* __restrict__ d_in,
                                    T* __restrict__ d_hid, T* __restrict__ d_h) {
  const int64_t h = hidden;
  for (I t = thread_index<I>(); t < items; t += thread_count<I>()) {
    const Unit u = unit_of<3>(t, hidden);
    const GruGates<T> gate = gru_gates(x, y, u.gates, h);
    const T g = gh[u.row];
    const T d_n = g * (T(1) - gate.z) * (T(1) - gate.n * gate.n);  // w.r.t. n's argument
    const T d_r = d_n * gate.hidden_n * gate.r * (T(1) - gate.r);
    const T d_z = g * (h_prev[u.row] - gate.n) * gate.z * (T(1) - gate.z);
    T* di = d_in + u.gates;
    T* dh = d_hid + u.gates;
    di[0] = d_r;
    dh[0] = d_r;
    di[h] = d_z;
    dh[h] = d_z;
    di[2 * h] = d_n;
    dh[2 * h] = d_n * gate.r;
    d_h[u.row] = g * gate.z;
  }
}

// Calls launch(T tag, I tag, items) with 32-bit index arithmetic when the widest gate array
// (G * batch * hidden elements) stays below 2^30.
template <typename F>
void for_cells(const char* name, const RnnCellArgs& a, int gates, F&& launch) {
  dispatch_floating(name, a.dtype, [&](auto tag) {
    if (a.batch <= 0 || a.hidden <= 0) return;
    const int64_t items = a.batch * a.hidden;
    if (items * gates < (int64_t(1) << 30)) {
      launch(tag, Tag<int32_t>{}, items);
    } else {
      launch(tag, Tag<int64_t>{}, items);
    }
    check_launch(name);
  });
}

}  // namespace

void lstm_cell(const RnnCellArgs& a, void* h_out, void* c_out) {
  for_cells("lstm_cell", a, 4, [&](auto tag, auto itag, int64_t items) {
    using T = typename decltype(tag)::type;
    using I = typename decltype(itag)::type;
    lstm_kernel<T, I><<<grid_for(items), kBlock, 0, stream()>>>(
        I(items), I(a.hidden), static_cast<const T*>(a.input_gates),
        static_cast<const T*>(a.hidden_gates), static_cast<const T*>(a.state),
        static_cast<T*>(h_out), static_cast<T*>(c_out));
  });
}

void lstm_cell_backward(const RnnCellArgs& a, const void* grad_h, const void* grad_c,
                        void* grad_gates, void* grad_state) {
  for_cells("lstm_cell_backward", a, 4, [&](auto tag, auto itag, int64_t items) {
    using T = typename decltype(tag)::type;
    using I = typename decltype(itag)::type;
    lstm_backward_kernel<T, I><<<grid_for(items), kBlock, 0, stream()>>>(
        I(items), I(a.hidden), static_cast<const T*>(a.input_gates),
        static_cast<const T*>(a.hidden_gates), static_cast<const T*>(a.state),
        static_cast<const T*>(grad_h), static_cast<const T*>(grad_c), static_cast<T*>(grad_gates),
        static_cast<T*>(grad_state));
  });
}

void gru_cell(const RnnCellArgs& a, void* h_out) {
  for_cells("gru_cell", a, 3, [&](auto tag, auto itag, int64_t items) {
    using T = typename decltype(tag)::type;
    using I = typename decltype(itag)::type;
    gru_kernel<T, I><<<grid_for(items), kBlock, 0, stream()>>>(
        I(items), I(a.hidden), static_cast<const T*>(a.input_gates),
        static_cast<const T*>(a.hidden_gates), static_cast<const T*>(a.state),
        static_cast<T*>(h_out));
  });
}

void gru_cell_backward(const RnnCellArgs& a, const void* grad_h, void* grad_input_gates,
                       void* grad_hidden_gates, void* grad_state) {
  for_cells("gru_cell_backward", a, 3, [&](auto tag, auto itag, int64_t items) {
    using T = typename decltype(tag)::type;
    using I = typename decltype(itag)::type;
    gru_backward_kernel<T, I><<<grid_for(items), kBlock, 0, stream()>>>(
        I(items), I(a.hidden), static_cast<const T*>(a.input_gates),
        static_cast<const T*>(a.hidden_gates), static_cast<const T*>(a.state),
        static_cast<const T*>(grad_h), static_cast<T*>(grad_input_gates),
        static_cast<T*>(grad_hidden_gates), static_cast<T*>(grad_state));
  });
}

}  // namespace tg::kernels::cuda
