// XOR: the classic function no straight line can separate. A 2-4-1 network with tanh hidden
// units learns it, once by plain gradient descent (many small steps) and once by L-BFGS (a few
// quasi-Newton steps that use the curvature of the loss).
#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <memory>

namespace nn = tg::nn;

std::shared_ptr<nn::Sequential> make_network() {
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(2, 4), std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(4, 1)});
}

// Prints the four predictions (as probabilities); true when each is on the right side of 0.5.
bool show(nn::Module& net, const tg::Tensor& x, const tg::Tensor& y) {
  tg::NoGradGuard no_grad;
  const std::vector<float> p = net(x).sigmoid().to_vector<float>();
  const std::vector<float> inputs = x.to_vector<float>(), targets = y.to_vector<float>();
  bool all_right = true;
  for (int i = 0; i < 4; ++i) {
    std::printf("  %.0f xor %.0f = %.0f   predicted %.3f\n", inputs[2 * i], inputs[2 * i + 1], targets[i], p[i]);
    all_right = all_right && ((p[i] > 0.5f) == (targets[i] > 0.5f));
  }
  return all_right;
}

int main() {
  const tg::Tensor x = tg::tensor({{0, 0}, {0, 1}, {1, 0}, {1, 1}});
  const tg::Tensor y = tg::tensor({0, 1, 1, 0}).reshape({4, 1});
  // The network outputs a logit; binary_cross_entropy_with_logits applies the sigmoid stably.
  auto loss_of = [&](nn::Module& net) { return nn::F::binary_cross_entropy_with_logits(net(x), y); };

  tg::manual_seed(1);
  auto gd_net = make_network();
  tg::optim::SGD sgd(gd_net->parameters(), {.lr = 0.5});
  for (int step = 0; step <= 2000; ++step) {
    tg::Tensor loss = loss_of(*gd_net);
    sgd.zero_grad();
    loss.backward();
    sgd.step();
    if (step % 500 == 0) std::printf("gradient descent step %4d  loss %.4f\n", step, loss.item());
  }
  const bool gd_ok = show(*gd_net, x, y);

  // The same starting weights, now with L-BFGS: each step() runs up to 20 iterations, calling the
  // closure to re-evaluate the loss and its gradient as the line search needs.
  tg::manual_seed(1);
  auto lbfgs_net = make_network();
  tg::optim::LBFGS lbfgs(lbfgs_net->parameters(), {.line_search_fn = "strong_wolfe"});
  int evaluations = 0;
  auto closure = [&] {
    ++evaluations;
    lbfgs.zero_grad();
    tg::Tensor loss = loss_of(*lbfgs_net);
    loss.backward();
    return loss;
  };
  for (int step = 1; step <= 3; ++step) {
    lbfgs.step(closure);
    std::printf("L-BFGS step %d  loss %.6f  (%d loss evaluations so far)\n", step,
                loss_of(*lbfgs_net).item(), evaluations);
  }
  const bool lbfgs_ok = show(*lbfgs_net, x, y);
  std::printf("gradient descent took 2000 steps; L-BFGS %d evaluations of the loss.\n", evaluations);
  return gd_ok && lbfgs_ok ? 0 : 1;
}
