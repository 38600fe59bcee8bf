// tapegrad-train: trains an MLP and a small CNN on Fashion-MNIST (or any MNIST-like data set) on
// the CPU and on every CUDA device present, then prints how the devices compare.
//
//   tapegrad-train                       # both models, every device, the default settings
//   tapegrad-train --model cnn --device cpu --epochs 2 --csv results.csv
//   tapegrad-train --help
#include <tapegrad/tapegrad.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chart/chart.h"
#include "data/idx.h"
#include "fashion_models.h"

namespace nn = tg::nn;
namespace F = tg::nn::F;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---------------------------------------------------------------- options

struct Options {
  std::vector<std::string> models = {"mlp", "cnn"};
  std::optional<int64_t> epochs;  // per-model default when absent
  int64_t batch_size = 64;
  std::optional<double> lr;  // per-optimizer default when absent
  std::string optimizer = "adam";
  std::string device = "all";
  uint64_t seed = 0;
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::string csv;
  std::string save;
  std::string chart;
  int64_t limit_batches = 0;  // 0: whole epochs
};

// The defaults were chosen so that both models reach their targets (MLP >= 88%, CNN >= 91% test
// accuracy on Fashion-MNIST) and the whole default run stays under 5 minutes on 2 CPU cores.
int64_t default_epochs(const std::string& model) { return model == "mlp" ? 8 : 4; }
double default_lr(const std::string& model, const std::string& optimizer) {
  if (optimizer == "sgd") return 0.05;
  return model == "mlp" ? 1e-3 : 2e-3;
}

const char* kUsage = R"(usage: tapegrad-train [options]
  --model mlp|cnn|all      which model(s) to train (default all: mlp then cnn)
  --epochs N               passes over the training set (default: mlp 8, cnn 4)
  --batch-size N           samples per step (default 64)
  --lr X                   initial learning rate, annealed to 0 along a cosine
                           (default: adam 0.001 for mlp, 0.002 for cnn; sgd 0.05)
  --optimizer adam|sgd     Adam, or SGD with momentum 0.9 (default adam)
  --device cpu|cuda|all    where to train (default all: the CPU and each CUDA device)
  --seed N                 seeds the weights and the shuffle (default 0)
  --data DIR               a directory with the four MNIST-style IDX files, plain or .gz
                           (default /usr/share/datasets/fashion-mnist)
  --csv PATH               also write the summary table as CSV
  --chart PATH.png         also draw the loss and accuracy curves and the time per epoch
  --save PATH.safetensors  save the trained weights (PATH-<model>-<device>.safetensors when
                           several models or devices are trained)
  --limit-batches N        stop each epoch after N batches and test on N batches (quick check)
)";

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "tapegrad-train: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

int64_t parse_int(const std::string& flag, const std::string& text, int64_t min) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < min)
    usage_error(flag + " expects an integer >= " + std::to_string(min) + ", got '" + text + "'");
  return v;
}

double parse_positive(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(v > 0) || !std::isfinite(v))
    usage_error(flag + " expects a positive number, got '" + text + "'");
  return v;
}

std::string one_of(const std::string& flag, const std::string& text,
                   const std::vector<std::string>& choices) {
  for (const auto& c : choices)
    if (text == c) return text;
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : "|") + c;
  usage_error(flag + " expects " + list + ", got '" + text + "'");
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i], value;
    if (flag == "-h" || flag == "--help") {
      std::printf("%s", kUsage);
      std::exit(0);
    }
    const size_t eq = flag.find('=');
    if (eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      usage_error(flag + " needs a value");
    }
    if (flag == "--model") {
      const std::string m = one_of(flag, value, {"mlp", "cnn", "all"});
      o.models = m == "all" ? std::vector<std::string>{"mlp", "cnn"} : std::vector<std::string>{m};
    } else if (flag == "--epochs") {
      o.epochs = parse_int(flag, value, 1);
    } else if (flag == "--batch-size") {
      o.batch_size = parse_int(flag, value, 1);
    } else if (flag == "--lr") {
      o.lr = parse_positive(flag, value);
    } else if (flag == "--optimizer") {
      o.optimizer = one_of(flag, value, {"adam", "sgd"});
    } else if (flag == "--device") {
      o.device = one_of(flag, value, {"cpu", "cuda", "all"});
    } else if (flag == "--seed") {
      o.seed = static_cast<uint64_t>(parse_int(flag, value, 0));
    } else if (flag == "--data") {
      o.data_dir = value;
    } else if (flag == "--csv") {
      o.csv = value;
    } else if (flag == "--chart") {
      o.chart = value;
    } else if (flag == "--save") {
      o.save = value;
    } else if (flag == "--limit-batches") {
      o.limit_batches = parse_int(flag, value, 1);
    } else {
      usage_error("unknown option '" + flag + "'");
    }
  }
  return o;
}

// ---------------------------------------------------------------- devices

std::vector<tg::Device> devices_to_run(const std::string& which) {
  std::vector<tg::Device> devices;
  if (which != "cuda") devices.emplace_back(tg::kCPU);
  if (which != "cpu") {
    const int n = tg::cuda::device_count();
    if (n == 0)
      std::printf("no CUDA device found (%s)%s\n", tg::cuda::unavailable_reason().c_str(),
                  which == "all" ? ": training on the CPU only" : "");
    for (int i = 0; i < n; ++i) devices.emplace_back(tg::kCUDA, i);
  }
  return devices;
}

// ---------------------------------------------------------------- models

std::unique_ptr<tg::optim::Optimizer> make_optimizer(const Options& o, const std::string& name,
                                                     nn::Module& model) {
  const double lr = o.lr.value_or(default_lr(name, o.optimizer));
  if (o.optimizer == "adam") {
    tg::optim::AdamOptions adam;
    adam.lr = lr;
    return std::make_unique<tg::optim::Adam>(model.parameters(), adam);
  }
  tg::optim::SGDOptions sgd;
  sgd.lr = lr;
  sgd.momentum = 0.9;
  return std::make_unique<tg::optim::SGD>(model.parameters(), sgd);
}

// ---------------------------------------------------------------- progress

// A bar redrawn in place on a terminal; plain lines at each quarter of the epoch otherwise.
class Progress {
 public:
  Progress(std::string label, int64_t total_batches)
      : label_(std::move(label)), total_(total_batches),
        tty_(isatty(STDOUT_FILENO)), start_(Clock::now()), last_draw_(start_) {}

  // `read_loss` synchronizes with the device, so it is called only when something is shown.
  template <class ReadLoss>
  void update(int64_t done, int64_t samples, ReadLoss&& read_loss) {
    const bool last = done == total_;
    if (tty_) {
      if (!last && std::chrono::duration<double>(Clock::now() - last_draw_).count() < 0.2) return;
      last_draw_ = Clock::now();
      const int width = 30;
      const int filled = static_cast<int>(width * done / total_);
      std::printf("\r  %s [%s%s] %lld/%lld  %6.0f samples/s  loss %.4f ", label_.c_str(),
                  std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                  static_cast<long long>(done), static_cast<long long>(total_),
                  samples / seconds_since(start_), read_loss());
      if (last) std::printf("\r\033[K");  // the epoch's summary line replaces the bar
      std::fflush(stdout);
    } else if (done * 4 / total_ != (done - 1) * 4 / total_ && !last) {
      std::printf("  %s %lld/%lld batches  %.0f samples/s  loss %.4f\n", label_.c_str(),
                  static_cast<long long>(done), static_cast<long long>(total_),
                  samples / seconds_since(start_), read_loss());
      std::fflush(stdout);
    }
  }

 private:
  std::string label_;
  int64_t total_;
  bool tty_;
  Clock::time_point start_, last_draw_;
};

// ---------------------------------------------------------------- training

struct EpochResult {
  double train_loss, test_loss, test_accuracy, seconds, samples_per_second;
};

struct RunResult {
  std::string model;
  tg::Device device;
  std::vector<EpochResult> epochs;
  double mean_epoch_seconds() const {
    double s = 0;
    for (const auto& e : epochs) s += e.seconds;
    return s / epochs.size();
  }
  double mean_samples_per_second() const {
    double s = 0;
    for (const auto& e : epochs) s += e.samples_per_second;
    return s / epochs.size();
  }
};

// Mean loss and accuracy over the test set (or its first `limit_batches` batches).
std::pair<double, double> evaluate(nn::Module& model, tg::data::DataLoader& loader,
                                   int64_t limit_batches) {
  tg::NoGradGuard no_grad;
  model.eval();
  tg::Tensor loss_sum = tg::zeros({}, tg::TensorOptions(tg::kFloat64).device(loader.dataset().data.device()));
  tg::Tensor correct = tg::zeros({}, tg::TensorOptions(tg::kInt64).device(loader.dataset().data.device()));
  int64_t seen = 0, batches = 0;
  for (const tg::data::Batch batch : loader) {
    if (limit_batches && batches++ == limit_batches) break;
    tg::Tensor logits = model(batch.data);
    loss_sum = loss_sum + F::cross_entropy(logits, batch.target, {.reduction = "sum"}).to(tg::kFloat64);
    correct = correct + (logits.argmax(1) == batch.target).sum();
    seen += batch.target.size(0);
  }
  model.train();
  return {loss_sum.item() / seen, correct.item() / seen};
}

// --save's path, tagged "-<model>-<device>" before the extension when the run trains several.
std::string save_path(const Options& o, const std::string& model_name, tg::Device device) {
  if (o.models.size() == 1 && o.device != "all") return o.save;
  std::string device_tag = device.str();
  std::replace(device_tag.begin(), device_tag.end(), ':', '_');
  const std::string tag = "-" + model_name + "-" + device_tag;
  const size_t dot = o.save.rfind('.');
  const size_t slash = o.save.rfind('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return o.save + tag;
  return o.save.substr(0, dot) + tag + o.save.substr(dot);
}

RunResult train_on(const std::string& model_name, tg::Device device, const Options& o,
                   const tg::data::TensorDataset& train_set, const tg::data::TensorDataset& test_set) {
  // The same seed on every device: identical initial weights and batch order.
  tg::manual_seed(o.seed);
  std::shared_ptr<nn::Module> model = make_fashion_model(model_name);
  model->to(device);
  std::unique_ptr<tg::optim::Optimizer> optimizer = make_optimizer(o, model_name, *model);
  tg::data::DataLoader train_loader(train_set.to(device),
                                    {.batch_size = o.batch_size, .shuffle = true, .seed = o.seed});
  tg::data::DataLoader test_loader(test_set.to(device), {.batch_size = 1000});

  RunResult result{model_name, device, {}};
  const int64_t epochs = o.epochs.value_or(default_epochs(model_name));
  int64_t batches_per_epoch = train_loader.num_batches();
  if (o.limit_batches) batches_per_epoch = std::min(batches_per_epoch, o.limit_batches);
  // The learning rate follows a cosine from its initial value down to 0 over all the steps:
  // large steps early, small ones to settle at the end (worth about +1% test accuracy here).
  tg::optim::CosineAnnealingLR schedule(*optimizer, epochs * batches_per_epoch);
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    Progress progress(model_name + " " + device.str() + " epoch " + std::to_string(epoch) + "/" +
                          std::to_string(epochs),
                      batches_per_epoch);
    // The running loss stays on the device: reading it back each step would stall a GPU.
    tg::Tensor loss_sum = tg::zeros({}, tg::TensorOptions(tg::kFloat64).device(device));
    int64_t batches = 0, samples = 0;
    const auto start = Clock::now();
    for (const tg::data::Batch batch : train_loader) {
      if (batches == batches_per_epoch) break;
      tg::Tensor loss = F::cross_entropy((*model)(batch.data), batch.target);
      optimizer->zero_grad();
      loss.backward();
      optimizer->step();
      schedule.step();
      {
        tg::NoGradGuard no_grad;
        loss_sum = loss_sum + loss.detach().to(tg::kFloat64);
      }
      ++batches;
      samples += batch.target.size(0);
      progress.update(batches, samples, [&] { return loss_sum.item() / batches; });
    }
    const double train_loss = loss_sum.item() / batches;  // also waits for the device
    const double seconds = seconds_since(start);
    const auto [test_loss, test_accuracy] = evaluate(*model, test_loader, o.limit_batches);
    result.epochs.push_back({train_loss, test_loss, test_accuracy, seconds, samples / seconds});
    std::printf("  %s %-6s epoch %lld/%lld  train loss %.4f  test loss %.4f  test accuracy %.2f%%  "
                "(%.1f s, %.0f samples/s)\n",
                model_name.c_str(), device.str().c_str(), static_cast<long long>(epoch),
                static_cast<long long>(epochs), train_loss, test_loss, 100 * test_accuracy, seconds,
                samples / seconds);
    std::fflush(stdout);
  }
  if (!o.save.empty()) {
    const std::string path = save_path(o, model_name, device);
    tg::nn::save(*model, path);
    std::printf("  saved the %s weights to %s\n", model_name.c_str(), path.c_str());
  }
  return result;
}

// ---------------------------------------------------------------- summary

struct Row {
  std::string model, device;
  int64_t epochs;
  double seconds_per_epoch, samples_per_second, accuracy, test_loss;
  std::optional<double> speedup;  // over the CPU for the same model
};

std::vector<Row> summarize(const std::vector<RunResult>& runs) {
  std::map<std::string, double> cpu_seconds;
  for (const auto& r : runs)
    if (r.device.is_cpu()) cpu_seconds[r.model] = r.mean_epoch_seconds();
  std::vector<Row> rows;
  for (const auto& r : runs) {
    Row row{r.model, r.device.str(), static_cast<int64_t>(r.epochs.size()), r.mean_epoch_seconds(),
            r.mean_samples_per_second(), r.epochs.back().test_accuracy, r.epochs.back().test_loss,
            std::nullopt};
    if (cpu_seconds.count(r.model)) row.speedup = cpu_seconds[r.model] / row.seconds_per_epoch;
    rows.push_back(row);
  }
  return rows;
}

void print_table(const std::vector<Row>& rows) {
  std::printf("\n%-5s  %-7s  %6s  %11s  %10s  %13s  %15s\n", "model", "device", "epochs",
              "s per epoch", "samples/s", "test accuracy", "speed-up vs CPU");
  for (const Row& r : rows) {
    const std::string speedup = r.speedup ? tg::detail::concat(std::round(*r.speedup * 100) / 100, "x") : "-";
    std::printf("%-5s  %-7s  %6lld  %11.2f  %10.0f  %12.2f%%  %15s\n", r.model.c_str(),
                r.device.c_str(), static_cast<long long>(r.epochs), r.seconds_per_epoch,
                r.samples_per_second, 100 * r.accuracy, speedup.c_str());
  }
}

void write_csv(const std::vector<Row>& rows, const std::string& path) {
  std::ofstream out(path);
  TG_CHECK(out, Runtime, "tapegrad-train: cannot write the CSV file '", path, "'");
  out << "model,device,epochs,seconds_per_epoch,samples_per_second,test_accuracy,test_loss,"
         "speedup_over_cpu\n";
  for (const Row& r : rows) {
    out << r.model << ',' << r.device << ',' << r.epochs << ',' << r.seconds_per_epoch << ','
        << r.samples_per_second << ',' << r.accuracy << ',' << r.test_loss << ',';
    if (r.speedup) out << *r.speedup;
    out << '\n';
  }
  TG_CHECK(out.good(), Runtime, "tapegrad-train: error writing '", path, "'");
}

// Three panels: loss per epoch (test solid, train dashed), test accuracy per epoch, and seconds
// per epoch; one colour per run, named in a legend underneath.
void write_chart(const std::vector<RunResult>& runs, const std::string& path) {
  namespace chart = tg::chart;
  const int panel_width = 420, panel_height = 340, legend_height = 40;
  chart::Canvas canvas(3 * panel_width, panel_height + legend_height);
  std::vector<chart::Series> losses, accuracies;
  std::vector<std::string> labels;
  std::vector<double> seconds;
  std::vector<chart::Color> colors;
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunResult& r = runs[i];
    const chart::Color color = chart::palette()[i % chart::palette().size()];
    const std::string label = r.model + " " + r.device.str();
    chart::Series test{label, {}, color}, train{label, {}, color, /*dashed=*/true}, accuracy{label, {}, color};
    for (const EpochResult& e : r.epochs) {
      test.y.push_back(e.test_loss);
      train.y.push_back(e.train_loss);
      accuracy.y.push_back(100 * e.test_accuracy);
    }
    losses.push_back(train);
    losses.push_back(test);
    accuracies.push_back(accuracy);
    labels.push_back(label);
    seconds.push_back(r.mean_epoch_seconds());
    colors.push_back(color);
  }
  chart::line_panel(canvas, {0, 10, panel_width, panel_height - 10}, "loss (dashed: train)", losses);
  chart::line_panel(canvas, {panel_width, 10, panel_width, panel_height - 10}, "test accuracy %", accuracies);
  chart::bar_panel(canvas, {2 * panel_width, 10, panel_width, panel_height - 10}, "seconds per epoch", labels,
                   seconds, colors);
  int x = 20;
  for (size_t i = 0; i < labels.size(); ++i) {
    canvas.fill({x, panel_height + 12, 24, 14}, colors[i]);
    canvas.text(x + 32, panel_height + 12, labels[i], chart::kBlack, 2);
    x += 32 + chart::Canvas::text_width(labels[i], 2) + 30;
  }
  chart::write_png(canvas, path);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  try {
    const auto load_start = Clock::now();
    // Statistics of the training images (Fashion-MNIST: mean 0.286, std 0.353) standardize the
    // inputs; the test set is scaled with the same values.
    tg::data::TensorDataset train_set = tg::data::load_mnist(o.data_dir, true);
    tg::data::TensorDataset test_set = tg::data::load_mnist(o.data_dir, false);
    const double mean = train_set.data.mean().item();
    const double std = std::sqrt(train_set.data.var().item());
    train_set.data = (train_set.data - mean) / std;
    test_set.data = (test_set.data - mean) / std;
    std::printf("data: %s (%lld training, %lld test images, loaded in %.1f s; pixel mean %.3f, std %.3f)\n",
                o.data_dir.c_str(), static_cast<long long>(train_set.size()),
                static_cast<long long>(test_set.size()), seconds_since(load_start), mean, std);

    const std::vector<tg::Device> devices = devices_to_run(o.device);
    if (devices.empty()) {
      std::fprintf(stderr, "tapegrad-train: --device cuda but no CUDA device is present\n");
      return 1;
    }
    std::vector<RunResult> runs;
    for (const std::string& model : o.models) {
      std::printf("\n%s, %s, lr %g, batch size %lld%s\n", model.c_str(), o.optimizer.c_str(),
                  o.lr.value_or(default_lr(model, o.optimizer)), static_cast<long long>(o.batch_size),
                  o.limit_batches ? tg::detail::concat(", at most ", o.limit_batches, " batches per epoch").c_str() : "");
      for (const tg::Device& device : devices) runs.push_back(train_on(model, device, o, train_set, test_set));
    }
    const std::vector<Row> rows = summarize(runs);
    print_table(rows);
    if (!o.csv.empty()) {
      write_csv(rows, o.csv);
      std::printf("wrote %s\n", o.csv.c_str());
    }
    if (!o.chart.empty()) {
      write_chart(runs, o.chart);
      std::printf("wrote %s\n", o.chart.c_str());
    }
  } catch (const tg::Error& e) {
    std::fprintf(stderr, "tapegrad-train: %s\n", e.what());
    return 1;
  }
  return 0;
}
