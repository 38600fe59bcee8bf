// y = 2x from five points, but one label is wrong (10 typed as 1). The squared error lets that
// one point drag the whole line; the absolute error bounds each point's pull, so the four good
// points win, and the bad one then stands out by its residual.
#include <tapegrad/tapegrad.h>

#include <cmath>
#include <cstdio>
#include <functional>

namespace nn = tg::nn;

struct Line {
  double w, b;
};

// Fits y = w x + b by full-batch Adam on `loss_fn`.
Line fit(const tg::Tensor& x, const tg::Tensor& y,
         const std::function<tg::Tensor(const tg::Tensor&, const tg::Tensor&)>& loss_fn) {
  tg::Tensor w = tg::zeros({}).requires_grad_();
  tg::Tensor b = tg::zeros({}).requires_grad_();
  tg::optim::Adam optimizer({w, b}, {.lr = 0.05});
  // The absolute error's gradient never shrinks, so the step size is lowered towards the end.
  tg::optim::StepLR schedule(optimizer, /*step_size=*/1000, /*gamma=*/0.1);
  for (int step = 0; step < 3000; ++step) {
    tg::Tensor loss = loss_fn(w * x + b, y);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    schedule.step();
  }
  return {w.item(), b.item()};
}

void show_residuals(const Line& line, const std::vector<double>& xs, const std::vector<double>& ys) {
  std::printf("  residuals y - (w x + b):");
  for (size_t i = 0; i < xs.size(); ++i) std::printf(" %+6.2f", ys[i] - (line.w * xs[i] + line.b));
  std::printf("\n");
}

int main() {
  const std::vector<double> xs = {1, 2, 3, 4, 5};
  const std::vector<double> ys = {2, 4, 6, 8, 1};  // the last label should be 10
  const tg::Tensor x = tg::tensor(xs), y = tg::tensor(ys);

  const Line squared = fit(x, y, [](const tg::Tensor& p, const tg::Tensor& t) { return nn::F::mse_loss(p, t); });
  std::printf("squared error:  y = %.3f x + %.3f\n", squared.w, squared.b);
  show_residuals(squared, xs, ys);
  std::printf("  Errors count squared: missing the bad point by 9 would cost 81, so the line tilts\n"
              "  towards it and every point ends up wrong; the culprit does not even stand out.\n\n");

  const Line absolute = fit(x, y, [](const tg::Tensor& p, const tg::Tensor& t) { return nn::F::l1_loss(p, t); });
  std::printf("absolute error: y = %.3f x + %.3f\n", absolute.w, absolute.b);
  show_residuals(absolute, xs, ys);
  size_t worst = 0;
  for (size_t i = 1; i < xs.size(); ++i)
    if (std::abs(ys[i] - absolute.w * xs[i] - absolute.b) > std::abs(ys[worst] - absolute.w * xs[worst] - absolute.b))
      worst = i;
  std::printf("  Each point pulls with the same force whatever its error, so the four that agree win.\n"
              "  The point x = %.0f is off by %.1f: probably mislabeled.\n\n",
              xs[worst], ys[worst] - (absolute.w * xs[worst] + absolute.b));

  // Drop the suspicious point and fit the squared error again.
  std::vector<double> clean_x, clean_y;
  for (size_t i = 0; i < xs.size(); ++i)
    if (i != worst) clean_x.push_back(xs[i]), clean_y.push_back(ys[i]);
  const Line cleaned = fit(tg::tensor(clean_x), tg::tensor(clean_y),
                           [](const tg::Tensor& p, const tg::Tensor& t) { return nn::F::mse_loss(p, t); });
  std::printf("squared error without it: y = %.3f x + %.3f (the truth: y = 2 x + 0)\n", cleaned.w, cleaned.b);

  const bool ok = std::abs(squared.w - 2) > 1 && std::abs(absolute.w - 2) < 0.05 && worst == 4 &&
                  std::abs(cleaned.w - 2) < 0.01 && std::abs(cleaned.b) < 0.03;
  std::printf("%s\n", ok ? "as expected" : "UNEXPECTED RESULT");
  return ok ? 0 : 1;
}
