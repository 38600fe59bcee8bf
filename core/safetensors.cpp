#include "safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <set>
#include <unordered_set>

#include "json.h"
#include "native.h"

namespace tg {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; a big-endian host would need byte swaps");

namespace {

using detail::Json;  // ordered: keeps the header's order (ties between empty tensors)

constexpr const char* kMetadataKey = "__metadata__";
// The reference implementation refuses headers above 100 MB; so do we, before allocating.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

const char* dtype_code(DType t) {
  switch (t) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

bool parse_dtype_code(const std::string& code, DType& out) {
  for (DType t : {DType::Float32, DType::Float64, DType::Int64, DType::Bool})
    if (code == dtype_code(t)) {
      out = t;
      return true;
    }
  return false;
}

// Dtypes of the format that tapegrad has no counterpart for (a clearer error than "unknown").
bool is_other_format_dtype(const std::string& code) {
  static const std::set<std::string> others = {"F16", "BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0",
                                               "F4", "F6_E2M3", "F6_E3M2", "I8", "I16", "I32",
                                               "U8", "U16", "U32", "U64", "C64"};
  return others.count(code) != 0;
}

using detail::quoted;
std::string brief(const Json& value) { return detail::json_brief(value); }

// ---------------------------------------------------------------- reading

// Where the bytes come from: a file (read with pread, so nothing beyond what is asked) or memory.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Exactly n bytes at offset; callers have checked offset + n <= size().
  virtual void read(uint64_t offset, void* dst, size_t n) const = 0;
};

class MemorySource : public ByteSource {
 public:
  MemorySource(const void* data, size_t size) : data_(static_cast<const char*>(data)), size_(size) {}
  uint64_t size() const override { return size_; }
  void read(uint64_t offset, void* dst, size_t n) const override {
    if (n) std::memcpy(dst, data_ + offset, n);
  }

 private:
  const char* data_;
  size_t size_;
};

class FileSource : public ByteSource {
 public:
  FileSource(const std::string& where, const std::string& path) : where_(where) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    TG_CHECK(fd_ >= 0, Runtime, where_, ": cannot open the file: ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      const int err = errno;
      ::close(fd_);
      TG_FAIL(Runtime, where_, ": cannot stat the file: ", std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd_);
      TG_FAIL(Value, where_, ": not a regular file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~FileSource() override { ::close(fd_); }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  uint64_t size() const override { return size_; }
  void read(uint64_t offset, void* dst, size_t n) const override {
    char* out = static_cast<char*>(dst);
    while (n > 0) {
      const ssize_t got = ::pread(fd_, out, n, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      TG_CHECK(got >= 0, Runtime, where_, ": read failed at byte ", offset, ": ", std::strerror(errno));
      TG_CHECK(got > 0, Runtime, where_, ": the file ended at byte ", offset,
               " while reading (was it truncated during the load?)");
      out += got;
      offset += static_cast<uint64_t>(got);
      n -= static_cast<size_t>(got);
    }
  }

 private:
  std::string where_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;  // within the data buffer
};

// An unsigned JSON integer that fits in int64, or an error saying what `what` holds instead.
uint64_t checked_count(const std::string& where, const std::string& what, const Json& value) {
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    TG_CHECK(v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), Value, where, ": ",
             what, " has the entry ", v, ", which is larger than 2^63 - 1");
    return v;
  }
  TG_CHECK(!value.is_number_integer(), Value, where, ": ", what, " has the entry ", brief(value),
           ", which is negative");
  TG_FAIL(Value, where, ": ", what, " has the entry ", brief(value), ", which is not an integer");
}

Entry parse_entry(const std::string& where, const std::string& name, const Json& value,
                  uint64_t buffer_size) {
  const std::string tensor = where + ": tensor " + quoted(name);
  TG_CHECK(value.is_object(), Value, tensor,
           ": expected an object with \"dtype\", \"shape\" and \"data_offsets\", got ", brief(value));
  for (const auto& [field, _] : value.items())
    TG_CHECK(field == "dtype" || field == "shape" || field == "data_offsets", Value, tensor,
             ": unknown field ", quoted(field), " (expected \"dtype\", \"shape\", \"data_offsets\")");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    TG_CHECK(value.contains(field), Value, tensor, ": the field \"", field, "\" is missing");

  Entry e;
  e.name = name;
  const Json& dtype = value["dtype"];
  TG_CHECK(dtype.is_string(), Value, tensor, ": dtype must be a string, got ", brief(dtype));
  const std::string& code = dtype.get_ref<const std::string&>();
  if (!parse_dtype_code(code, e.dtype)) {
    TG_CHECK(!is_other_format_dtype(code), Type, tensor, ": dtype ", code,
             " is not supported (tapegrad reads F32, F64, I64 and BOOL)");
    TG_FAIL(Value, tensor, ": unknown dtype ", quoted(code));
  }

  const Json& shape = value["shape"];
  TG_CHECK(shape.is_array(), Value, tensor, ": shape must be an array of integers, got ", brief(shape));
  TG_CHECK(shape.size() <= static_cast<size_t>(kernels::kMaxDims), Value, tensor, ": shape ",
           brief(shape), " has ", shape.size(), " dims; tapegrad tensors have at most ",
           kernels::kMaxDims);
  // The product of the non-zero dims must fit even when a zero makes the tensor empty: strides
  // are computed from it.
  uint64_t product = 1, product_bytes = 0;
  bool overflow = false, empty = false;
  for (const Json& d : shape) {
    const uint64_t n = checked_count(tensor, "shape " + brief(shape), d);
    e.shape.push_back(static_cast<int64_t>(n));
    if (n == 0) empty = true;
    else overflow = overflow || __builtin_mul_overflow(product, n, &product);
  }
  overflow = overflow || __builtin_mul_overflow(product, element_size(e.dtype), &product_bytes) ||
             product_bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  TG_CHECK(!overflow, Value, tensor, ": shape ", brief(shape), " of ", code,
           " has more bytes than a 64-bit count can hold");
  const uint64_t numel = empty ? 0 : product;
  const uint64_t nbytes = empty ? 0 : product_bytes;

  const Json& offsets = value["data_offsets"];
  TG_CHECK(offsets.is_array() && offsets.size() == 2, Value, tensor,
           ": data_offsets must be two integers [begin, end], got ", brief(offsets));
  e.begin = checked_count(tensor, "data_offsets " + brief(offsets), offsets[0]);
  e.end = checked_count(tensor, "data_offsets " + brief(offsets), offsets[1]);
  TG_CHECK(e.begin <= e.end, Value, tensor, ": data_offsets [", e.begin, ", ", e.end,
           "] end before they begin");
  TG_CHECK(e.end <= buffer_size, Value, tensor, ": data_offsets [", e.begin, ", ", e.end,
           "] run past the end of the data, which has ", buffer_size, " bytes");
  TG_CHECK(e.end - e.begin == nbytes, Value, tensor, ": data_offsets [", e.begin, ", ", e.end,
           "] hold ", e.end - e.begin, " bytes but shape ", brief(shape), " of ", code, " needs ",
           nbytes, " (", numel, " elements of ", element_size(e.dtype), " bytes)");
  return e;
}

SafetensorsContent read_safetensors(const std::string& where, const ByteSource& src) {
  const uint64_t size = src.size();
  TG_CHECK(size >= 8, Value, where, ": not a safetensors file: it has ", size,
           " bytes, fewer than the 8 of the header length");
  unsigned char prefix[8];
  src.read(0, prefix, 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | prefix[i];
  // The formats people most often hand us by mistake: PyTorch's .pt (a zip, or a bare pickle).
  // Named only when the bytes cannot be a safetensors header anyway.
  const bool zip = prefix[0] == 'P' && prefix[1] == 'K' && prefix[2] == 3 && prefix[3] == 4;
  const bool pickle = prefix[0] == 0x80 && prefix[1] >= 2 && prefix[1] <= 5;
  if (zip || pickle) {
    char first = 0;
    if (size > 8) src.read(8, &first, 1);
    const bool plausible = header_len >= 2 && header_len <= kMaxHeaderBytes && header_len <= size - 8 && first == '{';
    TG_CHECK(plausible || !zip, Value, where, ": this is a zip archive (PyTorch's torch.save format?), "
             "not a safetensors file; in PyTorch, save with safetensors.torch.save_file(state_dict, path)");
    TG_CHECK(plausible || !pickle, Value, where, ": this is a Python pickle (an old torch.save file?), "
             "not a safetensors file; in PyTorch, save with safetensors.torch.save_file(state_dict, path)");
  }
  TG_CHECK(header_len <= kMaxHeaderBytes, Value, where, ": the header length ", header_len,
           " is larger than the limit of ", kMaxHeaderBytes, " bytes");
  TG_CHECK(header_len <= size - 8, Value, where, ": the header length ", header_len,
           " runs past the end of the file (", size, " bytes)");
  TG_CHECK(header_len >= 2, Value, where, ": the header length ", header_len,
           " is too short for a JSON object");
  std::string text(header_len, '\0');
  src.read(8, text.data(), header_len);
  TG_CHECK(text[0] == '{', Value, where, ": the header must start with '{', got ",
           quoted(text.substr(0, 1)));
  const Json header = detail::parse_json(where + " header", text.data(), text.size());
  TG_CHECK(header.is_object(), Value, where, ": the header is not a JSON object");

  const uint64_t data_start = 8 + header_len;
  const uint64_t buffer_size = size - data_start;
  SafetensorsContent out;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      TG_CHECK(value.is_object(), Value, where, ": \"__metadata__\" must be an object of strings, got ",
               brief(value));
      for (const auto& [key, item] : value.items()) {
        TG_CHECK(item.is_string(), Value, where, ": the __metadata__ value of ", quoted(key),
                 " must be a string, got ", brief(item));
        out.metadata[key] = item.get<std::string>();
      }
      continue;
    }
    // The same rule as the writer's, so whatever loads can be saved again.
    TG_CHECK(!name.empty(), Value, where, ": a tensor has an empty name");
    entries.push_back(parse_entry(where, name, value, buffer_size));
  }

  // The entries must tile the buffer: no overlap, no hole, nothing after the last one.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < covered)
      TG_FAIL(Value, where, ": tensor ", quoted(e.name), " (data_offsets [", e.begin, ", ", e.end,
              "]) overlaps tensor ", quoted(previous->name), " (data_offsets [", previous->begin,
              ", ", previous->end, "])");
    TG_CHECK(e.begin == covered, Value, where, ": bytes [", covered, ", ", e.begin,
             ") of the data belong to no tensor (a hole before tensor ", quoted(e.name), ")");
    covered = e.end;
    previous = &e;
  }
  TG_CHECK(covered == buffer_size, Value, where, ": bytes [", covered, ", ", buffer_size,
           ") of the data belong to no tensor (the file has trailing bytes)");

  // Only now is anything allocated: each tensor's size is bounded by the file's.
  for (const Entry& e : entries) {
    Tensor t = native::empty(e.shape, e.dtype, Device(kCPU));
    const size_t nbytes = static_cast<size_t>(e.end - e.begin);
    src.read(data_start + e.begin, t.data_ptr(), nbytes);
    if (e.dtype == DType::Bool) {
      const unsigned char* p = static_cast<const unsigned char*>(t.data_ptr());
      for (size_t i = 0; i < nbytes; ++i)
        TG_CHECK(p[i] <= 1, Value, where, ": tensor ", quoted(e.name), " of BOOL has the byte ",
                 int(p[i]), " at element ", i, " (only 0 and 1 are booleans)");
    }
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

// ---------------------------------------------------------------- writing

// A JSON string literal; an error names `what` when s is not valid UTF-8.
std::string json_string(const char* op, const std::string& what, const std::string& s) {
  try {
    return Json(s).dump();
  } catch (const Json::exception&) {
    TG_FAIL(Value, op, ": ", what, " ", quoted(s), " is not valid UTF-8");
  }
}

// The header (padded) and the host tensors whose bytes follow it, in order.
struct Prepared {
  std::string prefix;  // length + header
  std::vector<Tensor> host;
};

Prepared prepare(const char* op, const NamedTensors& tensors, const SafetensorsMetadata& metadata) {
  Prepared out;
  std::unordered_set<std::string> names;
  std::string header = "{";
  if (!metadata.empty()) {
    header += std::string("\"") + kMetadataKey + "\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      if (!first) header += ",";
      first = false;
      header += json_string(op, "the metadata key", key) + ":" +
                json_string(op, "the metadata value of " + quoted(key) + ",", value);
    }
    header += "}";
  }
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    TG_CHECK(!name.empty(), Value, op, ": a tensor has an empty name");
    TG_CHECK(name != kMetadataKey, Value, op, ": \"", kMetadataKey,
             "\" is reserved for the metadata and cannot name a tensor");
    TG_CHECK(names.insert(name).second, Value, op, ": the name ", quoted(name), " appears twice");
    TG_CHECK(tensor.defined(), Value, op, ": tensor ", quoted(name), " is undefined");
    Tensor host = native::contiguous(native::to_device(tensor, Device(kCPU)));
    const uint64_t nbytes = static_cast<uint64_t>(host.numel()) * element_size(host.dtype());
    if (header.size() > 1) header += ",";
    header += json_string(op, "the tensor name", name) + ":{\"dtype\":\"" + dtype_code(host.dtype()) +
              "\",\"shape\":[";
    for (size_t d = 0; d < host.sizes().size(); ++d) {
      if (d) header += ',';
      header += std::to_string(host.sizes()[d]);
    }
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + nbytes) + "]}";
    offset += nbytes;
    out.host.push_back(std::move(host));
  }
  header += "}";
  // Spaces up to a multiple of 8, so the data starts 8-byte aligned (as the reference writer).
  header.append((8 - header.size() % 8) % 8, ' ');
  uint64_t n = header.size();
  out.prefix.resize(8);
  for (int i = 0; i < 8; ++i, n >>= 8) out.prefix[i] = static_cast<char>(n & 0xff);
  out.prefix += header;
  return out;
}

std::string parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Writes to a fresh temporary file beside `path`, syncs it and renames it over `path` (then syncs
// the folder): readers and crashes see the old file or the new one, never a mix. On failure the
// temporary is removed and the error names the path and the system's reason.
class AtomicFile {
 public:
  AtomicFile(const char* op, std::string path) : op_(op), path_(std::move(path)) {
    static std::atomic<uint64_t> counter{0};
    const std::string dir = parent_dir(path_);
    const std::string base = path_.substr(path_.find_last_of('/') + 1);
    TG_CHECK(!base.empty(), Value, op_, ": ", quoted(path_), " names a folder, not a file");
    for (int attempt = 0; fd_ < 0; ++attempt) {
      tmp_ = (dir == "/" ? "" : dir) + "/." + base + ".tmp." + std::to_string(::getpid()) + "." +
             std::to_string(counter++);
      fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ < 0 && (errno != EEXIST || attempt > 100)) fail("cannot create the temporary file");
    }
  }
  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t done = ::write(fd_, p, n);
      if (done < 0 && errno == EINTR) continue;
      if (done < 0) fail("write failed");
      p += done;
      n -= static_cast<size_t>(done);
    }
  }

  void commit() {
    if (::fsync(fd_) != 0) fail("fsync failed");
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("close failed");
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("cannot rename the temporary file over it");
    committed_ = true;
    // The rename is durable once the folder is synced; some filesystems cannot sync folders.
    const int dir = ::open(parent_dir(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      const int rc = ::fsync(dir);
      const int err = errno;
      ::close(dir);
      errno = err;
      if (rc != 0 && errno != EINVAL && errno != EROFS) fail("fsync of its folder failed");
    }
  }

 private:
  [[noreturn]] void fail(const char* what) {
    const int err = errno;
    TG_FAIL(Runtime, op_, ": cannot write ", quoted(path_), ": ", what, " (", quoted(tmp_), "): ",
            std::strerror(err));
  }

  const char* op_;
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

const Tensor& SafetensorsContent::at(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  std::string names;
  for (const auto& [n, _] : tensors) names += (names.empty() ? "" : ", ") + quoted(n);
  TG_FAIL(Index, "safetensors: no tensor named ", quoted(name), " (the file has ",
          names.empty() ? "none" : names, ")");
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const SafetensorsMetadata& metadata) {
  const char* op = "save_safetensors";
  const Prepared prepared = prepare(op, tensors, metadata);
  AtomicFile file(op, path);
  file.write(prepared.prefix.data(), prepared.prefix.size());
  for (const Tensor& t : prepared.host)
    file.write(t.data_ptr(), static_cast<size_t>(t.numel()) * element_size(t.dtype()));
  file.commit();
}

std::string save_safetensors_to_bytes(const NamedTensors& tensors, const SafetensorsMetadata& metadata) {
  const Prepared prepared = prepare("save_safetensors_to_bytes", tensors, metadata);
  std::string out = prepared.prefix;
  for (const Tensor& t : prepared.host)
    out.append(static_cast<const char*>(t.data_ptr()),
               static_cast<size_t>(t.numel()) * element_size(t.dtype()));
  return out;
}

SafetensorsContent load_safetensors(const std::string& path) {
  const std::string where = "load_safetensors: " + quoted(path);
  FileSource file(where, path);
  return read_safetensors(where, file);
}

SafetensorsContent load_safetensors_from_bytes(const void* data, size_t size, const std::string& source) {
  TG_CHECK(data != nullptr || size == 0, Value, "load_safetensors_from_bytes: null data of ", size,
           " bytes");
  MemorySource bytes(data, size);
  return read_safetensors("load_safetensors_from_bytes: " + source, bytes);
}

}  // namespace tg
