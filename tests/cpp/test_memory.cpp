// Memory: thousands of training steps of each workload leave the allocator's books and the
// process's resident memory flat, and the tape holds no reference cycles (every node and saved
// tensor is freed once the tensors that lead to it are gone).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>

#include <tapegrad/tapegrad.h>

#include "workloads.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TG_TEST_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TG_TEST_UNDER_SANITIZER 1
#endif
#endif

namespace {

using tg::Tensor;

int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * 4096;
}

bool caching_allocator_on() {
  const char* env = std::getenv("TG_CACHING_ALLOCATOR");
  return !(env && std::strcmp(env, "0") == 0);
}

void expect_flat(const std::string& kind, tg::Device device, int steps) {
  auto w = tg_test::make_workload(kind, 7, device);
  std::vector<double> losses;
  for (int i = 0; i < 50; ++i) losses.push_back(w->step());  // warm-up: optimizer state, caches
  tg::reset_peak_memory_stats(device);
  w->step();
  const tg::MemoryStats one = tg::memory_stats(device);
  const int64_t rss_before = resident_bytes();

  tg::reset_peak_memory_stats(device);
  for (int i = 0; i < steps; ++i) losses.push_back(w->step());
  const tg::MemoryStats after = tg::memory_stats(device);
  const int64_t rss_after = resident_bytes();

  EXPECT_LT(losses.back(), losses.front()) << kind << ": the steps did not train";
  EXPECT_EQ(after.allocated_bytes, one.allocated_bytes) << kind << ": bytes held by tensors grew";
  EXPECT_EQ(after.peak_allocated_bytes, one.peak_allocated_bytes) << kind << ": a step's peak grew";
  if (caching_allocator_on())
    EXPECT_EQ(after.num_system_allocations, one.num_system_allocations)
        << kind << ": the steady state asked the system for memory";
#ifndef TG_TEST_UNDER_SANITIZER  // the sanitizers' quarantine and shadow memory grow by design
  if (device.is_cpu())
    EXPECT_LT(rss_after - rss_before, int64_t{4} << 20)
        << kind << ": resident memory grew by " << (rss_after - rss_before) << " bytes over " << steps << " steps";
#endif
}

class FlatMemory : public ::testing::TestWithParam<std::string> {};

TEST_P(FlatMemory, ThousandsOfCpuStepsKeepMemoryFlat) { expect_flat(GetParam(), tg::Device(tg::kCPU), 5000); }

TEST_P(FlatMemory, ThousandsOfCudaStepsKeepTheAllocatorFlat) {
  if (!tg::cuda::is_available()) GTEST_SKIP() << "no CUDA device: " << tg::cuda::unavailable_reason();
  expect_flat(GetParam(), tg::Device(tg::kCUDA, 0), 5000);
}

INSTANTIATE_TEST_SUITE_P(Workloads, FlatMemory, ::testing::ValuesIn(tg_test::workload_kinds()),
                         [](const auto& info) { return info.param; });

// ---------------------------------------------------------------- no cycles through the tape

struct Watch {
  std::weak_ptr<tg::autograd::Node> node;
  std::weak_ptr<tg::TensorImpl> tensor;
  explicit Watch(const Tensor& t) : node(t.grad_fn()), tensor(t.impl_ptr()) {}
  bool freed() const { return node.expired() && tensor.expired(); }
};

TEST(TapeReferences, GraphsAreFreedWithTheirTensors) {
  const Tensor w = tg::randn({3, 3}, tg::TensorOptions().requires_grad());
  const Tensor x = tg::randn({4, 3});
  std::unique_ptr<Watch> watch;
  {  // forward only, never differentiated
    Tensor y = tg::exp(tg::matmul(x, w));  // exp saves its own output
    watch = std::make_unique<Watch>(y);
    ASSERT_FALSE(watch->freed());
  }
  EXPECT_TRUE(watch->freed()) << "a forward-only graph outlived its tensors";
  {  // after backward
    Tensor loss = tg::sum(tg::tanh(tg::matmul(x, w)));  // tanh saves its output too
    watch = std::make_unique<Watch>(loss);
    loss.backward();
  }
  EXPECT_TRUE(watch->freed()) << "the graph outlived backward and its tensors";
  {  // retain_graph keeps it for a second backward, and not a moment longer
    Tensor loss = tg::sum(tg::sigmoid(tg::matmul(x, w)));
    watch = std::make_unique<Watch>(loss);
    loss.backward(Tensor(), /*retain_graph=*/true);
    loss.backward();
  }
  EXPECT_TRUE(watch->freed()) << "a retained graph outlived its tensors";
  {  // in-place ops extend a tensor's history
    Tensor y = tg::mul(tg::matmul(x, w), 1.0);
    y.add_(tg::exp(y));
    y.mul_(2.0);
    watch = std::make_unique<Watch>(y);
    tg::sum(y).backward();
  }
  EXPECT_TRUE(watch->freed()) << "an in-place history outlived its tensor";
  // The leaf keeps only its gradient, which has no history.
  EXPECT_FALSE(w.grad().grad_fn());
}

TEST(TapeReferences, ATrainedModelIsFreedWithItsOptimizer) {
  std::weak_ptr<tg::TensorImpl> param;
  {
    auto w = tg_test::make_workload("lstm", 3);
    for (int i = 0; i < 3; ++i) w->step();
    param = w->parameters().front().impl_ptr();
  }
  EXPECT_TRUE(param.expired()) << "a parameter outlived its model and optimizer";
}

}  // namespace
