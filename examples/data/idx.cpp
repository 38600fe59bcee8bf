#include "idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

namespace tg::data {
namespace {

// Larger than any IDX data set in use (Fashion-MNIST's largest file is 47 MB): a gzip bomb or a
// wrong file fails with a message instead of exhausting memory.
constexpr size_t kMaxDecompressedBytes = size_t{1} << 32;

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TG_CHECK(in, Runtime, "read_idx: cannot open '", path, "': ", std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TG_CHECK(!in.bad(), Runtime, "read_idx: error reading '", path, "'");
  return bytes;
}

// Inflates every gzip member in `in` (a .gz file may hold several, concatenated).
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path) {
  z_stream zs{};
  TG_CHECK(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK, Runtime, "read_idx: zlib init failed");
  std::vector<uint8_t> out;
  out.resize(std::max<size_t>(in.size() * 4, 1 << 16));
  zs.next_in = const_cast<Bytef*>(in.data());
  size_t in_left = in.size();
  size_t produced = 0;
  int rc = Z_OK;
  auto fail = [&](const std::string& why) {
    inflateEnd(&zs);
    TG_FAIL(Value, "read_idx: '", path, "' is not a valid gzip file: ", why, " (", in.size(),
            " compressed bytes, ", produced, " decompressed before the error)");
  };
  while (true) {
    if (produced == out.size()) {
      if (out.size() >= kMaxDecompressedBytes)
        fail("it decompresses to more than " + std::to_string(kMaxDecompressedBytes) + " bytes");
      out.resize(std::min(out.size() * 2, kMaxDecompressedBytes));
    }
    // zlib counts in uInt: feed and drain at most 1 GiB per call.
    const uInt in_chunk = static_cast<uInt>(std::min<size_t>(in_left, 1u << 30));
    const uInt out_chunk = static_cast<uInt>(std::min<size_t>(out.size() - produced, 1u << 30));
    zs.avail_in = in_chunk;
    zs.next_out = out.data() + produced;
    zs.avail_out = out_chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    in_left -= in_chunk - zs.avail_in;
    produced += out_chunk - zs.avail_out;
    if (rc == Z_STREAM_END) {
      if (in_left == 0) break;
      // Another member follows, unless the rest is padding zeros (as some tools write).
      const uint8_t* rest = zs.next_in;
      bool only_zeros = true;
      for (size_t i = 0; i < in_left && only_zeros; ++i) only_zeros = rest[i] == 0;
      if (only_zeros) break;
      if (inflateReset(&zs) != Z_OK) fail("zlib reset failed");
      continue;
    }
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_MEM_ERROR || rc == Z_STREAM_ERROR)
      fail(zs.msg ? zs.msg : "corrupt data");
    // Z_BUF_ERROR with no input left: the stream stops before its end.
    if (in_left == 0 && zs.avail_out != 0) fail("truncated (the compressed stream ends early)");
  }
  inflateEnd(&zs);
  out.resize(produced);
  return out;
}

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string file_name(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

// An IdxArray built by hand (not by parse_idx) may disagree with itself.
void check_consistent(const IdxArray& array, const std::string& name) {
  int64_t count = 1;
  for (int64_t d : array.dims) count *= d;
  TG_CHECK(static_cast<size_t>(count) == array.values.size(), Value, "read_idx: '", name,
           "' has dims ", array.dims, " (", count, " values) but ", array.values.size(), " values");
}

}  // namespace

std::vector<uint8_t> maybe_gunzip(std::vector<uint8_t> bytes, const std::string& name) {
  if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) return gunzip(bytes, name);
  return bytes;
}

std::vector<uint8_t> read_maybe_gzipped(const std::string& path) { return maybe_gunzip(read_file(path), path); }

IdxArray parse_idx(const std::vector<uint8_t>& bytes, const std::string& name) {
  TG_CHECK(bytes.size() >= 4, Value, "read_idx: '", name, "' is too short for an IDX header (",
           bytes.size(), " bytes, the magic number alone is 4)");
  TG_CHECK(bytes[0] == 0 && bytes[1] == 0, Value, "read_idx: '", name,
           "' is not an IDX file: its magic number starts with bytes ", int(bytes[0]), ", ",
           int(bytes[1]), " instead of 0, 0");
  TG_CHECK(bytes[2] == 0x08, Value, "read_idx: '", name, "' holds dtype code ", int(bytes[2]),
           "; only unsigned bytes (8) are supported");
  const int ndims = bytes[3];
  TG_CHECK(ndims >= 1, Value, "read_idx: '", name, "' declares 0 dimensions");
  const size_t header = 4 + 4 * static_cast<size_t>(ndims);
  TG_CHECK(bytes.size() >= header, Value, "read_idx: '", name, "' is truncated: its header needs ",
           header, " bytes for ", ndims, " dimensions, the file has ", bytes.size());
  IdxArray array;
  uint64_t count = 1;
  for (int d = 0; d < ndims; ++d) {
    const uint32_t size = big_endian_u32(bytes.data() + 4 + 4 * d);
    TG_CHECK(size > 0, Value, "read_idx: '", name, "' has dimension ", d, " of size 0");
    TG_CHECK(count <= std::numeric_limits<uint64_t>::max() / size, Value, "read_idx: '", name,
             "' declares more elements than fit in 64 bits");
    count *= size;
    array.dims.push_back(size);
  }
  const uint64_t payload = bytes.size() - header;
  TG_CHECK(payload == count, Value, "read_idx: '", name, "' has dims ", array.dims, " (", count,
           " values) but ", payload, " bytes of data after its ", header, "-byte header (",
           payload < count ? "truncated" : "trailing bytes", ")");
  array.values.assign(bytes.begin() + header, bytes.end());
  return array;
}

IdxArray read_idx(const std::string& path) {
  return parse_idx(read_maybe_gzipped(path), path);
}

Tensor images_to_tensor(const IdxArray& images, const std::string& name,
                        std::optional<Normalize> normalize) {
  TG_CHECK(images.dims.size() == 3, Value, "images_to_tensor: '", name,
           "' should hold images [count, rows, columns] (magic 0x00000803) but has dims ",
           images.dims);
  check_consistent(images, name);
  if (normalize)
    TG_CHECK(normalize->std > 0, Value, "images_to_tensor: std must be > 0, got ", normalize->std);
  const double mean = normalize ? normalize->mean : 0.0;
  const double scale = 1.0 / (255.0 * (normalize ? normalize->std : 1.0));
  const double shift = mean / (normalize ? normalize->std : 1.0);
  Tensor out = empty({images.dims[0], 1, images.dims[1], images.dims[2]});
  float* dst = out.data_ptr<float>();
  for (size_t i = 0; i < images.values.size(); ++i)
    dst[i] = static_cast<float>(images.values[i] * scale - shift);
  return out;
}

Tensor labels_to_tensor(const IdxArray& labels, const std::string& name) {
  TG_CHECK(labels.dims.size() == 1, Value, "labels_to_tensor: '", name,
           "' should hold labels [count] (magic 0x00000801) but has dims ", labels.dims);
  check_consistent(labels, name);
  Tensor out = empty({labels.dims[0]}, kInt64);
  int64_t* dst = out.data_ptr<int64_t>();
  for (size_t i = 0; i < labels.values.size(); ++i) dst[i] = labels.values[i];
  return out;
}

TensorDataset::TensorDataset(Tensor data_, Tensor targets_)
    : data(std::move(data_)), targets(std::move(targets_)) {
  TG_CHECK(data.dim() >= 1 && targets.dim() >= 1 && data.size(0) == targets.size(0), Value,
           "TensorDataset: data ", data.sizes(), " and targets ", targets.sizes(),
           " must have the same size in dimension 0");
}

TensorDataset load_mnist(const std::string& dir, bool train, std::optional<Normalize> normalize,
                         int64_t num_classes) {
  const std::string prefix = train ? "train" : "t10k";
  auto find = [&](const std::string& stem) {
    const std::filesystem::path plain = std::filesystem::path(dir) / stem;
    for (const std::string& candidate : {plain.string() + ".gz", plain.string()})
      if (std::filesystem::is_regular_file(candidate)) return candidate;
    TG_FAIL(Runtime, "load_mnist: neither ", plain.string(), ".gz nor ", plain.string(),
            " exists (expected the four IDX files of an MNIST-like data set in '", dir, "')");
  };
  const std::string images_path = find(prefix + "-images-idx3-ubyte");
  const std::string labels_path = find(prefix + "-labels-idx1-ubyte");
  const IdxArray images = read_idx(images_path);
  const IdxArray labels = read_idx(labels_path);
  TG_CHECK(images.dims[0] == labels.dims[0], Value, "load_mnist: ", file_name(images_path),
           " holds ", images.dims[0], " images but ", file_name(labels_path), " holds ",
           labels.dims[0], " labels");
  for (size_t i = 0; i < labels.values.size(); ++i)
    TG_CHECK(labels.values[i] < num_classes, Value, "load_mnist: ", labels_path, " label ", i,
             " is ", int(labels.values[i]), ", outside the ", num_classes, " classes");
  return {images_to_tensor(images, images_path, normalize), labels_to_tensor(labels, labels_path)};
}

// ---------------------------------------------------------------- DataLoader

DataLoader::DataLoader(TensorDataset dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(options), rng_state_(options.seed) {
  TG_CHECK(options_.batch_size > 0, Value, "DataLoader: batch_size must be positive, got ",
           options_.batch_size);
}

int64_t DataLoader::num_batches() const {
  const int64_t n = dataset_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

// Fisher-Yates over a SplitMix64 stream: the same permutations on every platform (std::shuffle
// and the std distributions are not specified bit for bit).
std::vector<int64_t> DataLoader::permutation() {
  auto next = [this] {
    uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  const int64_t n = dataset_.size();
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  for (int64_t i = n - 1; i > 0; --i) {
    // An unbiased draw from [0, i]: reject the top, incomplete copy of the range.
    const uint64_t range = static_cast<uint64_t>(i) + 1;
    const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % range;
    uint64_t r;
    do r = next();
    while (r >= limit);
    std::swap(order[i], order[r % range]);
  }
  return order;
}

DataLoader::Iterator DataLoader::begin() {
  Tensor order;
  if (options_.shuffle) {
    const std::vector<int64_t> perm = permutation();
    order = tensor(perm, {static_cast<int64_t>(perm.size())}).to(dataset_.data.device());
  }
  return Iterator(this, order, 0);
}

Batch DataLoader::batch(const Tensor& order, int64_t index) const {
  const int64_t start = index * options_.batch_size;
  const int64_t length = std::min(options_.batch_size, dataset_.size() - start);
  if (!order.defined())
    return {dataset_.data.narrow(0, start, length), dataset_.targets.narrow(0, start, length)};
  const Tensor rows = order.narrow(0, start, length);
  return {dataset_.data.index_select(0, rows), dataset_.targets.index_select(0, rows)};
}

}  // namespace tg::data
