// y = x^2 fitted by a straight line, and what fixes it: a line can only tilt and shift, so the
// best it can do on a parabola is a flat line through the average. A hidden layer with a
// nonlinearity (or a feature x^2) gives the model a way to bend.
#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <memory>

namespace nn = tg::nn;

// Trains `model` on (x, y) with Adam and full batches; returns the final mean squared error.
double fit(nn::Module& model, const tg::Tensor& x, const tg::Tensor& y, int steps, double lr) {
  tg::optim::Adam optimizer(model.parameters(), {.lr = lr});
  double loss_value = 0;
  for (int step = 0; step < steps; ++step) {
    tg::Tensor loss = nn::F::mse_loss(model(x), y);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    loss_value = loss.item();
  }
  return loss_value;
}

void show(nn::Module& model, const char* name) {
  tg::NoGradGuard no_grad;
  std::printf("  %-12s", name);
  for (double v : {-2.0, -1.0, 0.0, 1.0, 2.0})
    std::printf("  f(%+.0f) = %5.2f", v, model(tg::tensor({v}).reshape({1, 1})).item());
  std::printf("\n");
}

int main() {
  tg::manual_seed(0);
  // 21 points of y = x^2 on [-2, 2], as a column: [21, 1].
  tg::Tensor x = tg::linspace(-2, 2, 21).reshape({21, 1});
  tg::Tensor y = x * x;

  // 1. A line: y = w x + b.
  nn::Linear line(1, 1);
  const double line_loss = fit(line, x, y, 2000, 0.05);
  std::printf("a line:   y = %.3f x + %.3f, mean squared error %.4f\n", line.weight.item(),
              line.bias.item(), line_loss);
  show(line, "line");
  std::printf("  The parabola is symmetric, so tilting the line helps nowhere: w goes to 0 and b to\n"
              "  the mean of y (%.3f). No amount of training fixes that; the model is too simple.\n\n",
              y.mean().item());

  // 2. One hidden layer of 16 tanh units: a sum of 16 shifted, scaled S-curves can bend.
  nn::Sequential mlp({std::make_shared<nn::Linear>(1, 16), std::make_shared<nn::Tanh>(),
                      std::make_shared<nn::Linear>(16, 1)});
  const double mlp_loss = fit(mlp, x, y, 2000, 0.02);
  std::printf("1-16-1 tanh network: mean squared error %.4f\n", mlp_loss);
  show(mlp, "network");

  // 3. Or keep the line but give it the right feature: y = w1 x + w2 x^2 + b is still linear in
  // its weights, and x^2 makes the fit exact.
  nn::Linear poly(2, 1);
  const tg::Tensor features = tg::cat({x, x * x}, 1);
  const double poly_loss = fit(poly, features, y, 2000, 0.05);
  const std::vector<float> w = poly.weight.to_vector<float>();
  std::printf("\nline on features (x, x^2): y = %.3f x + %.3f x^2 + %.3f, mean squared error %.6f\n",
              w[0], w[1], poly.bias.item(), poly_loss);

  // The lesson holds when the line is stuck and both fixes are close.
  const bool ok = line_loss > 0.5 && mlp_loss < 0.01 && poly_loss < 1e-4;
  std::printf("%s\n", ok ? "as expected: the line underfits, both fixes fit" : "UNEXPECTED RESULT");
  return ok ? 0 : 1;
}
