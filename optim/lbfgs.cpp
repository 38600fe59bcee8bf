// L-BFGS with PyTorch's iteration (torch.optim.LBFGS): the two-loop recursion over the last
// history_size curvature pairs, a first step scaled by the gradient's L1 norm, and the stopping
// tests on gradient, change of step and change of loss. The strong-Wolfe line search follows
// Nocedal & Wright, Numerical Optimization (2nd ed.), Algorithm 3.5 (bracketing) and 3.6 (zoom),
// with the choices PyTorch makes so the iterates agree: trial steps from the minimizer of the
// cubic through two points' values and slopes (eq. 3.59), clamped in the bracketing phase to
// [t + 0.01 (t - t_prev), 10 t], and in the zoom phase kept 10% of the bracket away from its ends
// when the previous trial made too little progress.
#include "lbfgs.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <optional>
#include <utility>

#include "../autograd/functions.h"
#include "../autograd/node.h"
#include "../core/native.h"

namespace tg::optim {

OptionMap LBFGSOptions::to_map() const {
  return {{"lr", lr},
          {"max_iter", static_cast<double>(max_iter)},
          {"max_eval", static_cast<double>(max_eval > 0 ? max_eval : max_iter * 5 / 4)},
          {"tolerance_grad", tolerance_grad},
          {"tolerance_change", tolerance_change},
          {"history_size", static_cast<double>(history_size)}};
}

LBFGSOptions LBFGSOptions::from_group(const ParamGroup& g) {
  LBFGSOptions o;
  o.lr = g.get("lr");
  o.max_iter = static_cast<int64_t>(g.get("max_iter"));
  o.max_eval = static_cast<int64_t>(g.get("max_eval"));
  o.tolerance_grad = g.get("tolerance_grad");
  o.tolerance_change = g.get("tolerance_change");
  o.history_size = static_cast<int64_t>(g.get("history_size"));
  auto it = g.string_options.find("line_search_fn");
  o.line_search_fn = it == g.string_options.end() ? "" : it->second;
  return o;
}

namespace {

void validate_lbfgs(const ParamGroup& g) {
  const LBFGSOptions o = LBFGSOptions::from_group(g);
  detail::check_non_negative("LBFGS", "learning rate", o.lr);
  TG_CHECK(o.max_iter >= 1, Value, "LBFGS: invalid max_iter: ", o.max_iter, " (must be >= 1)");
  TG_CHECK(o.max_eval >= 1, Value, "LBFGS: invalid max_eval: ", o.max_eval, " (must be >= 1)");
  TG_CHECK(o.history_size >= 1, Value, "LBFGS: invalid history_size: ", o.history_size,
           " (must be >= 1)");
  detail::check_non_negative("LBFGS", "tolerance_grad", o.tolerance_grad);
  detail::check_non_negative("LBFGS", "tolerance_change", o.tolerance_change);
  TG_CHECK(o.line_search_fn.empty() || o.line_search_fn == "strong_wolfe", Value,
           "LBFGS: only 'strong_wolfe' is supported as line_search_fn, got '", o.line_search_fn, "'");
}

double dot_value(const Tensor& a, const Tensor& b) { return sum(mul(a, b)).item(); }
double max_abs(const Tensor& a) { return amax(abs(a)).item(); }

// The minimizer of the cubic matching f and f' at x1 and x2, clamped to `bounds` (default: the
// interval between the points); their midpoint when the cubic has no minimizer.
double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2,
                         std::optional<std::pair<double, double>> bounds = std::nullopt) {
  const auto [lo, hi] = bounds ? *bounds : std::pair{std::min(x1, x2), std::max(x1, x2)};
  const double d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
  const double d2_square = d1 * d1 - g1 * g2;
  if (!(d2_square >= 0.0)) return (lo + hi) / 2.0;
  const double d2 = std::sqrt(d2_square);
  const double x = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
                            : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2));
  return std::min(std::max(x, lo), hi);
}

// The loss and flat gradient at x + t d (the parameters are put back afterwards).
using Objective = std::function<std::pair<double, Tensor>(double t, const Tensor& d)>;

struct LineSearch {
  double f;
  Tensor g;
  double t;
  int64_t evals;
};

// A step t along d satisfying the strong Wolfe conditions
//   f(x + t d) <= f + c1 t gtd   and   |grad(x + t d) . d| <= -c2 gtd
// (or the best point found within max_ls evaluations).
LineSearch strong_wolfe(const Objective& obj, double t, const Tensor& d, double f, const Tensor& g,
                        double gtd, double tolerance_change, double c1 = 1e-4, double c2 = 0.9,
                        int max_ls = 25) {
  const double d_norm = max_abs(d);
  auto [f_new, g_new] = obj(t, d);
  int64_t evals = 1;
  double gtd_new = dot_value(g_new, d);

  // Algorithm 3.5: grow the step until an interval [lo, hi] is known to hold an acceptable one.
  double t_prev = 0.0, f_prev = f, gtd_prev = gtd;
  Tensor g_prev = g;
  std::array<double, 2> bt{}, bf{}, bgtd{};  // the bracket: steps, losses, slopes, gradients
  std::array<Tensor, 2> bg;
  bool done = false;
  int ls_iter = 0;
  auto bracket = [&](double ta, double fa, const Tensor& ga, double gtda, double tb, double fb,
                     const Tensor& gb, double gtdb) {
    bt = {ta, tb};
    bf = {fa, fb};
    bg = {ga, gb};
    bgtd = {gtda, gtdb};
  };
  while (ls_iter < max_ls) {
    if (f_new > f + c1 * t * gtd || (ls_iter > 1 && f_new >= f_prev)) {
      bracket(t_prev, f_prev, g_prev, gtd_prev, t, f_new, g_new, gtd_new);
      break;
    }
    if (std::abs(gtd_new) <= -c2 * gtd) {  // the trial step is acceptable
      bracket(t, f_new, g_new, gtd_new, t, f_new, g_new, gtd_new);
      done = true;
      break;
    }
    if (gtd_new >= 0.0) {
      bracket(t_prev, f_prev, g_prev, gtd_prev, t, f_new, g_new, gtd_new);
      break;
    }
    // Extrapolate: the next trial lies in [t + 0.01 (t - t_prev), 10 t].
    const double next = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                          std::pair{t + 0.01 * (t - t_prev), t * 10.0});
    t_prev = t;
    f_prev = f_new;
    g_prev = g_new;
    gtd_prev = gtd_new;
    t = next;
    std::tie(f_new, g_new) = obj(t, d);
    ++evals;
    gtd_new = dot_value(g_new, d);
    ++ls_iter;
  }
  if (ls_iter == max_ls) bracket(0.0, f, g, gtd, t, f_new, g_new, gtd_new);

  // Algorithm 3.6: shrink the bracket, keeping at `low` the point with the lowest loss that
  // satisfies the sufficient-decrease condition, until a trial satisfies both conditions.
  bool insufficient_progress = false;
  int low = bf[0] <= bf[1] ? 0 : 1, high = 1 - low;
  while (!done && ls_iter < max_ls) {
    if (std::abs(bt[1] - bt[0]) * d_norm < tolerance_change) break;  // bracket too small
    t = cubic_interpolate(bt[0], bf[0], bgtd[0], bt[1], bf[1], bgtd[1]);
    // Too close to an end of the bracket twice running (or outside it): move 10% inside.
    const double b_max = std::max(bt[0], bt[1]), b_min = std::min(bt[0], bt[1]);
    const double margin = 0.1 * (b_max - b_min);
    if (std::min(b_max - t, t - b_min) < margin) {
      if (insufficient_progress || t >= b_max || t <= b_min) {
        t = std::abs(t - b_max) < std::abs(t - b_min) ? b_max - margin : b_min + margin;
        insufficient_progress = false;
      } else {
        insufficient_progress = true;
      }
    } else {
      insufficient_progress = false;
    }
    std::tie(f_new, g_new) = obj(t, d);
    ++evals;
    gtd_new = dot_value(g_new, d);
    ++ls_iter;
    if (f_new > f + c1 * t * gtd || f_new >= bf[low]) {
      // Not a sufficient decrease, or no better than the low end: the trial becomes the high end.
      bt[high] = t;
      bf[high] = f_new;
      bg[high] = g_new;
      bgtd[high] = gtd_new;
      low = bf[0] <= bf[1] ? 0 : 1;
      high = 1 - low;
    } else {
      if (std::abs(gtd_new) <= -c2 * gtd) {
        done = true;
      } else if (gtd_new * (bt[high] - bt[low]) >= 0.0) {
        bt[high] = bt[low];
        bf[high] = bf[low];
        bg[high] = bg[low];
        bgtd[high] = bgtd[low];
      }
      bt[low] = t;
      bf[low] = f_new;
      bg[low] = g_new;
      bgtd[low] = gtd_new;
    }
  }
  return {bf[low], bg[low], bt[low], evals};
}

}  // namespace

LBFGS::LBFGS(std::vector<Tensor> params, const LBFGSOptions& options)
    : Optimizer("LBFGS", options.to_map(), validate_lbfgs) {
  ParamGroup group(std::move(params));
  group.string_options["line_search_fn"] = options.line_search_fn;
  add_param_groups({std::move(group)});
}

Tensor LBFGS::gather_flat_grad() const {
  const auto& params = groups_[0].params;
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  Tensor flat = zeros({n}, params[0].options());
  int64_t offset = 0;
  for (const auto& p : params) {
    const int64_t k = p.numel();
    if (p.grad().defined() && k > 0)
      native::copy_(native::view(native::slice(flat, 0, offset, offset + k, 1), p.sizes()), p.grad());
    offset += k;
  }
  return flat;
}

void LBFGS::add_to_params(double step_size, const Tensor& direction) {
  int64_t offset = 0;
  for (const auto& p : groups_[0].params) {
    const int64_t k = p.numel();
    if (k > 0) p.add_(native::view(native::slice(direction, 0, offset, offset + k, 1), p.sizes()), step_size);
    offset += k;
  }
}

std::vector<Tensor> LBFGS::clone_params() const {
  std::vector<Tensor> out;
  for (const auto& p : groups_[0].params) out.push_back(native::clone(p));
  return out;
}

void LBFGS::set_params(const std::vector<Tensor>& values) {
  const auto& params = groups_[0].params;
  for (size_t i = 0; i < params.size(); ++i) native::copy_(params[i], values[i]);
}

Tensor LBFGS::step(const LossClosure& closure) {
  TG_CHECK(closure != nullptr, Value,
           "LBFGS: step needs a closure that zeroes the gradients, computes the loss, calls "
           "backward and returns the loss");
  TG_CHECK(groups_.size() == 1, Value,
           "LBFGS doesn't support per-parameter options (parameter groups)");
  const LBFGSOptions o = LBFGSOptions::from_group(groups_[0]);
  NoGradGuard no_grad;

  auto loss_of = [&]() {
    Tensor l = evaluate(closure);
    TG_CHECK(l.defined() && l.numel() == 1, Value,
             "LBFGS: the closure must return the loss as a one-element tensor");
    return std::pair{l, l.item()};
  };

  ParamState& st = state(groups_[0].params[0]);
  double& func_evals = st.scalars.try_emplace("func_evals", 0.0).first->second;
  double& state_n_iter = st.scalars.try_emplace("n_iter", 0.0).first->second;

  auto [orig_loss, loss] = loss_of();
  int64_t current_evals = 1;
  func_evals += 1;

  Tensor flat_grad = gather_flat_grad();
  bool opt_cond = max_abs(flat_grad) <= o.tolerance_grad;
  if (opt_cond) return orig_loss;  // already optimal

  // The state left by the previous step.
  Tensor d = st.tensor("d");
  double t = st.scalar("t");
  std::vector<Tensor> old_dirs = st.tensor_lists["old_dirs"];
  std::vector<Tensor> old_stps = st.tensor_lists["old_stps"];
  double H_diag = st.scalar("H_diag", 1.0);
  Tensor prev_flat_grad = st.tensor("prev_flat_grad");
  double prev_loss = st.scalar("prev_loss");
  // 1 / (y . s) of each pair: recomputed rather than stored (the same arithmetic, so the same
  // values), which keeps a reloaded state exact whatever the parameters' dtype.
  std::vector<double> ro;
  for (size_t i = 0; i < old_dirs.size(); ++i) ro.push_back(1.0 / dot_value(old_dirs[i], old_stps[i]));

  int64_t n_iter = 0;
  while (n_iter < o.max_iter) {
    ++n_iter;
    state_n_iter += 1;

    // The direction: steepest descent at first, then the L-BFGS two-loop recursion.
    if (state_n_iter == 1) {
      d = neg(flat_grad);
      old_dirs.clear();
      old_stps.clear();
      ro.clear();
      H_diag = 1.0;
    } else {
      Tensor y = sub(flat_grad, prev_flat_grad);
      Tensor s = mul(d, t);
      const double ys = dot_value(y, s);
      if (ys > 1e-10) {  // keep the pair only when the curvature is positive
        if (static_cast<int64_t>(old_dirs.size()) == o.history_size) {
          old_dirs.erase(old_dirs.begin());
          old_stps.erase(old_stps.begin());
          ro.erase(ro.begin());
        }
        old_dirs.push_back(y);
        old_stps.push_back(s);
        ro.push_back(1.0 / ys);
        H_diag = ys / dot_value(y, y);  // the initial inverse Hessian's scale
      }
      const size_t num_old = old_dirs.size();
      std::vector<double> al(num_old);
      Tensor q = neg(flat_grad);
      for (size_t k = num_old; k-- > 0;) {
        al[k] = dot_value(old_stps[k], q) * ro[k];
        q.add_(old_dirs[k], -al[k]);
      }
      d = mul(q, H_diag);
      for (size_t k = 0; k < num_old; ++k) {
        const double be = dot_value(old_dirs[k], d) * ro[k];
        d.add_(old_stps[k], al[k] - be);
      }
    }
    prev_flat_grad = native::clone(flat_grad);
    prev_loss = loss;

    // The step length: the first is scaled down by the gradient's L1 norm.
    if (state_n_iter == 1) {
      t = std::min(1.0, 1.0 / sum(abs(flat_grad)).item()) * o.lr;
    } else {
      t = o.lr;
    }
    const double gtd = dot_value(flat_grad, d);  // directional derivative
    if (gtd > -o.tolerance_change) break;  // not a descent direction any more

    int64_t ls_func_evals = 0;
    if (o.line_search_fn == "strong_wolfe") {
      const std::vector<Tensor> x_init = clone_params();
      Objective obj = [&](double step, const Tensor& dir) {
        add_to_params(step, dir);
        const double f = loss_of().second;
        Tensor g = gather_flat_grad();
        set_params(x_init);
        return std::pair{f, g};
      };
      LineSearch ls = strong_wolfe(obj, t, d, loss, flat_grad, gtd, o.tolerance_change);
      loss = ls.f;
      flat_grad = ls.g;
      t = ls.t;
      ls_func_evals = ls.evals;
      add_to_params(t, d);
      opt_cond = max_abs(flat_grad) <= o.tolerance_grad;
    } else {
      add_to_params(t, d);  // a fixed step
      if (n_iter != o.max_iter) {
        // Re-evaluate unless this was the last iteration (the next step() evaluates anyway).
        loss = loss_of().second;
        flat_grad = gather_flat_grad();
        opt_cond = max_abs(flat_grad) <= o.tolerance_grad;
        ls_func_evals = 1;
      }
    }
    current_evals += ls_func_evals;
    func_evals += static_cast<double>(ls_func_evals);

    if (n_iter == o.max_iter) break;
    if (current_evals >= o.max_eval) break;
    if (opt_cond) break;
    if (max_abs(d) * std::abs(t) <= o.tolerance_change) break;  // lack of progress
    if (std::abs(loss - prev_loss) < o.tolerance_change) break;
  }

  st.tensors["d"] = d;
  st.scalars["t"] = t;
  st.tensor_lists["old_dirs"] = std::move(old_dirs);
  st.tensor_lists["old_stps"] = std::move(old_stps);
  st.scalars["H_diag"] = H_diag;
  if (prev_flat_grad.defined()) st.tensors["prev_flat_grad"] = prev_flat_grad;
  st.scalars["prev_loss"] = prev_loss;
  return orig_loss;
}

}  // namespace tg::optim
