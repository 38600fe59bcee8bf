// Printing like PyTorch's repr: tensor([[ 0.1000, -2.0000], ...]), summarized beyond 1000
// elements (3 at each edge), with dtype/device/autograd state and the shape where not obvious.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "../autograd/node.h"
#include "native.h"

namespace tg {

namespace {

constexpr int64_t kThreshold = 1000;
constexpr int64_t kEdgeItems = 3;
constexpr size_t kLineWidth = 80;

class Formatter {
 public:
  Formatter(DType dtype, const std::vector<double>& shown) : dtype_(dtype) {
    if (is_floating(dtype)) {
      double max_abs = 0, min_abs = INFINITY;
      bool any_finite = false;
      int_mode_ = true;
      for (double v : shown) {
        if (!std::isfinite(v)) continue;
        any_finite = true;
        if (v != std::floor(v)) int_mode_ = false;
        const double a = std::abs(v);
        if (a > 0) {
          max_abs = std::max(max_abs, a);
          min_abs = std::min(min_abs, a);
        }
      }
      if (!any_finite) int_mode_ = true;
      if (int_mode_) sci_ = max_abs > 1e8;
      else sci_ = max_abs > 1e8 || (min_abs < 1e-4) || (min_abs > 0 && max_abs / min_abs > 1000.0);
    }
    for (double v : shown) width_ = std::max(width_, raw(v).size());
  }

  std::string format(double v) const {
    std::string s = raw(v);
    s.insert(0, width_ - s.size(), ' ');
    return s;
  }
  size_t width() const { return width_; }

 private:
  std::string raw(double v) const {
    char buf[64];
    if (dtype_ == DType::Bool) return v != 0 ? "True" : "False";
    if (dtype_ == DType::Int64) {
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
      return buf;
    }
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (sci_) std::snprintf(buf, sizeof buf, "%.4e", v);
    else if (int_mode_) std::snprintf(buf, sizeof buf, "%.0f.", v);
    else std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
  }

  DType dtype_;
  bool int_mode_ = false, sci_ = false;
  size_t width_ = 0;
};

struct Printer {
  const std::vector<double>& values;
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

  void collect(size_t dim, int64_t base, std::vector<double>& out) const {
    if (dim == sizes.size()) {
      out.push_back(values[base]);
      return;
    }
    for (int64_t i : shown_indices(sizes[dim]))
      if (i >= 0) collect(dim + 1, base + i * strides[dim], out);
  }

  std::string render(size_t dim, int64_t base, size_t indent, const Formatter& f) const {
    if (dim == sizes.size()) return f.format(values[base]);
    const auto idx = shown_indices(sizes[dim]);
    std::string s = "[";
    if (dim + 1 == sizes.size()) {
      // Innermost dim: wrap lines at kLineWidth.
      const size_t per_line = std::max<size_t>(1, (kLineWidth - std::min(kLineWidth - 1, indent + dim + 1)) / (f.width() + 2));
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
        s += idx[n] < 0 ? std::string("...") : f.format(values[base + idx[n] * strides[dim]]);
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

std::string backward_name(const char* op) {
  std::string out;
  bool upper = true;
  for (const char* p = op; *p; ++p) {
    if (*p == '_') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(*p))) : *p;
    upper = false;
  }
  return out + "Backward";
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  const std::vector<double> values = to_vector<double>();
  const bool summarize = numel() > kThreshold;
  Printer p{values, sizes(), contiguous_strides(sizes()), summarize};
  std::vector<double> shown;
  if (numel() > 0) p.collect(0, 0, shown);
  Formatter f(dtype(), shown);
  std::ostringstream os;
  os << "tensor(";
  if (numel() == 0) os << "[]";
  else os << p.render(0, 0, 7, f);
  if (numel() == 0 ? dim() != 1 : summarize) os << ", shape=" << sizes();
  if (dtype() != kFloat32 && dtype() != kInt64 && dtype() != kBool) os << ", dtype=" << dtype();
  if (!device().is_cpu()) os << ", device='" << device() << "'";
  if (grad_fn()) os << ", grad_fn=<" << backward_name(grad_fn()->name) << ">";
  else if (requires_grad()) os << ", requires_grad=True";
  os << ")";
  return os.str();
}

}  // namespace tg
