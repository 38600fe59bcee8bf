// Tensor's differentiable methods and operators: each forwards to the tg:: function of the same
// name (autograd/functions.h), so there is one implementation of each op.
#include "../core/native.h"
#include "functions.h"

namespace tg {

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  autograd::run_backward({*this}, {gradient}, retain_graph, create_graph);
}

Tensor Tensor::view(const Shape& shape) const { return tg::view(*this, shape); }
Tensor Tensor::reshape(const Shape& shape) const { return tg::reshape(*this, shape); }
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return tg::reshape(*this, {1});
  const int64_t s = wrap_dim("flatten", start_dim, dim()), e = wrap_dim("flatten", end_dim, dim());
  TG_CHECK(s <= e, Value, "flatten: start_dim ", start_dim, " cannot come after end_dim ", end_dim);
  Shape shape(sizes().begin(), sizes().begin() + s);
  int64_t n = 1;
  for (int64_t i = s; i <= e; ++i) n *= sizes()[i];
  shape.push_back(n);
  shape.insert(shape.end(), sizes().begin() + e + 1, sizes().end());
  return tg::reshape(*this, shape);
}
Tensor Tensor::transpose(int64_t d0, int64_t d1) const { return tg::transpose(*this, d0, d1); }
Tensor Tensor::t() const {
  TG_CHECK(dim() <= 2, Value, "t: expects a tensor with <= 2 dims, got ", dim(), " (shape ", sizes(),
           "); use transpose()");
  return dim() < 2 ? *this : tg::transpose(*this, 0, 1);
}
Tensor Tensor::permute(const Shape& dims) const { return tg::permute(*this, dims); }
Tensor Tensor::squeeze() const { return tg::squeeze(*this); }
Tensor Tensor::squeeze(int64_t d) const { return tg::squeeze(*this, d); }
Tensor Tensor::unsqueeze(int64_t d) const { return tg::unsqueeze(*this, d); }
Tensor Tensor::expand(const Shape& shape) const { return tg::expand(*this, shape); }
Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  TG_CHECK(dim() > 0, Index, "narrow: cannot narrow a 0-dim tensor");
  const int64_t w = wrap_dim("narrow", d, dim());
  const int64_t size = sizes()[w];
  const int64_t begin = start < 0 ? start + size : start;
  TG_CHECK(begin >= 0 && length >= 0 && begin + length <= size, Index, "narrow: start ", start,
           " and length ", length, " are out of range for dim ", w, " of size ", size);
  return tg::slice(*this, w, begin, begin + length);
}
Tensor Tensor::slice(int64_t d, std::optional<int64_t> start, std::optional<int64_t> end,
                     int64_t step) const {
  TG_CHECK(dim() > 0, Index, "slice: cannot slice a 0-dim tensor");
  const int64_t size = sizes()[wrap_dim("slice", d, dim())];
  return tg::slice(*this, d, start.value_or(0), end.value_or(size), step);
}
Tensor Tensor::select(int64_t d, int64_t index) const { return tg::select(*this, d, index); }
Tensor Tensor::contiguous() const { return tg::contiguous(*this); }
Tensor Tensor::clone() const { return tg::clone(*this); }
Tensor Tensor::to(DType t) const { return tg::to(*this, t); }
Tensor Tensor::to(Device d) const { return tg::to(*this, d); }

Tensor Tensor::add(const Tensor& o, double alpha) const { return tg::add(*this, o, alpha); }
Tensor Tensor::sub(const Tensor& o, double alpha) const { return tg::sub(*this, o, alpha); }
Tensor Tensor::mul(const Tensor& o) const { return tg::mul(*this, o); }
Tensor Tensor::div(const Tensor& o) const { return tg::div(*this, o); }
Tensor Tensor::pow(const Tensor& e) const { return tg::pow(*this, e); }
Tensor Tensor::pow(double e) const { return tg::pow(*this, e); }
Tensor Tensor::neg() const { return tg::neg(*this); }
Tensor Tensor::exp() const { return tg::exp(*this); }
Tensor Tensor::log() const { return tg::log(*this); }
Tensor Tensor::sqrt() const { return tg::sqrt(*this); }
Tensor Tensor::abs() const { return tg::abs(*this); }
Tensor Tensor::clamp(std::optional<double> lo, std::optional<double> hi) const { return tg::clamp(*this, lo, hi); }
Tensor Tensor::tanh() const { return tg::tanh(*this); }
Tensor Tensor::sigmoid() const { return tg::sigmoid(*this); }
Tensor Tensor::relu() const { return tg::relu(*this); }
Tensor Tensor::eq(const Tensor& o) const { return tg::eq(*this, o); }
Tensor Tensor::ne(const Tensor& o) const { return tg::ne(*this, o); }
Tensor Tensor::lt(const Tensor& o) const { return tg::lt(*this, o); }
Tensor Tensor::le(const Tensor& o) const { return tg::le(*this, o); }
Tensor Tensor::gt(const Tensor& o) const { return tg::gt(*this, o); }
Tensor Tensor::ge(const Tensor& o) const { return tg::ge(*this, o); }
Tensor Tensor::sum() const { return tg::sum(*this); }
Tensor Tensor::sum(const Shape& dims, bool keepdim) const { return tg::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return tg::mean(*this); }
Tensor Tensor::mean(const Shape& dims, bool keepdim) const { return tg::mean(*this, dims, keepdim); }
Tensor Tensor::var() const { return tg::var(*this); }
Tensor Tensor::var(const Shape& dims, int64_t correction, bool keepdim) const {
  return tg::var(*this, dims, correction, keepdim);
}
Tensor Tensor::max() const { return tg::amax(*this); }
Tensor Tensor::min() const { return tg::amin(*this); }
std::tuple<Tensor, Tensor> Tensor::max(int64_t d, bool keepdim) const { return tg::max(*this, d, keepdim); }
std::tuple<Tensor, Tensor> Tensor::min(int64_t d, bool keepdim) const { return tg::min(*this, d, keepdim); }
Tensor Tensor::argmax(std::optional<int64_t> d, bool keepdim) const { return tg::argmax(*this, d, keepdim); }
Tensor Tensor::argmin(std::optional<int64_t> d, bool keepdim) const { return tg::argmin(*this, d, keepdim); }
Tensor Tensor::matmul(const Tensor& o) const { return tg::matmul(*this, o); }
Tensor Tensor::softmax(int64_t d) const { return tg::softmax(*this, d); }
Tensor Tensor::log_softmax(int64_t d) const { return tg::log_softmax(*this, d); }
Tensor Tensor::index_select(int64_t d, const Tensor& index) const { return tg::index_select(*this, d, index); }
Tensor Tensor::gather(int64_t d, const Tensor& index) const { return tg::gather(*this, d, index); }
Tensor Tensor::scatter_add(int64_t d, const Tensor& index, const Tensor& src) const {
  return tg::scatter_add(*this, d, index, src);
}
Tensor Tensor::masked_fill(const Tensor& mask, double value) const { return tg::masked_fill(*this, mask, value); }
std::vector<Tensor> Tensor::split(int64_t size, int64_t d) const { return tg::split(*this, size, d); }
std::vector<Tensor> Tensor::chunk(int64_t chunks, int64_t d) const { return tg::chunk(*this, chunks, d); }

const Tensor& Tensor::add_(const Tensor& o, double alpha) const { return tg::add_(*this, o, alpha); }
const Tensor& Tensor::add_(double v) const { return tg::add_scalar_(*this, v); }
const Tensor& Tensor::sub_(const Tensor& o, double alpha) const { return tg::sub_(*this, o, alpha); }
const Tensor& Tensor::mul_(const Tensor& o) const { return tg::mul_(*this, o); }
const Tensor& Tensor::mul_(double v) const { return tg::mul_scalar_(*this, v); }
const Tensor& Tensor::div_(const Tensor& o) const { return tg::div_(*this, o); }
const Tensor& Tensor::zero_() const { return tg::fill_(*this, 0.0); }
const Tensor& Tensor::fill_(double v) const { return tg::fill_(*this, v); }
const Tensor& Tensor::copy_(const Tensor& src) const { return tg::copy_(*this, src); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator-(const Tensor& a, double b) { return add(a, -b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator/(const Tensor& a, double b) {
  return is_floating(a.dtype()) ? mul(a, 1.0 / b) : div(a, native::scalar_like(a, b));
}
Tensor operator+(double a, const Tensor& b) { return add(b, a); }
Tensor operator-(double a, const Tensor& b) { return rsub(b, a); }
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
Tensor operator/(double a, const Tensor& b) { return rdiv(b, a); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, double b) { return eq(a, native::scalar_like(a, b)); }
Tensor operator!=(const Tensor& a, double b) { return ne(a, native::scalar_like(a, b)); }
Tensor operator<(const Tensor& a, double b) { return lt(a, native::scalar_like(a, b)); }
Tensor operator<=(const Tensor& a, double b) { return le(a, native::scalar_like(a, b)); }
Tensor operator>(const Tensor& a, double b) { return gt(a, native::scalar_like(a, b)); }
Tensor operator>=(const Tensor& a, double b) { return ge(a, native::scalar_like(a, b)); }
const Tensor& operator+=(const Tensor& a, const Tensor& b) { return a.add_(b); }
const Tensor& operator-=(const Tensor& a, const Tensor& b) { return a.sub_(b); }
const Tensor& operator*=(const Tensor& a, const Tensor& b) { return a.mul_(b); }
const Tensor& operator/=(const Tensor& a, const Tensor& b) { return a.div_(b); }
const Tensor& operator+=(const Tensor& a, double b) { return a.add_(b); }
const Tensor& operator*=(const Tensor& a, double b) { return a.mul_(b); }

}  // namespace tg
