// tg::data (examples/data): IDX files, plain and gzipped, good and broken, and the DataLoader.
// The files are written here byte by byte, so the expected values are known exactly.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "data/idx.h"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

// A fresh directory per test, removed afterwards.
class IdxFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("tapegrad_idx_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const Bytes& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return path;
  }
  std::string dir() const { return dir_.string(); }

  fs::path dir_;
};

// magic 00 00 08 ndims, big-endian dims, then the payload.
Bytes idx(const std::vector<uint32_t>& dims, const Bytes& payload) {
  Bytes b = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int shift : {24, 16, 8, 0}) b.push_back(static_cast<uint8_t>(d >> shift));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes gzip(const Bytes& raw) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out(deflateBound(&zs, raw.size()) + 32);
  zs.next_in = const_cast<Bytef*>(raw.data());
  zs.avail_in = raw.size();
  zs.next_out = out.data();
  zs.avail_out = out.size();
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

Bytes iota_bytes(size_t n, uint8_t start = 0) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(start + 37 * i);
  return b;
}

// `f` must throw tg::Error whose message contains every one of `parts`.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const tg::Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
    return;
  }
  ADD_FAILURE() << "no tg::Error thrown";
}

TEST_F(IdxFiles, PlainAndGzippedFilesGiveTheSameValues) {
  const Bytes payload = iota_bytes(2 * 3 * 4);
  const Bytes file = idx({2, 3, 4}, payload);
  for (const std::string& path : {write("a.idx", file), write("a.idx.gz", gzip(file))}) {
    const tg::data::IdxArray a = tg::data::read_idx(path);
    EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 3, 4})) << path;
    EXPECT_EQ(a.values, payload) << path;
  }
}

TEST_F(IdxFiles, ConcatenatedGzipMembersAreOneStream) {
  const Bytes file = idx({5}, {1, 2, 3, 4, 5});
  const Bytes head(file.begin(), file.begin() + 6), tail(file.begin() + 6, file.end());
  Bytes both = gzip(head);
  const Bytes second = gzip(tail);
  both.insert(both.end(), second.begin(), second.end());
  EXPECT_EQ(tg::data::read_idx(write("two.gz", both)).values, (Bytes{1, 2, 3, 4, 5}));
}

TEST_F(IdxFiles, ImagesScaleToUnitRangeAndNormalize) {
  const tg::data::IdxArray images = tg::data::parse_idx(idx({2, 1, 3}, {0, 51, 255, 102, 204, 153}), "img");
  const tg::Tensor x = tg::data::images_to_tensor(images, "img");
  EXPECT_EQ(x.sizes(), (tg::Shape{2, 1, 1, 3}));
  EXPECT_EQ(x.dtype(), tg::kFloat32);
  const std::vector<float> expected = {0.0f, 0.2f, 1.0f, 0.4f, 0.8f, 0.6f};
  const std::vector<float> got = x.to_vector<float>();
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-7) << i;

  const std::vector<float> normalized =
      tg::data::images_to_tensor(images, "img", tg::data::Normalize{0.5, 0.25}).to_vector<float>();
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(normalized[i], (expected[i] - 0.5) / 0.25, 1e-6) << i;
  expect_error([&] { tg::data::images_to_tensor(images, "img", tg::data::Normalize{0.5, 0.0}); },
               {"std must be > 0", "0"});
}

TEST_F(IdxFiles, LoadMnistReadsAllFourFilesPlainOrGzipped) {
  const Bytes train_images = iota_bytes(3 * 2 * 2), test_images = iota_bytes(2 * 2 * 2, 7);
  write("train-images-idx3-ubyte.gz", gzip(idx({3, 2, 2}, train_images)));
  write("train-labels-idx1-ubyte.gz", gzip(idx({3}, {9, 0, 4})));
  write("t10k-images-idx3-ubyte", idx({2, 2, 2}, test_images));  // plain, as classic MNIST unpacked
  write("t10k-labels-idx1-ubyte", idx({2}, {1, 8}));
  const tg::data::TensorDataset train = tg::data::load_mnist(dir(), true);
  const tg::data::TensorDataset test = tg::data::load_mnist(dir(), false);
  EXPECT_EQ(train.data.sizes(), (tg::Shape{3, 1, 2, 2}));
  EXPECT_EQ(test.data.sizes(), (tg::Shape{2, 1, 2, 2}));
  EXPECT_EQ(train.targets.to_vector<int64_t>(), (std::vector<int64_t>{9, 0, 4}));
  EXPECT_EQ(test.targets.to_vector<int64_t>(), (std::vector<int64_t>{1, 8}));
  EXPECT_EQ(test.targets.dtype(), tg::kInt64);
  const std::vector<float> pixels = test.data.to_vector<float>();
  for (size_t i = 0; i < pixels.size(); ++i) EXPECT_FLOAT_EQ(pixels[i], test_images[i] / 255.0f) << i;
}

TEST_F(IdxFiles, MalformedHeadersNameTheFileAndTheValues) {
  using tg::data::parse_idx;
  expect_error([] { parse_idx({0, 0, 8}, "f.idx"); }, {"'f.idx'", "too short", "3 bytes"});
  expect_error([] { parse_idx({1, 0, 8, 1, 0, 0, 0, 1, 5}, "f.idx"); },
               {"'f.idx'", "not an IDX file", "1, 0"});
  expect_error([] { parse_idx({0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0}, "f.idx"); },
               {"'f.idx'", "dtype code 13", "only unsigned bytes (8)"});
  expect_error([] { parse_idx({0, 0, 8, 0}, "f.idx"); }, {"'f.idx'", "0 dimensions"});
  expect_error([] { parse_idx({0, 0, 8, 3, 0, 0, 0, 2, 0, 0}, "f.idx"); },
               {"'f.idx'", "truncated", "header needs 16 bytes", "3 dimensions", "has 10"});
  expect_error([] { parse_idx(idx({2, 0, 3}, {}), "f.idx"); }, {"'f.idx'", "dimension 1 of size 0"});
  // Dims whose product overflows 64 bits.
  expect_error([] { parse_idx(idx({0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {}), "f.idx"); },
               {"'f.idx'", "more elements than fit in 64 bits"});
}

TEST_F(IdxFiles, PayloadMustMatchTheDims) {
  using tg::data::parse_idx;
  expect_error([] { parse_idx(idx({2, 3}, iota_bytes(5)), "short.idx"); },
               {"'short.idx'", "[2, 3]", "6 values", "5 bytes", "truncated"});
  expect_error([] { parse_idx(idx({2, 3}, iota_bytes(7)), "long.idx"); },
               {"'long.idx'", "6 values", "7 bytes", "trailing bytes"});
  // A huge declared size with a tiny file is rejected before anything is allocated.
  expect_error([] { parse_idx(idx({60000, 28, 28}, iota_bytes(10)), "big.idx"); },
               {"'big.idx'", "47040000 values", "10 bytes"});
}

TEST_F(IdxFiles, BrokenGzipIsAnErrorNamingTheFile) {
  const Bytes good = gzip(idx({100}, iota_bytes(100)));
  // Truncated: the compressed stream stops half way.
  const std::string truncated = write("cut.gz", Bytes(good.begin(), good.begin() + good.size() / 2));
  expect_error([&] { tg::data::read_idx(truncated); }, {truncated, "not a valid gzip file", "truncated"});
  // Corrupt: the deflate data (after the 10-byte gzip header) overwritten with garbage.
  Bytes bad = good;
  for (size_t i = 10; i < bad.size() - 8; ++i) bad[i] = 0xFF;
  const std::string corrupt = write("bad.gz", bad);
  expect_error([&] { tg::data::read_idx(corrupt); }, {corrupt, "not a valid gzip file"});
  // Only the gzip magic.
  const std::string magic_only = write("magic.gz", {0x1f, 0x8b});
  expect_error([&] { tg::data::read_idx(magic_only); }, {magic_only, "not a valid gzip file"});
  // A valid gzip stream whose content is not IDX.
  const std::string text = write("text.gz", gzip(Bytes{'h', 'e', 'l', 'l', 'o', '\n'}));
  expect_error([&] { tg::data::read_idx(text); }, {text, "not an IDX file"});
}

TEST_F(IdxFiles, MissingFilesAndWrongContents) {
  expect_error([&] { tg::data::read_idx(dir() + "/nope.gz"); }, {"cannot open", "nope.gz"});
  expect_error([&] { tg::data::load_mnist(dir(), true); },
               {"train-images-idx3-ubyte.gz", "train-images-idx3-ubyte", dir()});

  // Labels where images belong, and the reverse.
  const std::string labels = write("l", idx({4}, {1, 2, 3, 4}));
  const std::string images = write("i", idx({1, 2, 2}, {1, 2, 3, 4}));
  expect_error([&] { tg::data::images_to_tensor(tg::data::read_idx(labels), labels); },
               {labels, "images [count, rows, columns]", "0x00000803", "[4]"});
  expect_error([&] { tg::data::labels_to_tensor(tg::data::read_idx(images), images); },
               {images, "labels [count]", "0x00000801", "[1, 2, 2]"});

  // Count mismatch, then a label outside the classes.
  write("train-images-idx3-ubyte", idx({3, 1, 1}, {1, 2, 3}));
  write("train-labels-idx1-ubyte", idx({2}, {0, 1}));
  expect_error([&] { tg::data::load_mnist(dir(), true); }, {"3 images", "2 labels"});
  write("train-labels-idx1-ubyte", idx({3}, {0, 12, 1}));
  expect_error([&] { tg::data::load_mnist(dir(), true); }, {"label 1", "is 12", "10 classes"});
}

// ---------------------------------------------------------------- DataLoader

tg::data::TensorDataset numbered(int64_t n) {
  // Sample i holds the value i in both data and target, so the pairing can be checked.
  return {tg::arange(static_cast<double>(n), tg::kFloat32).reshape({n, 1}), tg::arange(static_cast<double>(n), tg::kInt64)};
}

TEST(DataLoader, InOrderBatchesWithAndWithoutDropLast) {
  tg::data::DataLoader keep(numbered(10), {.batch_size = 4});
  EXPECT_EQ(keep.num_batches(), 3);
  std::vector<int64_t> sizes, targets;
  for (const tg::data::Batch b : keep) {
    sizes.push_back(b.target.size(0));
    for (int64_t t : b.target.to_vector<int64_t>()) targets.push_back(t);
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_EQ(targets, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));

  tg::data::DataLoader drop(numbered(10), {.batch_size = 4, .drop_last = true});
  EXPECT_EQ(drop.num_batches(), 2);
  int64_t batches = 0;
  for (const tg::data::Batch b : drop) EXPECT_EQ(b.data.size(0), 4) << ++batches;
  EXPECT_EQ(tg::data::DataLoader(numbered(8), {.batch_size = 4, .drop_last = true}).num_batches(), 2);
}

std::vector<int64_t> epoch_order(tg::data::DataLoader& loader) {
  std::vector<int64_t> order;
  for (const tg::data::Batch b : loader) {
    const auto data = b.data.to_vector<float>();
    const auto target = b.target.to_vector<int64_t>();
    for (size_t i = 0; i < target.size(); ++i) {
      EXPECT_EQ(static_cast<int64_t>(data[i]), target[i]) << "data and target out of step";
      order.push_back(target[i]);
    }
  }
  return order;
}

TEST(DataLoader, ShuffleIsAPermutationReproducibleBySeed) {
  tg::data::DataLoader a(numbered(100), {.batch_size = 7, .shuffle = true, .seed = 42});
  tg::data::DataLoader b(numbered(100), {.batch_size = 7, .shuffle = true, .seed = 42});
  tg::data::DataLoader c(numbered(100), {.batch_size = 7, .shuffle = true, .seed = 43});
  const std::vector<int64_t> a1 = epoch_order(a), a2 = epoch_order(a);
  EXPECT_EQ(std::set<int64_t>(a1.begin(), a1.end()).size(), 100u);
  EXPECT_EQ(a1.size(), 100u);
  EXPECT_NE(a1, a2) << "each epoch draws a new permutation";
  EXPECT_EQ(epoch_order(b), a1);
  EXPECT_EQ(epoch_order(b), a2);
  EXPECT_NE(epoch_order(c), a1);
  std::vector<int64_t> sorted = a1;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NE(sorted, a1);
}

TEST(DataLoader, BadArgumentsAreErrors) {
  expect_error([] { tg::data::DataLoader(numbered(4), {.batch_size = 0}); }, {"batch_size", "0"});
  expect_error([] { tg::data::TensorDataset(tg::zeros({3, 2}), tg::zeros({4})); },
               {"TensorDataset", "[3, 2]", "[4]"});
}

}  // namespace
