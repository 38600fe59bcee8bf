// The tape: a Node per recorded op, holding its backward formula, the tensors that formula needs
// (SavedTensor, version-checked) and one Edge per input to the node that produced that input.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../core/tensor.h"

namespace tg::autograd {

// ---- grad mode: thread-local, on by default
bool is_grad_enabled();
void set_grad_enabled(bool enabled);

class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : previous_(is_grad_enabled()) { set_grad_enabled(enabled); }
  ~GradModeGuard() { set_grad_enabled(previous_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

struct NoGradGuard : GradModeGuard {
  NoGradGuard() : GradModeGuard(false) {}
};
struct EnableGradGuard : GradModeGuard {
  EnableGradGuard() : GradModeGuard(true) {}
};

// ---- anomaly mode (torch.autograd.set_detect_anomaly): thread-local, off by default. With
// check_nan, an op recorded on the tape whose forward, or a backward formula that, produces NaN
// (or Inf from finite values) throws a tg::Error naming it. Every recorded op also keeps a trace
// of where its forward ran (see set_anomaly_trace_source), shown with errors from its backward.
bool is_anomaly_enabled();
bool is_anomaly_check_nan_enabled();
void set_detect_anomaly(bool enabled, bool check_nan = true);

class DetectAnomalyGuard {
 public:
  explicit DetectAnomalyGuard(bool check_nan = true);
  ~DetectAnomalyGuard();
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool previous_, previous_check_nan_;
};

// What anomaly mode stores as "where the forward ran" (the Python bindings give the Python stack);
// without a source, only the op's position on the tape. Set once, before any threads record.
void set_anomaly_trace_source(std::function<std::string()> source);

class Node;

struct Edge {
  std::shared_ptr<Node> fn;  // null: this input needs no gradient
  uint32_t input_nr = 0;     // which output of fn the input was
};

struct TensorMeta {
  Shape sizes;
  DType dtype = DType::Float32;
  Device device;
};

// A tensor kept for backward; unpacking checks that nobody modified the values in place since.
// An output of the op itself is kept without its history (that would be a cycle: node -> output
// -> node); under create_graph, get() hands it back with the running node as its grad_fn, so a
// formula that uses the output is differentiated through it too (as PyTorch's SavedVariable).
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t, bool is_output = false, uint32_t output_nr = 0);
  Tensor get() const;  // throws if modified in place since it was saved
  bool defined() const { return data_.defined(); }

 private:
  Tensor data_;
  uint64_t version_ = 0;
  bool is_output_ = false;
  uint32_t output_nr_ = 0;
};

// What a backward formula reads and writes.
struct Grads {
  std::vector<Tensor> out;  // gradient w.r.t. each output of the op
  std::vector<Tensor> in;   // to fill: gradient w.r.t. each input (leave undefined for none)
  std::vector<bool> wanted; // whether input i needs a gradient at all
  const Tensor& g() const { return out[0]; }
  bool needs(size_t i) const { return i < wanted.size() && wanted[i]; }
};
using BackwardFn = std::function<void(Grads&)>;

class Node {
 public:
  const char* name = "";
  std::vector<Edge> next_edges;        // one per input
  std::vector<TensorMeta> input_meta;  // each input's shape/dtype: gradients are reduced to it
  std::vector<TensorMeta> output_meta;
  BackwardFn backward;                 // released once run, unless retain_graph
  uint64_t sequence_nr = 0;            // creation order: later nodes run first
  bool released = false;
  std::string forward_trace;           // anomaly mode only
  // Leaves: the node that writes .grad of `leaf`.
  std::shared_ptr<TensorImpl> leaf;
  bool is_accumulator() const { return leaf != nullptr; }
};

// The name users see, PyTorch style: "mul" -> "MulBackward", "log_softmax" -> "LogSoftmaxBackward".
std::string backward_name(const Node& node);

// True when grad mode is on and some defined input requires grad.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Puts a node on the tape: `outputs` get it as grad_fn; edges lead to each input's history.
void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFn backward);

// In-place ops that will be recorded call this first: it checks `self` may be modified (not a
// leaf that requires grad, not a view) and marks the views of its memory taken so far as stale
// (their history no longer describes the values); then the op makes `self` its node's output.
void begin_inplace(const char* op, const Tensor& self);

// Runs the tape backward from `roots` (each with a gradient, or undefined for a scalar root: 1).
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots,
                  bool retain_graph, bool create_graph);

// Gradients of `outputs` w.r.t. `inputs`, returned instead of accumulated into .grad.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         bool create_graph = false, bool allow_unused = false);

}  // namespace tg::autograd

namespace tg {
using autograd::DetectAnomalyGuard;
using autograd::EnableGradGuard;
using autograd::NoGradGuard;
}  // namespace tg
