// Threads: grad mode is thread-local, and two threads training two independent models at once get
// bit for bit what sequential runs get. Also built alone under ThreadSanitizer (tapegrad_thread_tests,
// run by tests/sanitizers.sh), which turns any data race in these paths into a failure.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "workloads.h"

namespace {

using tg::Tensor;

TEST(Threads, GradModeIsThreadLocal) {
  const Tensor w = tg::ones({2}, tg::TensorOptions().requires_grad());
  tg::NoGradGuard off_here;
  bool recorded_there = false, enabled_there = false;
  std::thread([&] {
    enabled_there = tg::autograd::is_grad_enabled();
    recorded_there = tg::mul(w, 2.0).requires_grad();
  }).join();
  EXPECT_TRUE(enabled_there);
  EXPECT_TRUE(recorded_there);
  EXPECT_FALSE(tg::mul(w, 2.0).requires_grad());

  tg::EnableGradGuard on_here;
  bool recorded_off_there = true;
  std::thread([&] {
    tg::NoGradGuard off_there;
    recorded_off_there = tg::mul(w, 2.0).requires_grad();
  }).join();
  EXPECT_FALSE(recorded_off_there);
  EXPECT_TRUE(tg::mul(w, 2.0).requires_grad());  // untouched by the other thread's guard
}

struct TrainingRun {
  std::vector<double> losses;
  std::vector<std::vector<double>> params;
};

TrainingRun train(tg_test::Workload& w, int steps) {
  TrainingRun r;
  for (int i = 0; i < steps; ++i) r.losses.push_back(w.step());
  for (const Tensor& p : w.parameters()) r.params.push_back(p.to_vector<double>());
  return r;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

void expect_identical(const TrainingRun& got, const TrainingRun& want, const std::string& what) {
  EXPECT_TRUE(same_bits(got.losses, want.losses)) << what << ": losses differ";
  ASSERT_EQ(got.params.size(), want.params.size()) << what;
  for (size_t i = 0; i < got.params.size(); ++i)
    EXPECT_TRUE(same_bits(got.params[i], want.params[i])) << what << ": parameter " << i << " differs";
}

TEST(Threads, TwoModelsTrainingAtOnceMatchSequentialRuns) {
  const int steps = 12;
  for (const std::string& kind : tg_test::workload_kinds()) {
    SCOPED_TRACE(kind);
    // The workloads draw all their random numbers when built, so build them on this thread.
    auto a1 = tg_test::make_workload(kind, 1), b1 = tg_test::make_workload(kind, 2);
    const TrainingRun a_alone = train(*a1, steps), b_alone = train(*b1, steps);
    ASSERT_FALSE(same_bits(a_alone.losses, b_alone.losses)) << "the two models should differ";
    EXPECT_LT(a_alone.losses.back(), a_alone.losses.front()) << "training did not lower the loss";

    auto a2 = tg_test::make_workload(kind, 1), b2 = tg_test::make_workload(kind, 2);
    TrainingRun a_together, b_together;
    std::thread ta([&] { a_together = train(*a2, steps); });
    std::thread tb([&] { b_together = train(*b2, steps); });
    ta.join();
    tb.join();
    expect_identical(a_together, a_alone, kind + " model A");
    expect_identical(b_together, b_alone, kind + " model B");
  }
}

TEST(Threads, ConcurrentRandomDrawsAndAllocationsStayConsistent) {
  // Many threads drawing from the one generator and allocating at once: every draw is a whole
  // tensor of valid values, and the allocator's books balance afterwards.
  const tg::MemoryStats before = tg::memory_stats();
  std::vector<std::thread> threads;
  std::vector<double> sums(4);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      double s = 0;
      for (int i = 0; i < 200; ++i) {
        const Tensor u = tg::rand({257});
        const double lo = tg::amin(u).item(), hi = tg::amax(u).item();
        if (lo < 0.0 || hi >= 1.0) s = -1e9;
        s += tg::sum(u).item();
      }
      sums[t] = s;
    });
  for (auto& th : threads) th.join();
  for (double s : sums) EXPECT_GT(s, 0.0);
  EXPECT_EQ(tg::memory_stats().allocated_bytes, before.allocated_bytes);
}

}  // namespace
