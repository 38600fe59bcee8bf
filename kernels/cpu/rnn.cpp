// CPU recurrent-cell steps (RnnCellArgs in kernel_api.h): the gate activations, the state update
// and, for the backward, all gate gradients in one pass over each row. The backward recomputes
// the activations from the saved pre-activations instead of keeping them from the forward.
// Rows are split over threads; each row's loop is compiled for AVX2 too (TG_SIMD_CLONES) and
// uses scalar_math.h's float32 exp/tanh/sigmoid, which vectorize (libm's calls would not).
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/scalar_math.h"
#include "kernels/cpu/simd_clones.h"
#include "kernels/cpu/strided_loop.h"

namespace tg::kernels::cpu {
namespace {

// A row of a dense [batch, width] array.
template <typename T>
const T* row_of(const void* p, int64_t b, int64_t width) {
  return static_cast<const T*>(p) + b * width;
}
template <typename T>
T* row_of(void* p, int64_t b, int64_t width) {
  return static_cast<T*>(p) + b * width;
}

// Calls body(tag, b, input_gates row, hidden_gates row, state row, mc) for every row b of the
// batch, rows split over threads; a row is `cost` elements of work per hidden unit.
template <typename F>
void for_each_cell_row(const char* what, const RnnCellArgs& a, int64_t gates, int64_t cost,
                       F&& body) {
  dispatch_floating(what, a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t H = a.hidden;
    const MathConsts mc = math_consts();
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(cost * H, 1));
    parallel_range(a.batch, grain, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b)
        body(tag, b, row_of<T>(a.input_gates, b, gates * H),
             row_of<T>(a.hidden_gates, b, gates * H), row_of<T>(a.state, b, H), mc);
    });
  });
}

// The LSTM's activated gates of unit j in one row (pre-activations: the sum of both addends).
template <typename T>
struct LstmGates {
  T i, f, g, o;
  LstmGates(const T* x, const T* y, int64_t h, int64_t j, MathConsts mc)
      : i(sigmoid(x[j] + y[j], mc)),
        f(sigmoid(x[h + j] + y[h + j], mc)),
        g(ftanh(x[2 * h + j] + y[2 * h + j], mc)),
        o(sigmoid(x[3 * h + j] + y[3 * h + j], mc)) {}
};

template <typename T>
struct GruGates {
  T r, z, n, hidden_n;  // hidden_n: the n block of hidden_gates, which r scales
  GruGates(const T* x, const T* y, int64_t h, int64_t j, MathConsts mc)
      : r(sigmoid(x[j] + y[j], mc)),
        z(sigmoid(x[h + j] + y[h + j], mc)),
        n(ftanh(x[2 * h + j] + r * y[2 * h + j], mc)),
        hidden_n(y[2 * h + j]) {}
};

// One row of each step (the loops the SIMD clones cover); pointers are at the row's start and
// never overlap (restrict: the vectorizer needs no alias checks).
template <typename T>
TG_SIMD_CLONES void lstm_row(const T* __restrict__ x, const T* __restrict__ y,
                             const T* __restrict__ c, T* __restrict__ h_new, T* __restrict__ c_new,
                             int64_t H, MathConsts mc) {
  for (int64_t j = 0; j < H; ++j) {
    const LstmGates<T> gate(x, y, H, j, mc);
    const T cell = gate.f * c[j] + gate.i * gate.g;
    c_new[j] = cell;
    h_new[j] = gate.o * ftanh(cell, mc);
  }
}

template <typename T>
TG_SIMD_CLONES void lstm_backward_row(const T* __restrict__ x, const T* __restrict__ y,
                                      const T* __restrict__ c, const T* __restrict__ gh,
                                      const T* __restrict__ gc, T* __restrict__ d_gates,
                                      T* __restrict__ d_c, int64_t H, MathConsts mc) {
  for (int64_t j = 0; j < H; ++j) {
    const LstmGates<T> gate(x, y, H, j, mc);
    const T tanh_cell = ftanh(gate.f * c[j] + gate.i * gate.g, mc);
    // The cell's gradient: directly from c_out, and through h_out = o * tanh(c_out).
    const T d_cell = gc[j] + gh[j] * gate.o * (T(1) - tanh_cell * tanh_cell);
    d_gates[j] = d_cell * gate.g * gate.i * (T(1) - gate.i);
    d_gates[H + j] = d_cell * c[j] * gate.f * (T(1) - gate.f);
    d_gates[2 * H + j] = d_cell * gate.i * (T(1) - gate.g * gate.g);
    d_gates[3 * H + j] = gh[j] * tanh_cell * gate.o * (T(1) - gate.o);
    d_c[j] = d_cell * gate.f;
  }
}

template <typename T>
TG_SIMD_CLONES void gru_row(const T* __restrict__ x, const T* __restrict__ y,
                            const T* __restrict__ h, T* __restrict__ h_new, int64_t H,
                            MathConsts mc) {
  for (int64_t j = 0; j < H; ++j) {
    const GruGates<T> gate(x, y, H, j, mc);
    h_new[j] = gate.n + gate.z * (h[j] - gate.n);
  }
}

template <typename T>
TG_SIMD_CLONES void gru_backward_row(const T* __restrict__ x, const T* __restrict__ y,
                                     const T* __restrict__ h, const T* __restrict__ g,
                                     T* __restrict__ d_in, T* __restrict__ d_hid,
                                     T* __restrict__ d_h, int64_t H, MathConsts mc) {
  for (int64_t j = 0; j < H; ++j) {
    const GruGates<T> gate(x, y, H, j, mc);
    const T d_n = g[j] * (T(1) - gate.z) * (T(1) - gate.n * gate.n);  // w.r.t. n's argument
    const T d_r = d_n * gate.hidden_n * gate.r * (T(1) - gate.r);
    const T d_z = g[j] * (h[j] - gate.n) * gate.z * (T(1) - gate.z);
    d_in[j] = d_r;
    d_hid[j] = d_r;
    d_in[H + j] = d_z;
    d_hid[H + j] = d_z;
    d_in[2 * H + j] = d_n;
    d_hid[2 * H + j] = d_n * gate.r;
    d_h[j] = g[j] * gate.z;
  }
}

}  // namespace

void lstm_cell(const RnnCellArgs& a, void* h_out, void* c_out) {
  const int64_t H = a.hidden;
  for_each_cell_row("lstm_cell", a, 4, 4, [&](auto tag, int64_t b, auto x, auto y, auto c,
                                                MathConsts mc) {
    using T = typename decltype(tag)::type;
    lstm_row(x, y, c, row_of<T>(h_out, b, H), row_of<T>(c_out, b, H), H, mc);
  });
}

void lstm_cell_backward(const RnnCellArgs& a, const void* grad_h, const void* grad_c,
                        void* grad_gates, void* grad_state) {
  const int64_t H = a.hidden;
  for_each_cell_row("lstm_cell_backward", a, 4, 8, [&](auto tag, int64_t b, auto x, auto y,
                                                        auto c, MathConsts mc) {
    using T = typename decltype(tag)::type;
    lstm_backward_row(x, y, c, row_of<T>(grad_h, b, H), row_of<T>(grad_c, b, H),
                      row_of<T>(grad_gates, b, 4 * H), row_of<T>(grad_state, b, H), H, mc);
  });
}

void gru_cell(const RnnCellArgs& a, void* h_out) {
  const int64_t H = a.hidden;
  for_each_cell_row("gru_cell", a, 3, 3, [&](auto tag, int64_t b, auto x, auto y, auto h,
                                              MathConsts mc) {
    using T = typename decltype(tag)::type;
    gru_row(x, y, h, row_of<T>(h_out, b, H), H, mc);
  });
}

void gru_cell_backward(const RnnCellArgs& a, const void* grad_h, void* grad_input_gates,
                       void* grad_hidden_gates, void* grad_state) {
  const int64_t H = a.hidden;
  for_each_cell_row("gru_cell_backward", a, 3, 7, [&](auto tag, int64_t b, auto x, auto y,
                                                       auto h, MathConsts mc) {
    using T = typename decltype(tag)::type;
    gru_backward_row(x, y, h, row_of<T>(grad_h, b, H), row_of<T>(grad_input_gates, b, 3 * H),
                     row_of<T>(grad_hidden_gates, b, 3 * H), row_of<T>(grad_state, b, H), H, mc);
  });
}

}  // namespace tg::kernels::cpu
