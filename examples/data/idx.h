// tg::data: reading IDX files (the format of MNIST and Fashion-MNIST, plain or gzip) into
// tensors, and a DataLoader that cuts a dataset into (optionally shuffled) batches, after
// torch.utils.data. Built on tapegrad's public API only (plus zlib), as a small library beside
// the examples (target tapegrad_data).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tg::data {

// One IDX file: its dimensions and its unsigned-byte payload (row-major, product(dims) bytes).
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> values;
};

// The bytes of a file, gunzipped when it starts with the gzip magic (1f 8b); `path` names the
// file in errors (missing, unreadable, corrupt or truncated gzip).
std::vector<uint8_t> read_maybe_gzipped(const std::string& path);
// The same for bytes already in memory; `name` stands for the file in errors.
std::vector<uint8_t> maybe_gunzip(std::vector<uint8_t> bytes, const std::string& name);

// Parses IDX bytes: magic 00 00 08 <ndims>, ndims big-endian uint32 dims (each > 0), then
// exactly product(dims) bytes. `name` (a file name) is quoted in every error. Only the
// unsigned-byte dtype (0x08) is accepted, the one MNIST-like data sets use.
IdxArray parse_idx(const std::vector<uint8_t>& bytes, const std::string& name);
IdxArray read_idx(const std::string& path);

// Pixel scaling: x / 255, then (x - mean) / std when given.
struct Normalize {
  double mean = 0.0;
  double std = 1.0;
};

// Images (ndims 3: [N, H, W]) as float32 [N, 1, H, W]; labels (ndims 1: [N]) as int64 [N].
Tensor images_to_tensor(const IdxArray& images, const std::string& name,
                        std::optional<Normalize> normalize = std::nullopt);
Tensor labels_to_tensor(const IdxArray& labels, const std::string& name);

// (input, target) pairs held as two tensors with the same first dimension.
struct TensorDataset {
  Tensor data;
  Tensor targets;
  TensorDataset() = default;
  TensorDataset(Tensor data, Tensor targets);
  int64_t size() const { return data.defined() ? data.size(0) : 0; }
  TensorDataset to(Device device) const { return {data.to(device), targets.to(device)}; }
};

// An MNIST-like split from `dir`: train-images-idx3-ubyte and train-labels-idx1-ubyte (train),
// t10k-* (test), each either plain or with a .gz suffix. Checks the image/label counts agree
// and every label is below `num_classes`.
TensorDataset load_mnist(const std::string& dir, bool train,
                         std::optional<Normalize> normalize = std::nullopt,
                         int64_t num_classes = 10);

struct Batch {
  Tensor data;
  Tensor target;
};

struct DataLoaderOptions {
  int64_t batch_size = 1;
  bool shuffle = false;
  bool drop_last = false;  // drop a last batch smaller than batch_size
  uint64_t seed = 0;       // the shuffle's seed: the same seed gives the same epochs
};

// Iterating the loader is one epoch; with shuffle each epoch draws a new permutation from the
// loader's own generator (seeded once), so epoch k is the same for the same seed.
class DataLoader {
 public:
  DataLoader(TensorDataset dataset, DataLoaderOptions options);
  int64_t num_batches() const;  // per epoch
  const TensorDataset& dataset() const { return dataset_; }
  const DataLoaderOptions& options() const { return options_; }

  class Iterator {
   public:
    Batch operator*() const { return loader_->batch(order_, index_); }
    Iterator& operator++() {
      ++index_;
      return *this;
    }
    bool operator!=(const Iterator& other) const { return index_ != other.index_; }

   private:
    friend class DataLoader;
    Iterator(const DataLoader* loader, Tensor order, int64_t index)
        : loader_(loader), order_(std::move(order)), index_(index) {}
    const DataLoader* loader_;
    Tensor order_;  // int64 sample indices on the dataset's device; undefined: in order
    int64_t index_;
  };
  Iterator begin();  // starts an epoch (draws the permutation when shuffling)
  Iterator end() const { return Iterator(this, Tensor(), num_batches()); }

 private:
  Batch batch(const Tensor& order, int64_t index) const;
  std::vector<int64_t> permutation();

  TensorDataset dataset_;
  DataLoaderOptions options_;
  uint64_t rng_state_;
};

}  // namespace tg::data
