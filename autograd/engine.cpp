#include <cctype>
#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <sstream>
#include <queue>
#include <unordered_map>

#include "../core/native.h"
#include "functions.h"
#include "node.h"

namespace tg::autograd {

namespace {
thread_local bool grad_enabled = true;
thread_local bool anomaly_enabled = false;
thread_local bool anomaly_check_nan = true;
std::function<std::string()> anomaly_trace_source;
// The node whose backward is running: named in saved-tensor errors, and the history of its
// saved outputs under create_graph.
thread_local std::shared_ptr<Node> running_node;
std::atomic<uint64_t> next_sequence_nr{0};

TensorMeta meta_of(const Tensor& t) { return TensorMeta{t.sizes(), t.dtype(), t.device()}; }

std::shared_ptr<Node> accumulator_for(const Tensor& leaf) {
  TensorImpl* impl = leaf.impl();
  if (auto existing = impl->grad_accumulator.lock()) return existing;
  auto node = std::make_shared<Node>();
  node->name = "AccumulateGrad";
  node->leaf = leaf.impl_ptr();
  node->sequence_nr = UINT64_MAX;
  impl->grad_accumulator = node;
  return node;
}

// `op` names the consumer of t in errors.
Edge edge_to(const char* op, const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return Edge{};
  // A view made before an in-place op rewrote its base's history would route gradients through
  // the old history: wrong values, silently. PyTorch regenerates the view's history; we refuse it.
  TG_CHECK(!t.grad_fn() || !t.impl()->is_view ||
               t.impl()->view_history_version == t.storage()->history_version,
           Runtime, op, ": an input is a view taken before an in-place operation on the tensor it "
           "views was recorded for autograd, so its gradient history is stale; take the view again "
           "after the in-place operation");
  if (t.grad_fn()) return Edge{t.grad_fn(), t.impl()->output_nr};
  return Edge{accumulator_for(t), 0};
}
}  // namespace

bool is_grad_enabled() { return grad_enabled; }
void set_grad_enabled(bool enabled) { grad_enabled = enabled; }

bool is_anomaly_enabled() { return anomaly_enabled; }
bool is_anomaly_check_nan_enabled() { return anomaly_enabled && anomaly_check_nan; }
void set_detect_anomaly(bool enabled, bool check_nan) {
  anomaly_enabled = enabled;
  anomaly_check_nan = check_nan;
}
DetectAnomalyGuard::DetectAnomalyGuard(bool check_nan)
    : previous_(anomaly_enabled), previous_check_nan_(anomaly_check_nan) {
  set_detect_anomaly(true, check_nan);
}
DetectAnomalyGuard::~DetectAnomalyGuard() { set_detect_anomaly(previous_, previous_check_nan_); }
void set_anomaly_trace_source(std::function<std::string()> source) { anomaly_trace_source = std::move(source); }

namespace {

struct NonFinite {
  int64_t nan = 0, inf = 0, total = 0;
  bool any() const { return nan + inf > 0; }
};

NonFinite count_non_finite(const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype()) || t.numel() == 0) return {};
  NoGradGuard no_grad;
  return NonFinite{tg::sum(tg::isnan(t)).item<int64_t>(), tg::sum(tg::isinf(t)).item<int64_t>(), t.numel()};
}

std::string describe(const NonFinite& f, const Tensor& t) {
  std::ostringstream os;
  if (f.nan) os << f.nan << (f.inf ? " NaN and " : " NaN");
  if (f.inf) os << f.inf << " Inf";
  os << " of " << f.total << " values, shape " << t.sizes();
  return os.str();
}

// Ops whose Inf can come from a value the caller passed (a -inf attention mask, say).
bool may_write_infinities(const char* op) {
  return std::strcmp(op, "masked_fill") == 0 || std::strcmp(op, "fill_") == 0;
}

std::string where_forward_ran(const Node& node) {
  if (node.forward_trace.empty()) return "";
  return "\nThe forward of " + std::string(node.name) + " ran at:\n" + node.forward_trace;
}

// Anomaly mode: the forward of `name` made NaN, or Inf from finite inputs.
void check_forward(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs) {
  std::vector<NonFinite> in(inputs.size());
  bool inputs_counted = false;
  for (size_t o = 0; o < outputs.size(); ++o) {
    const NonFinite out = count_non_finite(outputs[o]);
    if (!out.any()) continue;
    if (!inputs_counted) {
      for (size_t i = 0; i < inputs.size(); ++i) in[i] = count_non_finite(inputs[i]);
      inputs_counted = true;
    }
    size_t culprit = inputs.size();  // an input that already held what the output holds
    for (size_t i = 0; i < inputs.size() && culprit == inputs.size(); ++i)
      if ((out.nan && in[i].nan) || (!out.nan && in[i].any())) culprit = i;
    if (culprit < inputs.size() && !out.nan) continue;  // Inf carried from an input
    if (!out.nan && may_write_infinities(name)) continue;
    if (culprit < inputs.size())
      TG_FAIL(Runtime, "anomaly detected: the forward of ", name, " returned NaN in output ", o, " (",
              describe(out, outputs[o]), "), but its input ", culprit, " already held NaN (",
              describe(in[culprit], inputs[culprit]),
              "): it came from the data or from an op not recorded on the tape");
    TG_FAIL(Runtime, "anomaly detected: the forward of ", name, " returned ", out.nan ? "NaN" : "Inf",
            " in output ", o, " (", describe(out, outputs[o]), ") from finite inputs");
  }
}

// Anomaly mode: the backward formula of `node` made NaN, or Inf from finite incoming gradients.
void check_backward(const Node& node, const Grads& grads) {
  std::optional<bool> incoming_finite;
  for (size_t i = 0; i < grads.in.size(); ++i) {
    const NonFinite g = count_non_finite(grads.in[i]);
    if (!g.any()) continue;
    if (!incoming_finite) {
      incoming_finite = true;
      for (const Tensor& o : grads.out) incoming_finite = *incoming_finite && !count_non_finite(o).any();
    }
    if (!g.nan && !*incoming_finite) continue;  // Inf passed along
    TG_FAIL(Runtime, "anomaly detected: ", backward_name(node), " (the backward of ", node.name,
            ") returned ", g.nan ? "NaN" : "Inf", " in the gradient of input ", i, " (",
            describe(g, grads.in[i]), ")",
            *incoming_finite ? " from a finite incoming gradient" : "; the incoming gradient already held NaN",
            where_forward_ran(node));
  }
}

}  // namespace

SavedTensor::SavedTensor(const Tensor& t, bool is_output, uint32_t output_nr)
    : is_output_(is_output), output_nr_(output_nr) {
  if (!t.defined()) return;
  data_ = is_output ? t.detach() : t;
  version_ = t.version();
}

Tensor SavedTensor::get() const {
  TG_CHECK(data_.version() == version_, Runtime, "backward of ",
           running_node ? running_node->name : "an op",
           ": a tensor saved for the gradient was modified by an in-place operation (its version "
           "is ", data_.version(), ", expected ", version_,
           "); clone it before modifying it, or modify it out of place");
  if (!is_output_ || !grad_enabled || !running_node) return data_;
  auto with_history = std::make_shared<TensorImpl>(*data_.impl());
  with_history->grad_fn = running_node;
  with_history->output_nr = output_nr_;
  return Tensor(std::move(with_history));
}

std::string backward_name(const Node& node) {
  std::string out;
  bool upper = true;
  for (const char* p = node.name; *p; ++p) {
    if (*p == '_') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(*p))) : *p;
    upper = false;
  }
  return out + "Backward";
}

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFn backward) {
  // Ops inside a backward formula (create_graph) are checked as part of that formula.
  if (anomaly_enabled && anomaly_check_nan && !running_node) check_forward(name, inputs, outputs);
  auto node = std::make_shared<Node>();
  node->name = name;
  node->sequence_nr = next_sequence_nr++;
  if (anomaly_enabled) {
    node->forward_trace = anomaly_trace_source ? anomaly_trace_source()
                                               : "  (op number " + std::to_string(node->sequence_nr) + " on the tape)\n";
  }
  node->next_edges.reserve(inputs.size());
  node->input_meta.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    node->next_edges.push_back(edge_to(name, t));
    node->input_meta.push_back(t.defined() ? meta_of(t) : TensorMeta{});
  }
  node->backward = std::move(backward);
  for (uint32_t i = 0; i < outputs.size(); ++i) {
    node->output_meta.push_back(meta_of(outputs[i]));
    TensorImpl* impl = outputs[i].impl();
    impl->grad_fn = node;
    impl->output_nr = i;
  }
}

void begin_inplace(const char* op, const Tensor& self) {
  if (!grad_enabled) return;
  TG_CHECK(!(self.is_leaf() && self.requires_grad()), Runtime, op,
           ": a leaf tensor that requires grad cannot be modified in place while grad mode is on "
           "(wrap the update in tg::NoGradGuard)");
  // Views do not know their base, so history recorded on a view would never reach the base: a
  // write of a tensor that requires grad into a buffer's row would silently lose its gradient.
  TG_CHECK(!self.impl()->is_view, Runtime, op,
           ": in-place modification of a view is not supported while gradients are recorded (",
           self.requires_grad() ? "the view requires grad" : "the source requires grad",
           ", and the tensor it views would not see the new history); use the out-of-place op, "
           "build the result with cat/stack, or clone() the view first");
  ++self.storage()->history_version;
}

namespace {

struct InputBuffer {
  std::vector<Tensor> grads;
};

// Sums gradients arriving by several paths; recorded on the tape under create_graph.
void add_into(Tensor& slot, Tensor g) {
  if (!slot.defined()) slot = std::move(g);
  else slot = is_grad_enabled() ? tg::add(slot, g) : native::binary("backward", kernels::BinaryOp::Add, slot, g);
}

// The gradient `g` of an input with metadata `meta`: broadcast dims summed away, dtype matched.
Tensor fit_to_input(const Node& node, size_t i, Tensor g) {
  const TensorMeta& meta = node.input_meta[i];
  if (g.sizes() != meta.sizes) {
    TG_CHECK(numel_of(g.sizes()) >= numel_of(meta.sizes) || g.numel() == 0, Runtime,
             "backward of ", node.name, ": gradient of shape ", g.sizes(), " for input ", i,
             " of shape ", meta.sizes);
    g = is_grad_enabled() ? tg::sum_to(g, meta.sizes) : native::sum_to(g, meta.sizes);
  }
  if (g.dtype() != meta.dtype) g = is_grad_enabled() ? g.to(meta.dtype) : native::to_dtype(g, meta.dtype);
  return g;
}

void accumulate_into_leaf(Node& node, Tensor g) {
  Tensor leaf(node.leaf);
  const Tensor& current = leaf.grad();
  if (!current.defined()) {
    // Steal a gradient nobody else holds; copy one that aliases other memory (under
    // create_graph, a recorded copy: .grad keeps its history).
    const bool exclusive = g.impl_ptr().use_count() == 1 && g.storage().use_count() == 1 &&
                           g.is_contiguous() && !g.grad_fn();
    leaf.set_grad(exclusive ? g : is_grad_enabled() ? tg::clone(g) : native::clone(g));
  } else if (is_grad_enabled()) {
    leaf.set_grad(tg::add(current, g));
  } else {
    native::binary_("AccumulateGrad", kernels::BinaryOp::Add, current, g);
  }
}

struct Capture {
  size_t result_index;
  uint32_t output_nr;
};

// The engine behind backward() and grad(). With captures, gradients reaching the captured
// (node, output) slots are returned and leaves are left alone.
void execute(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots,
             bool retain_graph, bool create_graph,
             const std::unordered_map<Node*, std::vector<Capture>>* captures,
             std::vector<Tensor>* captured) {
  TG_CHECK(roots.size() == grad_roots.size(), Value, "backward: got ", roots.size(),
           " tensors but ", grad_roots.size(), " gradients");
  GradModeGuard mode(create_graph);
  std::unordered_map<Node*, InputBuffer> buffers;
  std::vector<std::shared_ptr<Node>> root_nodes;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& root = roots[i];
    TG_CHECK(root.defined(), Value, "backward: undefined tensor");
    TG_CHECK(root.requires_grad(), Runtime,
             "backward: element ", i, " of the tensors does not require grad and has no grad_fn "
             "(shape ", root.sizes(), ")");
    Tensor g = grad_roots[i];
    if (!g.defined()) {
      TG_CHECK(root.numel() == 1, Runtime, "backward: grad can be implicitly created only for "
               "scalar outputs; this output has shape ", root.sizes(),
               ", so pass a gradient of that shape");
      g = native::empty(root.sizes(), root.dtype(), root.device());
      native::fill_(g, 1.0);
    } else {
      TG_CHECK(g.sizes() == root.sizes(), Value, "backward: the gradient has shape ", g.sizes(),
               " but the output has shape ", root.sizes());
      native::check_same_device("backward", root, g);
      if (g.dtype() != root.dtype()) g = native::to_dtype(g, root.dtype());
    }
    Edge e = edge_to("backward", root);
    InputBuffer& buf = buffers[e.fn.get()];
    const size_t slots = e.fn->is_accumulator() ? 1 : e.fn->output_meta.size();
    if (buf.grads.size() < slots) buf.grads.resize(slots);
    add_into(buf.grads[e.input_nr], g);
    root_nodes.push_back(e.fn);
  }

  // Count, for every reachable node, the edges that lead into it.
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> stack;
  std::unordered_map<Node*, bool> seen;
  for (auto& r : root_nodes)
    if (!seen[r.get()]) {
      seen[r.get()] = true;
      stack.push_back(r.get());
    }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges) {
      if (!e.fn) continue;
      ++dependencies[e.fn.get()];
      if (!seen[e.fn.get()]) {
        seen[e.fn.get()] = true;
        stack.push_back(e.fn.get());
      }
    }
  }

  auto later_first = [](const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) {
    return a->sequence_nr < b->sequence_nr;
  };
  std::priority_queue<std::shared_ptr<Node>, std::vector<std::shared_ptr<Node>>,
                      decltype(later_first)>
      ready(later_first);
  {
    std::unordered_map<Node*, bool> queued;
    for (auto& r : root_nodes)
      if (dependencies[r.get()] == 0 && !queued[r.get()]) {
        queued[r.get()] = true;
        ready.push(r);
      }
  }

  while (!ready.empty()) {
    std::shared_ptr<Node> node = ready.top();
    ready.pop();
    InputBuffer buffer = std::move(buffers[node.get()]);
    buffers.erase(node.get());
    if (captures) {
      auto it = captures->find(node.get());
      if (it != captures->end())
        for (const Capture& c : it->second)
          if (c.output_nr < buffer.grads.size() && buffer.grads[c.output_nr].defined())
            add_into((*captured)[c.result_index], buffer.grads[c.output_nr]);
    }
    if (node->is_accumulator()) {
      if (!captures && !buffer.grads.empty() && buffer.grads[0].defined())
        accumulate_into_leaf(*node, std::move(buffer.grads[0]));
      continue;
    }
    TG_CHECK(!node->released, Runtime, "backward: trying to backward through the graph a second "
             "time (the saved tensors of ", node->name, " were freed after the first backward); "
             "pass retain_graph=true to the first backward to keep them");
    Grads grads;
    grads.out = std::move(buffer.grads);
    grads.out.resize(node->output_meta.size());
    for (size_t i = 0; i < grads.out.size(); ++i)
      if (!grads.out[i].defined()) {
        const TensorMeta& m = node->output_meta[i];
        grads.out[i] = native::empty(m.sizes, m.dtype, m.device);
        native::fill_(grads.out[i], 0.0);
      }
    grads.in.resize(node->next_edges.size());
    grads.wanted.resize(node->next_edges.size());
    for (size_t i = 0; i < node->next_edges.size(); ++i) grads.wanted[i] = node->next_edges[i].fn != nullptr;
    running_node = node;
    try {
      node->backward(grads);
      if (anomaly_enabled && anomaly_check_nan) check_backward(*node, grads);
    } catch (const Error& e) {
      running_node = nullptr;
      const std::string where = where_forward_ran(*node);
      const std::string msg = e.what();
      if (where.empty() || msg.find(where) != std::string::npos) throw;
      throw Error(e.kind(), msg + where);
    } catch (...) {
      running_node = nullptr;
      throw;
    }
    running_node = nullptr;
    if (!retain_graph) {
      node->backward = nullptr;  // frees the saved tensors
      node->released = true;
    }
    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.fn) continue;
      if (grads.in[i].defined()) {
        InputBuffer& target = buffers[e.fn.get()];
        const size_t slots = e.fn->is_accumulator() ? 1 : e.fn->output_meta.size();
        if (target.grads.size() < slots) target.grads.resize(slots);
        add_into(target.grads[e.input_nr], fit_to_input(*node, i, std::move(grads.in[i])));
      }
      if (--dependencies[e.fn.get()] == 0) ready.push(e.fn);
    }
  }
}

}  // namespace

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots,
                  bool retain_graph, bool create_graph) {
  execute(roots, grad_roots, retain_graph || create_graph, create_graph, nullptr, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph,
                         bool create_graph, bool allow_unused) {
  std::unordered_map<Node*, std::vector<Capture>> captures;
  std::vector<std::shared_ptr<Node>> keep;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    TG_CHECK(t.defined() && t.requires_grad(), Runtime, "grad: input ", i,
             " does not require grad");
    Edge e = edge_to("grad", t);
    keep.push_back(e.fn);
    captures[e.fn.get()].push_back(Capture{i, e.input_nr});
  }
  std::vector<Tensor> results(inputs.size());
  std::vector<Tensor> gs = grad_outputs;
  if (gs.empty()) gs.resize(outputs.size());
  execute(outputs, gs, retain_graph || create_graph, create_graph, &captures, &results);
  for (size_t i = 0; i < results.size(); ++i) {
    TG_CHECK(results[i].defined() || allow_unused, Runtime, "grad: input ", i,
             " was not used to compute the outputs (pass allow_unused=true to get an undefined "
             "gradient instead)");
  }
  return results;
}

}  // namespace tg::autograd
