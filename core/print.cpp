// Printing like PyTorch's repr (torch/_tensor_str.py): tensor([[ 0.1000, -2.0000], ...]),
// summarized beyond 1000 elements (3 at each edge), with the device, dtype and autograd state as
// suffixes. Differences by design: dtypes print as "float64" (no "torch."), grad_fn names carry no
// trailing number (MulBackward), and a summarized tensor also shows its size.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

#include "../autograd/node.h"
#include "native.h"

namespace tg {

namespace {

constexpr int64_t kThreshold = 1000;
constexpr int64_t kEdgeItems = 3;
constexpr size_t kLineWidth = 80;

// T is int64_t for int64 tensors (exact beyond 2^53), double for the others.
template <class T>
class Formatter {
 public:
  // As PyTorch's _Formatter: for floats the mode and the width come from the finite nonzero
  // values only (others are padded to that width, or overflow it); all integral -> "1." form.
  Formatter(DType dtype, const std::vector<T>& shown) : dtype_(dtype) {
    if (!is_floating(dtype)) {
      for (double v : shown) width_ = std::max(width_, raw(v).size());
      return;
    }
    int_mode_ = true;
    std::vector<T> nonzero_finite;
    double max_abs = 0, min_abs = INFINITY;
    for (double v : shown) {
      if (!std::isfinite(v) || v == 0) continue;
      nonzero_finite.push_back(v);
      if (v != std::ceil(v)) int_mode_ = false;
      max_abs = std::max(max_abs, std::abs(v));
      min_abs = std::min(min_abs, std::abs(v));
    }
    if (nonzero_finite.empty()) return;
    sci_ = max_abs / min_abs > 1000.0 || max_abs > 1e8 || (!int_mode_ && min_abs < 1e-4);
    for (T v : nonzero_finite) width_ = std::max(width_, raw(v).size());
  }

  std::string format(T v) const {
    std::string s = raw(v);
    if (s.size() < width_) s.insert(0, width_ - s.size(), ' ');
    return s;
  }
  size_t width() const { return width_; }

 private:
  std::string raw(T v) const {
    char buf[64];
    if constexpr (std::is_same_v<T, int64_t>) {
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    } else {
      if (dtype_ == DType::Bool) return v != 0 ? "True" : "False";
      if (std::isnan(v)) return "nan";
      if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
      if (sci_) std::snprintf(buf, sizeof buf, "%.4e", v);
      else if (int_mode_) std::snprintf(buf, sizeof buf, "%.0f.", v);
      else std::snprintf(buf, sizeof buf, "%.4f", v);
    }
    return buf;
  }

  DType dtype_;
  bool int_mode_ = false, sci_ = false;
  size_t width_ = 1;
};

template <class T>
struct Printer {
  const std::vector<T>& values;
  const Shape& sizes;
  Shape strides;
  bool summarize;

  std::vector<int64_t> shown_indices(int64_t size) const {
    std::vector<int64_t> idx;
    if (summarize && size > 2 * kEdgeItems) {
      for (int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
      idx.push_back(-1);  // the ellipsis
      for (int64_t i = size - kEdgeItems; i < size; ++i) idx.push_back(i);
    } else {
      for (int64_t i = 0; i < size; ++i) idx.push_back(i);
    }
    return idx;
  }

  void collect(size_t dim, int64_t base, std::vector<T>& out) const {
    if (dim == sizes.size()) {
      out.push_back(values[base]);
      return;
    }
    for (int64_t i : shown_indices(sizes[dim]))
      if (i >= 0) collect(dim + 1, base + i * strides[dim], out);
  }

  std::string render(size_t dim, int64_t base, size_t indent, const Formatter<T>& f) const {
    if (dim == sizes.size()) return f.format(values[base]);
    const auto idx = shown_indices(sizes[dim]);
    std::string s = "[";
    if (dim + 1 == sizes.size()) {
      // Innermost dim: as many elements per line as fit in kLineWidth after this depth's indent
      // (PyTorch: (linewidth - indent) // (width + 2), the ellipsis counting as one).
      const size_t depth_indent = std::min(kLineWidth - 1, indent + dim);
      const size_t per_line = std::max<size_t>(1, (kLineWidth - depth_indent) / (f.width() + 2));
      size_t on_line = 0;
      for (size_t n = 0; n < idx.size(); ++n) {
        if (n > 0) {
          s += ",";
          if (on_line == per_line) {
            s += '\n';
            s.append(indent + dim + 1, ' ');
            on_line = 0;
          } else {
            s += " ";
          }
        }
        s += idx[n] < 0 ? std::string(" ...") : f.format(values[base + idx[n] * strides[dim]]);
        ++on_line;
      }
    } else {
      std::string sep(1, ',');
      sep.append(sizes.size() - dim - 1, '\n');
      sep.append(indent + dim + 1, ' ');
      for (size_t n = 0; n < idx.size(); ++n) {
        if (n > 0) s += sep;
        s += idx[n] < 0 ? std::string("...") : render(dim + 1, base + idx[n] * strides[dim], indent, f);
      }
    }
    return s + "]";
  }
};


template <class T>
std::string render_values(const Tensor& t, bool summarize, size_t indent) {
  const std::vector<T> values = t.to_vector<T>();
  Printer<T> p{values, t.sizes(), contiguous_strides(t.sizes()), summarize};
  std::vector<T> shown;
  p.collect(0, 0, shown);
  return p.render(0, 0, indent, Formatter<T>(t.dtype(), shown));
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  const bool summarize = numel() > kThreshold;
  const size_t indent = 7;  // "tensor("
  std::string out = "tensor(";
  if (numel() == 0) out += "[]";
  else if (dtype() == kInt64) out += render_values<int64_t>(*this, summarize, indent);
  else out += render_values<double>(*this, summarize, indent);
  // Suffixes in PyTorch's order. Without elements the dtype cannot be told from the values.
  std::vector<std::string> suffixes;
  if (!device().is_cpu()) suffixes.push_back("device='" + device().str() + "'");
  if (numel() == 0 ? dim() != 1 : summarize) {
    std::string size = "size=(";
    for (int64_t i = 0; i < dim(); ++i) size += (i ? ", " : "") + std::to_string(sizes()[i]);
    suffixes.push_back(size + (dim() == 1 ? ",)" : ")"));
  }
  const bool default_dtype =
      numel() == 0 ? dtype() == kFloat32 : dtype() == kFloat32 || dtype() == kInt64 || dtype() == kBool;
  if (!default_dtype) suffixes.push_back(std::string("dtype=") + dtype_name(dtype()));
  if (grad_fn()) suffixes.push_back("grad_fn=<" + autograd::backward_name(*grad_fn()) + ">");
  else if (requires_grad()) suffixes.push_back("requires_grad=True");
  // A suffix that would pass kLineWidth goes on a new line (PyTorch's _add_suffixes, whose
  // last-line length counts 2 more than the characters when there is no newline yet).
  const size_t nl = out.rfind('\n');
  size_t last_line = nl == std::string::npos ? out.size() + 2 : out.size() - nl + 1;
  for (const std::string& suffix : suffixes) {
    if (last_line + suffix.size() + 2 > kLineWidth) {
      out += ",\n" + std::string(indent, ' ') + suffix;
      last_line = indent + suffix.size();
    } else {
      out += ", " + suffix;
      last_line += suffix.size() + 2;
    }
  }
  return out + ")";
}

}  // namespace tg
