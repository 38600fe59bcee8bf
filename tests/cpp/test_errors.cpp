// Every user error throws tg::Error (never crashes or aborts) with the right kind and a message
// that names the op and the offending values.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "data/idx.h"

namespace {

using tg::Shape;
using tg::Tensor;
using Kind = tg::Error::Kind;

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Value: return "Value";
    case Kind::Type: return "Type";
    case Kind::Index: return "Index";
    case Kind::Runtime: return "Runtime";
  }
  return "?";
}

// Runs `f`, which must throw tg::Error of `kind` whose message contains every one of `parts`.
// Returns the message ("" when the check failed).
std::string expect_error(const std::function<void()>& f, Kind kind,
                         const std::vector<std::string>& parts, const char* code) {
  try {
    f();
  } catch (const tg::Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(kind_name(e.kind()), std::string(kind_name(kind))) << code << "\n  message: " << msg;
    for (const std::string& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos)
          << code << "\n  message: " << msg << "\n  does not contain: " << p;
    return msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << code << " threw a non-tg exception: " << e.what();
    return "";
  } catch (...) {
    ADD_FAILURE() << code << " threw something that is not a std::exception";
    return "";
  }
  ADD_FAILURE() << code << " did not throw";
  return "";
}

#define EXPECT_TG_ERROR(stmt, kind, ...) \
  expect_error([&] { (void)(stmt); }, Kind::kind, {__VA_ARGS__}, #stmt)

Tensor i64(const std::vector<int64_t>& v, const Shape& shape) { return tg::tensor(v, shape); }
Tensor i64(const std::vector<int64_t>& v) { return tg::tensor(v, {static_cast<int64_t>(v.size())}); }

// ---------------------------------------------------------------- broadcasting

TEST(Errors, ShapesThatDoNotBroadcast) {
  Tensor a = tg::zeros({2, 3}), b = tg::zeros({4});
  EXPECT_TG_ERROR(a + b, Value, "add", "[2, 3]", "[4]");
  EXPECT_TG_ERROR(tg::add(a, b, 2.0), Value, "add", "[2, 3]", "[4]");
  EXPECT_TG_ERROR(a - b, Value, "sub", "[2, 3]", "[4]");
  EXPECT_TG_ERROR(a * b, Value, "mul", "[2, 3]", "[4]");
  EXPECT_TG_ERROR(a / b, Value, "div", "[2, 3]", "[4]");
  EXPECT_TG_ERROR(tg::pow(a, b), Value, "pow", "[2, 3]", "[4]");
  EXPECT_TG_ERROR(tg::maximum(a, b), Value, "maximum", "[2, 3]", "[4]");
  EXPECT_TG_ERROR(a == b, Value, "eq", "[2, 3]", "[4]");
  EXPECT_TG_ERROR(a < b, Value, "lt", "[2, 3]", "[4]");
  EXPECT_TG_ERROR(tg::logical_and(a > 0, b > 0), Value, "logical_and", "[2, 3]", "[4]");
  EXPECT_TG_ERROR(tg::where(a > 0, a, b), Value, "where", "[2, 3]", "[4]");
  EXPECT_TG_ERROR(tg::where(b > 0, a, a), Value, "where", "[4]", "[2, 3]");
  EXPECT_TG_ERROR(tg::zeros({2, 3, 5}) + tg::zeros({4, 1}), Value, "add", "[2, 3, 5]", "[4, 1]");
  EXPECT_TG_ERROR(tg::zeros({0}) + tg::zeros({2}), Value, "add", "[0]", "[2]");
  EXPECT_TG_ERROR(a.masked_fill(tg::zeros({3, 3}, tg::kBool), 1.0), Value, "masked_fill", "[3, 3]",
                  "[2, 3]");
}

TEST(Errors, BoolSubtraction) {
  // As PyTorch: subtracting bools is an error (use logical_xor / logical_not).
  Tensor m = tg::tensor({1, 0}, tg::kBool);
  EXPECT_TG_ERROR(m - m, Type, "sub", "bool");
  EXPECT_TG_ERROR(m.sub_(m), Type, "sub_", "bool");
  EXPECT_TG_ERROR(tg::sub(m, tg::scalar_tensor(1, tg::kBool)), Type, "sub", "bool");
}

TEST(Errors, InPlaceOperandMustBroadcastToSelf) {
  Tensor x = tg::zeros({3});
  EXPECT_TG_ERROR(x.add_(tg::zeros({2, 3})), Value, "add_", "[2, 3]", "[3]");
  EXPECT_TG_ERROR(x.sub_(tg::zeros({4})), Value, "sub_", "[4]", "[3]");
  EXPECT_TG_ERROR(x.mul_(tg::zeros({2, 1})), Value, "mul_", "[2, 1]", "[3]");
  EXPECT_TG_ERROR(x.div_(tg::zeros({5})), Value, "div_", "[5]", "[3]");
  EXPECT_TG_ERROR(x.copy_(tg::zeros({2})), Value, "copy_", "[2]", "[3]");
  EXPECT_TG_ERROR(x.copy_(tg::zeros({2, 3})), Value, "copy_", "[2, 3]", "[3]");
  // In place cannot change the dtype of self.
  Tensor i = tg::zeros({3}, tg::kInt64);
  EXPECT_TG_ERROR(i.add_(tg::zeros({3})), Type, "add_", "float32", "int64");
  EXPECT_TG_ERROR(i.mul_(0.5), Type, "mul_", "float32", "int64");
  EXPECT_TG_ERROR(i.div_(i), Type, "div_", "float32", "int64");
  EXPECT_TG_ERROR(tg::zeros({2}, tg::kBool).add_(i64({1, 2})), Type, "add_", "int64", "bool");
  EXPECT_TG_ERROR(tg::zeros({2}, tg::kInt64).add_(tg::scalar_tensor(0.5)), Type, "add_", "float32",
                  "int64");
  // Nothing was written by the failed calls.
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{0, 0, 0}));
}

// ---------------------------------------------------------------- matmul

TEST(Errors, MatmulShapeMismatch) {
  const std::string msg =
      EXPECT_TG_ERROR(tg::zeros({32, 784}).matmul(tg::zeros({512, 10})), Value, "matmul");
  EXPECT_EQ(msg, "matmul: shapes [32, 784] and [512, 10] cannot be multiplied (784 != 512)");
  EXPECT_TG_ERROR(tg::matmul(tg::zeros({3}), tg::zeros({4})), Value, "matmul", "[3]", "[4]",
                  "3 != 4");
  EXPECT_TG_ERROR(tg::matmul(tg::zeros({3}), tg::zeros({4, 2})), Value, "matmul", "[3]", "[4, 2]");
  EXPECT_TG_ERROR(tg::matmul(tg::zeros({2, 5}), tg::zeros({4})), Value, "matmul", "[2, 5]", "[4]");
  EXPECT_TG_ERROR(tg::matmul(tg::zeros({7, 2, 3}), tg::zeros({7, 4, 5})), Value, "matmul",
                  "[7, 2, 3]", "[7, 4, 5]", "3 != 4");
  // Batch dims that do not broadcast: the message shows both operands.
  EXPECT_TG_ERROR(tg::matmul(tg::zeros({2, 3, 4}), tg::zeros({5, 4, 6})), Value, "matmul",
                  "[2, 3, 4]", "[5, 4, 6]");
  EXPECT_TG_ERROR(tg::matmul(tg::scalar_tensor(1), tg::zeros({3})), Value, "matmul", "[]", "[3]");
}

// ---------------------------------------------------------------- dtypes

TEST(Errors, DtypeMismatch) {
  EXPECT_TG_ERROR(tg::zeros({2, 2}).matmul(tg::zeros({2, 2}, tg::kFloat64)), Type, "matmul",
                  "float32", "float64");
  EXPECT_TG_ERROR(tg::zeros({2, 2}, tg::kInt64).matmul(tg::zeros({2, 2}, tg::kInt64)), Type,
                  "matmul", "int64");
  EXPECT_TG_ERROR(tg::zeros({2}, tg::kInt64).requires_grad_(), Type, "requires_grad", "int64");
  EXPECT_TG_ERROR(tg::zeros({2}, tg::kBool).requires_grad_(), Type, "requires_grad", "bool");
  EXPECT_TG_ERROR(tg::zeros({2}, tg::TensorOptions(tg::kInt64).requires_grad()), Type,
                  "requires_grad", "int64");
  EXPECT_TG_ERROR(tg::arange(3, tg::TensorOptions(tg::kInt64).requires_grad()), Type,
                  "requires_grad", "int64");
  EXPECT_TG_ERROR(tg::rand({2}, tg::kInt64), Type, "rand", "int64");
  EXPECT_TG_ERROR(tg::randn({2}, tg::kBool), Type, "randn", "bool");
  EXPECT_TG_ERROR(tg::randint(0, 2, {2}, tg::kBool), Type, "randint", "bool");
  EXPECT_TG_ERROR(tg::mean(tg::zeros({2}, tg::kInt64)), Type, "mean", "int64");
  EXPECT_TG_ERROR(tg::var(tg::zeros({2}, tg::kInt64)), Type, "var", "int64");
  EXPECT_TG_ERROR(tg::softmax(tg::zeros({2}, tg::kInt64), 0), Type, "softmax", "int64");
  EXPECT_TG_ERROR(tg::log_softmax(tg::zeros({2}, tg::kInt64), 0), Type, "log_softmax", "int64");
  EXPECT_TG_ERROR(tg::zeros({2}).data_ptr<double>(), Type, "data_ptr", "float32", "float64");
}

TEST(Errors, IndexTensorMustBeInt64) {
  Tensor x = tg::zeros({3, 4});
  EXPECT_TG_ERROR(x.index_select(0, tg::tensor({0, 1})), Type, "index_select", "int64", "float32");
  EXPECT_TG_ERROR(x.gather(1, tg::zeros({3, 1})), Type, "gather", "int64", "float32");
  EXPECT_TG_ERROR(x.gather(1, tg::zeros({3, 1}, tg::kBool)), Type, "gather", "int64", "bool");
  EXPECT_TG_ERROR(x.scatter_add(1, tg::zeros({3, 1}, tg::kFloat64), tg::zeros({3, 1})), Type,
                  "scatter_add", "int64", "float64");
  EXPECT_TG_ERROR(tg::embedding(x, tg::tensor({0, 1})), Type, "embedding", "int64", "float32");
  EXPECT_TG_ERROR(x.masked_fill(tg::zeros({3, 4}), 1.0), Type, "masked_fill", "bool", "float32");
  EXPECT_TG_ERROR(tg::where(tg::zeros({3, 4}), x, x), Type, "where", "bool", "float32");
}

// ---------------------------------------------------------------- devices

TEST(Errors, NegationOfBool) {
  EXPECT_TG_ERROR(tg::neg(tg::tensor({1, 0}, tg::kBool)), Type, "neg", "bool", "logical_not");
}

TEST(Errors, DeviceUnavailableOrMismatched) {
  EXPECT_TG_ERROR(tg::Device("gpu"), Value, "device", "gpu");
  EXPECT_TG_ERROR(tg::Device("cuda:x"), Value, "device", "cuda:x");
  EXPECT_TG_ERROR(tg::Device("cpu:1"), Value, "device", "cpu:1");
  EXPECT_EQ(tg::Device("cpu:0"), tg::Device("cpu"));  // PyTorch's spelling of the one CPU
  if (tg::kernels::cuda_kernels() == nullptr) {
    // This build has no CUDA backend: creating or moving a tensor there is a clear error.
    EXPECT_TG_ERROR(tg::zeros({2}, tg::Device("cuda")), Runtime, "cuda", "without support");
    EXPECT_TG_ERROR(tg::ones({2}, tg::Device(tg::kCUDA, 1)), Runtime, "cuda:1");
    EXPECT_TG_ERROR(tg::rand({2}, tg::Device("cuda")), Runtime, "cuda");
    EXPECT_TG_ERROR(tg::tensor({1, 2}, tg::Device("cuda")), Runtime, "cuda");
    EXPECT_TG_ERROR(tg::zeros({2}).cuda(), Runtime, "cuda");
    EXPECT_TG_ERROR(tg::zeros({2}).to(tg::Device("cuda:0")), Runtime, "cuda:0");
    EXPECT_TG_ERROR(tg::eye(2, std::nullopt, tg::Device("cuda")), Runtime, "cuda");
    return;
  }
  Tensor g;
  try {
    g = tg::ones({2}, tg::Device("cuda"));
  } catch (const tg::Error& e) {
    GTEST_SKIP() << "CUDA backend built but no usable device: " << e.what();
  }
  Tensor c = tg::ones({2});
  EXPECT_TG_ERROR(c + g, Runtime, "add", "cpu", "cuda:0");
  EXPECT_TG_ERROR(g * c, Runtime, "mul", "cpu", "cuda:0");
  EXPECT_TG_ERROR(tg::matmul(c, g), Runtime, "matmul", "cpu", "cuda:0");
  EXPECT_TG_ERROR(c.index_select(0, i64({0}).cuda()), Runtime, "index_select", "cpu", "cuda:0");
  EXPECT_TG_ERROR(tg::cat({c, g}), Runtime, "cat", "cpu", "cuda:0");
  EXPECT_TG_ERROR(g.data_ptr<float>(), Runtime, "data_ptr", "cuda:0");
}

// ---------------------------------------------------------------- dims

TEST(Errors, DimOutOfRange) {
  Tensor x = tg::zeros({2, 3});
  EXPECT_TG_ERROR(x.sum(5), Index, "sum", "5", "-2", "1");
  EXPECT_TG_ERROR(x.sum(-3), Index, "sum", "-3");
  EXPECT_TG_ERROR(x.sum(Shape{0, 2}), Index, "sum", "2");
  EXPECT_TG_ERROR(x.mean(2), Index, "mean", "2");
  EXPECT_TG_ERROR(x.var(Shape{-5}), Index, "var", "-5");
  EXPECT_TG_ERROR(x.max(2), Index, "max", "2");
  EXPECT_TG_ERROR(x.min(-3), Index, "min", "-3");
  EXPECT_TG_ERROR(x.argmax(2), Index, "argmax", "2");
  EXPECT_TG_ERROR(tg::amax(x, {3}), Index, "amax", "3");
  EXPECT_TG_ERROR(x.transpose(0, 2), Index, "transpose", "2");
  EXPECT_TG_ERROR(x.transpose(-3, 0), Index, "transpose", "-3");
  EXPECT_TG_ERROR(x.softmax(2), Index, "softmax", "2");
  EXPECT_TG_ERROR(x.log_softmax(-3), Index, "log_softmax", "-3");
  EXPECT_TG_ERROR(x.unsqueeze(3), Index, "unsqueeze", "3");
  EXPECT_TG_ERROR(x.unsqueeze(-4), Index, "unsqueeze", "-4");
  EXPECT_TG_ERROR(x.squeeze(2), Index, "squeeze", "2");
  EXPECT_TG_ERROR(x.select(2, 0), Index, "select", "2");
  EXPECT_TG_ERROR(x.narrow(2, 0, 1), Index, "narrow", "2");
  EXPECT_TG_ERROR(x.slice(-3, 0, 1), Index, "slice", "-3");
  EXPECT_TG_ERROR(x.flatten(0, 2), Index, "flatten", "2");
  EXPECT_TG_ERROR(x.permute({0, 2}), Index, "permute", "2");
  EXPECT_TG_ERROR(x.index_select(2, i64({0})), Index, "index_select", "2");
  EXPECT_TG_ERROR(x.gather(2, i64({0, 0}, {2, 1})), Index, "gather", "2");
  EXPECT_TG_ERROR(tg::cat({x, x}, 2), Index, "cat", "2");
  EXPECT_TG_ERROR(tg::stack({x, x}, 3), Index, "stack", "3");
  EXPECT_TG_ERROR(x.split(1, 2), Index, "split", "2");
  EXPECT_TG_ERROR(x.chunk(2, -3), Index, "chunk", "-3");
  EXPECT_TG_ERROR(x.size(2), Index, "size", "2");
  EXPECT_TG_ERROR(x.stride(-3), Index, "stride", "-3");
  EXPECT_TG_ERROR(tg::scalar_tensor(1).size(0), Index, "size", "0-dim");
  EXPECT_TG_ERROR(tg::scalar_tensor(1).stride(-1), Index, "stride", "0-dim");
  EXPECT_TG_ERROR(tg::scalar_tensor(1).sum(1), Index, "sum", "1");
  EXPECT_TG_ERROR(tg::scalar_tensor(1).softmax(1), Index, "softmax", "1");
  // Repeated dims.
  EXPECT_TG_ERROR(x.sum(Shape{1, -1}), Value, "sum", "more than once");
  EXPECT_TG_ERROR(x.permute({1, 1}), Value, "permute", "repeated");
  EXPECT_TG_ERROR(x.permute({0}), Value, "permute", "[0]", "[2, 3]");
  EXPECT_TG_ERROR(tg::zeros({2, 3, 4}).t(), Value, "t", "3");
  EXPECT_TG_ERROR(x.flatten(1, 0), Value, "flatten", "1", "0");
}

// ---------------------------------------------------------------- indices

TEST(Errors, IndexOutOfRange) {
  Tensor x = tg::zeros({3, 4});
  EXPECT_TG_ERROR(x.select(0, 3), Index, "select", "3", "size 3");
  EXPECT_TG_ERROR(x.select(1, -5), Index, "select", "-5", "4");
  EXPECT_TG_ERROR(tg::scalar_tensor(1).select(0, 0), Index, "select");
  EXPECT_TG_ERROR(x.index_select(0, i64({0, 5})), Index, "index_select", "5", "3");
  EXPECT_TG_ERROR(x.index_select(0, i64({-1})), Index, "index_select", "-1", "3");
  EXPECT_TG_ERROR(x.index_select(1, i64({4})), Index, "index_select", "4", "size 4");
  EXPECT_TG_ERROR(x.gather(1, i64({0, 4, 0}, {3, 1})), Index, "gather", "4", "4");
  EXPECT_TG_ERROR(x.gather(0, i64({-1}, {1, 1})), Index, "gather", "-1");
  EXPECT_TG_ERROR(x.scatter_add(0, i64({3}, {1, 1}), tg::ones({1, 1})), Index, "scatter_add", "3");
  EXPECT_TG_ERROR(x.scatter_add(1, i64({-2}, {1, 1}), tg::ones({1, 1})), Index, "scatter_add", "-2");
  EXPECT_TG_ERROR(tg::embedding(x, i64({0, 3})), Index, "embedding", "3");
  EXPECT_TG_ERROR(tg::embedding(x, i64({-1})), Index, "embedding", "-1");
  EXPECT_TG_ERROR(x.narrow(0, 2, 3), Index, "narrow", "2", "3");
  EXPECT_TG_ERROR(x.narrow(1, -5, 1), Index, "narrow", "-5");
  EXPECT_TG_ERROR(x.narrow(1, 0, -1), Index, "narrow", "-1");
  // The failed scatter_add did not touch its base.
  EXPECT_EQ(x.sum().item(), 0);
}

TEST(Errors, IndexShapes) {
  Tensor x = tg::zeros({3, 4});
  EXPECT_TG_ERROR(x.index_select(0, i64({0, 1}, {1, 2})), Value, "index_select", "[1, 2]");
  EXPECT_TG_ERROR(x.gather(1, i64({0, 0}, {2})), Value, "gather", "[2]");
  EXPECT_TG_ERROR(x.gather(1, i64({0, 0, 0, 0}, {4, 1})), Value, "gather", "[4, 1]", "[3, 4]");
  EXPECT_TG_ERROR(x.scatter_add(1, i64({0, 0}, {2, 1}), tg::ones({1, 1})), Value, "scatter_add",
                  "[2, 1]", "[1, 1]");
  EXPECT_TG_ERROR(x.scatter_add(1, i64({0}, {1, 1}), tg::ones({1})), Value, "scatter_add", "[1]",
                  "[1, 1]");
  EXPECT_TG_ERROR(tg::embedding(tg::zeros({4}), i64({0})), Value, "embedding", "[4]");
}

// ---------------------------------------------------------------- shapes

TEST(Errors, ViewWithIncompatibleShape) {
  Tensor x = tg::zeros({2, 3});
  EXPECT_TG_ERROR(x.view({5}), Value, "view", "[5]", "6");
  EXPECT_TG_ERROR(x.view({4, -1}), Value, "view", "[4, -1]", "6");
  EXPECT_TG_ERROR(x.t().view({6}), Runtime, "view", "[6]", "[3, 2]", "reshape");
  EXPECT_TG_ERROR(x.view({-2, 3}), Value, "view", "-2");
}

TEST(Errors, ReshapeInvalid) {
  Tensor x = tg::zeros({2, 3});
  EXPECT_TG_ERROR(x.reshape({-1, -1}), Value, "reshape", "-1", "[-1, -1]");
  EXPECT_TG_ERROR(x.reshape({4, 2}), Value, "reshape", "[4, 2]", "6");
  EXPECT_TG_ERROR(x.reshape({4, -1}), Value, "reshape", "[4, -1]", "6");
  EXPECT_TG_ERROR(x.t().reshape({7}), Value, "reshape", "[7]", "6");
  EXPECT_TG_ERROR(x.reshape({2, -3}), Value, "reshape", "-3");
  EXPECT_TG_ERROR(tg::zeros({0, 3}).reshape({0, -1}), Value, "reshape", "[0, -1]");
}

TEST(Errors, ExpandMismatch) {
  Tensor x = tg::zeros({3, 1});
  EXPECT_TG_ERROR(x.expand({2, 4}), Value, "expand", "3", "2", "[2, 4]");
  EXPECT_TG_ERROR(x.expand({4}), Value, "expand", "[4]", "[3, 1]");
  EXPECT_TG_ERROR(x.expand({-1, 3, 1}), Value, "expand", "-1");
  EXPECT_TG_ERROR(x.expand({3, -2}), Value, "expand", "-2");
}

TEST(Errors, CatStackSplitChunk) {
  Tensor a = tg::zeros({2, 3}), b = tg::zeros({2, 4});
  EXPECT_TG_ERROR(tg::cat({a, b}), Value, "cat", "[2, 3]", "[2, 4]");
  EXPECT_TG_ERROR(tg::cat({a, tg::zeros({2, 3, 1})}, 1), Value, "cat", "[2, 3]", "[2, 3, 1]");
  EXPECT_TG_ERROR(tg::cat({}), Value, "cat");
  EXPECT_TG_ERROR(tg::cat({tg::scalar_tensor(1), tg::scalar_tensor(2)}), Value, "cat",
                  "zero-dimensional");
  EXPECT_TG_ERROR(tg::stack({a, b}), Value, "stack", "[2, 3]", "[2, 4]");
  EXPECT_TG_ERROR(tg::stack({}), Value, "stack");
  Tensor v = tg::zeros({5});
  EXPECT_TG_ERROR(tg::split(v, std::vector<int64_t>{2, 2}), Value, "split", "[2, 2]", "4", "5");
  EXPECT_TG_ERROR(tg::split(v, std::vector<int64_t>{3, 3}), Value, "split", "[3, 3]", "6", "5");
  EXPECT_TG_ERROR(tg::split(v, std::vector<int64_t>{6, -1}), Value, "split", "[6, -1]");
  EXPECT_TG_ERROR(v.split(0), Value, "split", "0");
  EXPECT_TG_ERROR(v.split(-2), Value, "split", "-2");
  EXPECT_TG_ERROR(v.chunk(0), Value, "chunk", "0");
  // 0-dim tensors have no dim to split (this used to read past the end of the sizes).
  EXPECT_TG_ERROR(tg::scalar_tensor(1).split(1), Value, "split", "0-dim");
  EXPECT_TG_ERROR(tg::split(tg::scalar_tensor(1), std::vector<int64_t>{1}), Value, "split", "0-dim");
  EXPECT_TG_ERROR(tg::scalar_tensor(1).chunk(1), Value, "chunk", "0-dim");
}

// ---------------------------------------------------------------- scalars

TEST(Errors, ItemOnMultiElementTensor) {
  EXPECT_TG_ERROR(tg::zeros({3}).item(), Value, "item", "3", "[3]");
  EXPECT_TG_ERROR(tg::zeros({2, 2}).item<float>(), Value, "item", "4", "[2, 2]");
  EXPECT_TG_ERROR(tg::zeros({0}).item(), Value, "item", "0");
}

// ---------------------------------------------------------------- factories

TEST(Errors, ArangeStepOfWrongSign) {
  EXPECT_TG_ERROR(tg::arange(0, 10, -1), Value, "arange", "0", "10", "-1");
  EXPECT_TG_ERROR(tg::arange(5, 0, 1), Value, "arange", "5", "0", "1");
  EXPECT_TG_ERROR(tg::arange(-3), Value, "arange", "-3");
  EXPECT_TG_ERROR(tg::arange(0, 1, 0), Value, "arange", "step");
  EXPECT_TG_ERROR(tg::arange(0, std::numeric_limits<double>::infinity()), Value, "arange", "inf");
  EXPECT_TG_ERROR(tg::arange(0, 1e15, 1e-3), Value, "arange");
}

TEST(Errors, RandintLowNotBelowHigh) {
  EXPECT_TG_ERROR(tg::randint(5, 5, {3}), Value, "randint", "5");
  EXPECT_TG_ERROR(tg::randint(6, 2, {3}), Value, "randint", "6", "2");
}

TEST(Errors, NegativeDimensions) {
  EXPECT_TG_ERROR(tg::empty({2, -1}), Value, "empty", "-1", "[2, -1]");
  EXPECT_TG_ERROR(tg::zeros({-3}), Value, "-3");
  EXPECT_TG_ERROR(tg::ones({4, -2}), Value, "-2");
  EXPECT_TG_ERROR(tg::rand({-1}), Value, "-1");
  EXPECT_TG_ERROR(tg::randn({-5, 2}), Value, "-5");
  EXPECT_TG_ERROR(tg::full({-1}, 2.0), Value, "-1");
  EXPECT_TG_ERROR(tg::eye(-2), Value, "eye", "-2");
  EXPECT_TG_ERROR(tg::eye(2, -1), Value, "eye", "-1");
  EXPECT_TG_ERROR(tg::linspace(0, 1, -1), Value, "linspace", "-1");
  EXPECT_TG_ERROR(tg::empty({int64_t(1) << 40, int64_t(1) << 40}), Value, "empty", "too many");
  float buf[1];
  EXPECT_TG_ERROR(tg::from_blob(buf, {-1}, tg::kFloat32), Value, "from_blob", "-1");
  EXPECT_TG_ERROR(tg::from_blob(buf, {int64_t(1) << 40, int64_t(1) << 40}, tg::kFloat32), Value,
                  "from_blob", "too many");
  // A size that passes the checks but cannot be allocated is a Runtime error, not a crash.
  EXPECT_TG_ERROR(tg::empty({int64_t(1) << 52}), Runtime, "out of memory", "18014398509481984");
}

TEST(Errors, TooManyDims) {
  const Shape s17(17, 1);
  EXPECT_TG_ERROR(tg::empty(s17), Value, "empty", "16", "17");
  EXPECT_TG_ERROR(tg::zeros(s17), Value, "16", "17");
  EXPECT_TG_ERROR(tg::tensor(std::vector<double>{1}, s17), Value, "16", "17");
  float buf[1];
  EXPECT_TG_ERROR(tg::from_blob(buf, s17, tg::kFloat32), Value, "from_blob", "16", "17");
  Tensor x16 = tg::zeros(Shape(16, 1));
  EXPECT_TG_ERROR(x16.unsqueeze(0), Value, "unsqueeze", "16", "17");
  EXPECT_TG_ERROR(x16.view(s17), Value, "view", "16", "17");
  EXPECT_TG_ERROR(x16.reshape(s17), Value, "reshape", "16", "17");
  EXPECT_TG_ERROR(x16.expand(s17), Value, "expand", "16", "17");
  EXPECT_TG_ERROR(tg::zeros({1}).expand(s17), Value, "expand", "16", "17");
  // 16 dims work.
  EXPECT_EQ((x16 + x16).dim(), 16);
  EXPECT_EQ(x16.sum(Shape{0, 15}).dim(), 14);
}

TEST(Errors, TensorFromBadValues) {
  EXPECT_TG_ERROR(tg::tensor(std::vector<double>{1, 2, 3}, Shape{2, 2}), Value, "tensor", "3",
                  "[2, 2]");
  EXPECT_TG_ERROR(tg::tensor(std::vector<int64_t>{1, 2}, Shape{3}), Value, "tensor", "2", "[3]");
  EXPECT_TG_ERROR(tg::tensor({{1, 2}, {3, 4, 5}}), Value, "tensor", "2", "3");
}

// ---------------------------------------------------------------- reductions

TEST(Errors, MaxOverEmptyDim) {
  Tensor e = tg::zeros({0, 3});
  EXPECT_TG_ERROR(e.max(0), Index, "max", "[0, 3]");
  EXPECT_TG_ERROR(e.min(0), Index, "min", "[0, 3]");
  EXPECT_TG_ERROR(e.argmax(0), Index, "argmax", "[0, 3]");
  EXPECT_TG_ERROR(e.argmin(0), Index, "argmin", "[0, 3]");
  EXPECT_TG_ERROR(e.max(), Index, "amax", "[0, 3]");
  EXPECT_TG_ERROR(e.min(), Index, "amin", "[0, 3]");
  EXPECT_TG_ERROR(e.argmax(), Index, "argmax");
  EXPECT_TG_ERROR(tg::amax(e, {0}), Index, "amax", "[0, 3]");
  // Over the non-empty dim the result is simply empty.
  EXPECT_EQ(std::get<0>(e.max(1)).sizes(), (Shape{0}));
}

// ---------------------------------------------------------------- other arguments

TEST(Errors, InvalidArguments) {
  Tensor x = tg::zeros({4});
  EXPECT_TG_ERROR(x.slice(0, 0, 4, 0), Value, "slice", "0");
  EXPECT_TG_ERROR(x.slice(0, 0, 4, -1), Value, "slice", "-1");
  EXPECT_TG_ERROR(tg::gelu(x, "fast"), Value, "gelu", "fast");
  EXPECT_TG_ERROR(tg::softplus(x, 0.0), Value, "softplus", "beta");
  EXPECT_TG_ERROR(tg::clamp(x, std::nullopt, std::nullopt), Value, "clamp");
  EXPECT_TG_ERROR(tg::sum_to(tg::zeros({2, 3}), {4}), Value, "sum_to", "[2, 3]", "[4]");
}

TEST(Errors, AutogradMisuse) {
  Tensor w = tg::ones({3}, tg::TensorOptions().requires_grad());
  EXPECT_TG_ERROR(w.add_(tg::ones({3})), Runtime, "add_", "leaf");
  EXPECT_TG_ERROR(w.zero_(), Runtime, "fill_", "leaf");
  Tensor y = w * 2.0;
  EXPECT_TG_ERROR(y.backward(), Runtime, "backward", "scalar", "[3]");
  EXPECT_TG_ERROR(y.backward(tg::ones({2})), Value, "backward", "[2]", "[3]");
  EXPECT_TG_ERROR(tg::zeros({1}).backward(), Runtime, "backward", "grad");
  EXPECT_TG_ERROR(y.requires_grad_(false), Runtime, "requires_grad", "leaf");
  EXPECT_TG_ERROR(w.set_grad(tg::ones({2})), Value, "set_grad", "[2]", "[3]");
  Tensor z = (w * w).sum();
  z.backward();
  EXPECT_TG_ERROR(z.backward(), Runtime, "backward", "second");
}

TEST(Errors, UndefinedTensor) {
  Tensor u;
  EXPECT_FALSE(u.defined());
  EXPECT_EQ(u.str(), "tensor(undefined)");
  EXPECT_TG_ERROR(u.sizes(), Runtime, "undefined");
  EXPECT_TG_ERROR(u.dim(), Runtime, "undefined");
  EXPECT_TG_ERROR(u.item(), Runtime, "undefined");
  EXPECT_TG_ERROR(u + tg::zeros({1}), Runtime, "undefined");
  EXPECT_TG_ERROR(tg::zeros({1}) * u, Runtime, "undefined");
  EXPECT_TG_ERROR(u.sum(), Runtime, "undefined");
  EXPECT_TG_ERROR(u.exp(), Runtime, "undefined");
  EXPECT_TG_ERROR(u.matmul(u), Runtime, "undefined");
  EXPECT_TG_ERROR(u.view({1}), Runtime, "undefined");
  EXPECT_TG_ERROR(tg::zeros({1}).copy_(u), Runtime, "undefined");
  EXPECT_TG_ERROR(tg::cat({tg::zeros({1}), u}), Value, "cat", "undefined");
  EXPECT_TG_ERROR(tg::stack({u, u}), Runtime, "undefined");
  EXPECT_TG_ERROR(u.backward(), Value, "backward", "undefined");
}

// ---------------------------------------------------------------- the table in tests/README.md

// One case per class of error in the table (tests/python/test_errors.py checks the ids agree).
struct ErrorRow {
  const char* id;
  Kind kind;
  std::function<void()> run;
  std::vector<std::string> parts;
};

TEST(Errors, ErrorTable) {
  namespace nn = tg::nn;
  const Tensor x = tg::zeros({3, 4});
  const Tensor w = tg::ones({3}, tg::TensorOptions().requires_grad());
  const std::string dir = ::testing::TempDir();
  auto load_linear = [](const std::function<void(tg::nn::StateDict&)>& edit) {
    nn::Linear m(2, 3);
    tg::nn::StateDict sd = m.state_dict();
    edit(sd);
    m.load_state_dict(sd);
  };
  const std::vector<ErrorRow> rows = {
      {"broadcast", Kind::Value, [&] { (void)(x + tg::zeros({5})); }, {"add", "[3, 4]", "[5]", "broadcast"}},
      {"matmul", Kind::Value, [&] { (void)x.matmul(tg::zeros({5, 2})); }, {"matmul", "[3, 4]", "[5, 2]", "4 != 5"}},
      {"dtype", Kind::Type, [&] { (void)x.matmul(tg::zeros({4, 2}, tg::kInt64)); }, {"matmul", "float32", "int64"}},
      {"dtype_inplace", Kind::Type, [&] { tg::zeros({3}, tg::kInt64).add_(tg::zeros({3})); },
       {"add_", "float32", "int64"}},
      {"device", Kind::Runtime,
       [&] { (void)(tg::cuda::is_available() ? x + x.to(tg::Device(tg::kCUDA, 0)) : x.to(tg::Device(tg::kCUDA, 0))); },
       {"CUDA"}},
      {"dim", Kind::Index, [&] { (void)x.sum({-3}); }, {"sum", "dim -3", "2 dims"}},
      {"index", Kind::Index, [&] { (void)x.index_select(0, i64({-4})); }, {"index_select", "-4", "size 3"}},
      {"index_overflow", Kind::Index,
       [&] { (void)x.index_select(0, i64({std::numeric_limits<int64_t>::min()})); },
       {"index_select", "-9223372036854775808", "size 3"}},
      {"empty", Kind::Index, [&] { (void)tg::amax(tg::zeros({0, 3})); }, {"amax", "empty", "[0, 3]"}},
      {"zero_size", Kind::Value, [&] { (void)tg::zeros({0, 3}).reshape({-1, 0}); }, {"reshape", "[-1, 0]", "size 0"}},
      {"bad_shape", Kind::Value, [&] { (void)tg::zeros({int64_t{1} << 40, int64_t{1} << 40}); },
       {"[1099511627776, 1099511627776]", "too many elements"}},
      {"backward_nonscalar", Kind::Runtime, [&] { (w * 2.0).backward(); }, {"backward", "scalar", "[3]"}},
      {"backward_twice", Kind::Runtime,
       [&] {
         Tensor y = (w * w).sum();
         y.backward();
         y.backward();
       },
       {"backward", "second time", "retain_graph"}},
      {"backward_inplace", Kind::Runtime,
       [&] {
         Tensor y = (w * 1.0).exp();
         y.mul_(2.0);
         y.sum().backward();
       },
       {"backward of exp", "in-place", "version is 1, expected 0"}},
      {"backward_no_grad", Kind::Runtime, [&] { tg::ones({2}).sum().backward(); }, {"backward", "does not require grad"}},
      {"inplace_leaf", Kind::Runtime, [&] { w.add_(1.0); }, {"add_", "leaf", "requires grad"}},
      {"optimizer_non_leaf", Kind::Value, [&] { tg::optim::SGD({w * 2.0}, {.lr = 0.1}); },
       {"SGD", "parameter 0", "not a leaf"}},
      {"state_dict_keys", Kind::Value,
       [&] {
         load_linear([](tg::nn::StateDict& sd) {
           sd.erase(sd.begin() + 1);
           sd.emplace_back("extra", tg::zeros({1}));
         });
       },
       {"Linear.load_state_dict", "missing keys: \"bias\"", "unexpected keys: \"extra\""}},
      {"state_dict_shape", Kind::Value,
       [&] { load_linear([](tg::nn::StateDict& sd) { sd[0].second = tg::zeros({3, 3}); }); },
       {"Linear.load_state_dict", "\"weight\" has shape [3, 3] in the state dict but [3, 2]"}},
      {"safetensors_file", Kind::Value,
       [&] {
         const std::string bytes = tg::save_safetensors_to_bytes({{"w", tg::ones({4, 4})}});
         (void)tg::load_safetensors_from_bytes(bytes.data(), bytes.size() - 10, "m.safetensors");
       },
       {"m.safetensors", "bytes"}},
      {"idx_file", Kind::Value,
       [&] { (void)tg::data::parse_idx({0, 0, 8, 1, 0, 0, 0, 5, 1, 2}, "x-idx1-ubyte"); },
       {"x-idx1-ubyte", "5"}},
      {"anomaly", Kind::Runtime,
       [&] {
         tg::DetectAnomalyGuard anomaly;
         (void)tg::log(tg::tensor({1.0, 0.0}, tg::TensorOptions().requires_grad()));
       },
       {"anomaly detected", "forward of log", "Inf"}},
      {"undefined", Kind::Runtime, [&] { (void)Tensor().sum(); }, {"undefined"}},
  };
  for (const ErrorRow& row : rows) expect_error(row.run, row.kind, row.parts, row.id);
}

}  // namespace
