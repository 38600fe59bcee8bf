// Learn y = 2x from five points with one weight and one bias, by plain gradient descent.
#include <tapegrad/tapegrad.h>

#include <cmath>
#include <cstdio>

int main() {
  tg::Tensor x = tg::tensor({1.0, 2.0, 3.0, 4.0, 5.0});
  tg::Tensor y = 2.0 * x;
  tg::Tensor w = tg::zeros({}).requires_grad_();
  tg::Tensor b = tg::zeros({}).requires_grad_();
  const double lr = 0.02;
  for (int step = 0; step <= 2000; ++step) {
    tg::Tensor loss = ((w * x + b - y).pow(2.0)).mean();
    loss.backward();
    {
      tg::NoGradGuard no_grad;  // the update itself is not part of the model
      w.sub_(w.grad() * lr);
      b.sub_(b.grad() * lr);
      w.grad().zero_();
      b.grad().zero_();
    }
    if (step % 500 == 0)
      std::printf("step %4d  loss %.6f  w %.4f  b %.4f\n", step, loss.item(), w.item(), b.item());
  }
  std::printf("learned y = %.3f x + %.3f (the truth: y = 2 x + 0)\n", w.item(), b.item());
  return std::abs(w.item() - 2) < 0.01 && std::abs(b.item()) < 0.03 ? 0 : 1;
}
