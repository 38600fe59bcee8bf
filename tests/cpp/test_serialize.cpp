// Checkpoints in the safetensors format: round trips of every dtype, a file compared byte for byte
// with one built by hand from the format's description, hostile files (each must give a clear
// tg::Error, never a crash or an out-of-bounds read), modules and optimizers (training resumed from
// a checkpoint is bit-identical to an uninterrupted run), and a save killed with SIGKILL at random
// moments (the previous file must survive).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "nn/nn.h"
#include "optim/optim.h"

namespace {

using namespace tg;
namespace fs = std::filesystem;

// A fresh folder per test, removed at the end.
class ScratchDir {
 public:
  ScratchDir() {
    static int counter = 0;
    path_ = fs::path(::testing::TempDir()) /
            ("tg_serialize_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Names of everything in the folder.
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  fs::path path_;
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i, n >>= 8) s[i] = static_cast<char>(n & 0xff);
  return s;
}

// A file as the format describes it: length, header text, data.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

// Same dtype, shape and bytes.
bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.sizes() != b.sizes()) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  const size_t n = static_cast<size_t>(a.numel()) * element_size(a.dtype());
  return n == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), n) == 0;
}

void expect_identical(const Tensor& a, const Tensor& b, const std::string& what) {
  EXPECT_TRUE(same_bits(a, b)) << what << " differs:\n" << a << "\n" << b;
}

// `f` must throw tg::Error of `kind` whose message contains each of `parts`.
void expect_error(const std::function<void()>& f, Error::Kind kind, const std::vector<std::string>& parts,
                  const std::string& what) {
  try {
    f();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << what << ": " << msg;
    for (const auto& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << what << ": \"" << msg << "\" lacks \"" << p << "\"";
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": threw a non-tg exception: " << e.what();
    return;
  }
  ADD_FAILURE() << what << ": did not throw";
}

// ---------------------------------------------------------------- raw tensors

TEST(Safetensors, RoundTripEveryDtypeAndShape) {
  ScratchDir dir;
  const NamedTensors tensors = {
      {"f32", tensor(std::vector<double>{1.5, -2.25, 3.0, 1e-30, -0.0, 7.0}, Shape{2, 3})},
      {"f64_scalar", scalar_tensor(0.1, kFloat64)},
      {"i64", tensor(std::vector<int64_t>{0, -1, int64_t(1) << 62, -(int64_t(1) << 40)}, {4})},
      {"bool", tensor(std::vector<double>{1.0, 0.0, 0.0, 1.0}, Shape{2, 2}, kBool)},
      {"empty_f32", zeros({0}, kFloat32)},
      {"empty_3d_i64", zeros({3, 0, 2}, kInt64)},
      {"scalar_bool", scalar_tensor(1.0, kBool)},
      {"transposed_view", arange(0.0, 6.0, 1.0, kFloat64).view({2, 3}).t()},
      {"nested.name.with.dots", randn({3, 1, 2})},
  };
  const SafetensorsMetadata metadata = {{"format", "pt"}, {"epoch", "3"}, {"unicode", "h\xc3\xa9llo"}};
  const std::string path = dir.file("all.safetensors");
  save_safetensors(path, tensors, metadata);
  const SafetensorsContent loaded = load_safetensors(path);
  EXPECT_EQ(loaded.metadata, metadata);
  ASSERT_EQ(loaded.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(loaded.tensors[i].first, tensors[i].first) << "file order is save order";
    expect_identical(loaded.tensors[i].second, tensors[i].second, tensors[i].first);
  }
  EXPECT_EQ(loaded.at("transposed_view").to_vector<double>(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  expect_error([&] { loaded.at("nope"); }, Error::Kind::Index, {"\"nope\"", "\"f32\""}, "at");

  // The in-memory form is the file's bytes.
  const std::string bytes = save_safetensors_to_bytes(tensors, metadata);
  EXPECT_EQ(bytes, read_bytes(path));
  const SafetensorsContent from_bytes = load_safetensors_from_bytes(bytes.data(), bytes.size());
  ASSERT_EQ(from_bytes.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i)
    expect_identical(from_bytes.tensors[i].second, tensors[i].second, tensors[i].first);

  // No tensors and no metadata is a valid file too; saving again replaces the file.
  save_safetensors(path, {});
  EXPECT_EQ(read_bytes(path), le64(8) + "{}      ");
  EXPECT_TRUE(load_safetensors(path).tensors.empty());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"all.safetensors"}) << "no temporary left behind";
}

TEST(Safetensors, BytesMatchTheFormatBuiltByHand) {
  // From the format's description: u64 little-endian header size, the JSON header (the metadata,
  // then each tensor with dtype, shape, data_offsets into the buffer) padded with spaces to a
  // multiple of 8, then the little-endian data.
  const std::string json =
      R"({"__metadata__":{"format":"pt"},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"I64","shape":[],"data_offsets":[8,16]},)"
      R"("c":{"dtype":"BOOL","shape":[3],"data_offsets":[16,19]}})";
  ASSERT_EQ(json.size(), 194u);
  const std::string expected = std::string("\xc8\0\0\0\0\0\0\0", 8) + json + "      " +
                               std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8) +  // 1.0f, -2.0f
                               std::string("\x07\0\0\0\0\0\0\0", 8) +                  // int64 7
                               std::string("\x01\x00\x01", 3);                         // true false true
  const NamedTensors tensors = {{"a", tensor({1.0, -2.0})},
                                {"b", scalar_tensor(7.0, kInt64)},
                                {"c", tensor({1.0, 0.0, 1.0}, kBool)}};
  const std::string bytes = save_safetensors_to_bytes(tensors, {{"format", "pt"}});
  EXPECT_EQ(bytes, expected);

  // And the hand-built bytes load (with the header written in another key order, as other
  // writers may, and without padding).
  const std::string reordered =
      R"({"c":{"shape":[3],"data_offsets":[16,19],"dtype":"BOOL"},"b":{"data_offsets":[8,16],)"
      R"("dtype":"I64","shape":[]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string other = safetensors_bytes(reordered, expected.substr(8 + 200));
  const SafetensorsContent loaded = load_safetensors_from_bytes(other.data(), other.size());
  ASSERT_EQ(loaded.tensors.size(), 3u);
  EXPECT_EQ(loaded.tensors[0].first, "a");  // data order, whatever the header order
  EXPECT_EQ(loaded.at("a").to_vector<float>(), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(loaded.at("b").dim(), 0);
  EXPECT_EQ(loaded.at("b").item<int64_t>(), 7);
  EXPECT_EQ(loaded.at("c").to_vector<double>(), (std::vector<double>{1, 0, 1}));
  EXPECT_TRUE(loaded.metadata.empty());
}

// An independent reader, written from the format's description with Python's standard library
// only: it checks the layout and prints "name dtype shape sum" per tensor, then the metadata.
const char* kPythonReader = R"PY(
import json, struct, sys
formats = {"F32": ("f", 4), "F64": ("d", 8), "I64": ("q", 8), "BOOL": ("?", 1)}
data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack_from("<Q", data, 0)
assert data[8:9] == b"{" and (8 + n) % 8 == 0
header = json.loads(data[8:8 + n].decode("utf-8"))
buffer = data[8 + n:]
metadata = header.pop("__metadata__", {})
end = 0
for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
    assert sorted(info) == ["data_offsets", "dtype", "shape"]
    begin, stop = info["data_offsets"]
    assert begin == end, name
    code, size = formats[info["dtype"]]
    count = 1
    for d in info["shape"]:
        count *= d
    assert stop - begin == count * size, name
    total = 0.0
    for v in struct.unpack_from("<%d%s" % (count, code), buffer, begin):
        total += float(v)
    print(name, info["dtype"], json.dumps(info["shape"], separators=(",", ":")), repr(total))
    end = stop
assert end == len(buffer)
for key in sorted(metadata):
    print("metadata", key, metadata[key])
)PY";

TEST(Safetensors, ReadableByAnIndependentPythonReader) {
  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  ScratchDir dir;
  manual_seed(3);
  const NamedTensors tensors = {{"w", randn({3, 4})},
                                {"scale", scalar_tensor(0.25, kFloat64)},
                                {"steps", tensor(std::vector<int64_t>{5, -7, int64_t(1) << 40}, {3})},
                                {"mask", tensor({1.0, 0.0, 1.0, 1.0}, kBool)},
                                {"none", zeros({2, 0})}};
  const std::string path = dir.file("x.safetensors");
  save_safetensors(path, tensors, {{"format", "pt"}, {"epoch", "12"}});
  write_bytes(dir.file("reader.py"), kPythonReader);

  FILE* pipe = ::popen(("/usr/bin/python3 " + dir.file("reader.py") + " " + path + " 2>&1").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[256];
  while (std::fgets(buf, sizeof buf, pipe)) output += buf;
  ASSERT_EQ(::pclose(pipe), 0) << output;

  std::istringstream lines(output);
  std::string line;
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(std::getline(lines, line)) << output;
    std::ostringstream head;
    head << name << " " << (t.dtype() == kFloat32 ? "F32" : t.dtype() == kFloat64 ? "F64" : t.dtype() == kInt64 ? "I64" : "BOOL")
         << " [";
    for (size_t d = 0; d < t.sizes().size(); ++d) head << (d ? "," : "") << t.sizes()[d];
    head << "] ";
    EXPECT_EQ(line.substr(0, head.str().size()), head.str());
    double total = 0.0;  // in element order, as the reader adds them: the same bits
    for (double v : t.to_vector<double>()) total += v;
    EXPECT_EQ(std::stod(line.substr(head.str().size())), total) << line;
  }
  std::string rest((std::istreambuf_iterator<char>(lines)), {});
  EXPECT_EQ(rest, "metadata epoch 12\nmetadata format pt\n");
}

// One hostile file: `bytes` written to disk must fail to load with a Value error naming the file
// and containing `parts`.
struct Hostile {
  std::string what;
  std::string bytes;
  std::vector<std::string> parts;
  Error::Kind kind = Error::Kind::Value;
};

std::string entry(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return R"({"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}";
}

TEST(Safetensors, HostileFilesGiveClearErrors) {
  ScratchDir dir;
  const std::string f32x2 = entry("F32", "[2]", "[0,8]");
  const std::string eight(8, '\x01');
  std::string deep = "{\"a\":";
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  deep += "}";
  const std::vector<Hostile> cases = {
      {"shorter than 8 bytes", "abc", {"3 bytes", "fewer than the 8"}},
      {"empty file", "", {"0 bytes"}},
      {"header length past the end", le64(1000) + "{}", {"header length 1000", "runs past the end", "(10 bytes)"}},
      {"absurd header length", le64(uint64_t(1) << 63) + "{}", {"9223372036854775808", "larger than the limit"}},
      {"header too short", le64(1) + "{", {"header length 1", "too short"}},
      {"a PyTorch zip checkpoint", std::string("PK\x03\x04\x14\x00\x00\x00" "archive/data.pkl", 24),
       {"zip archive", "torch.save", "safetensors.torch.save_file"}},
      {"empty tensor name", safetensors_bytes("{\"\":" + f32x2 + "}", eight), {"a tensor has an empty name"}},
      {"a bare pickle", std::string("\x80\x02\x8a\x0alp\x00\x00\x00\x00", 10), {"Python pickle"}},
      {"invalid UTF-8", safetensors_bytes("{\"a\xff\":" + f32x2 + "}", eight), {"not valid JSON", "UTF-8"}},
      {"invalid JSON", safetensors_bytes("{\"a\":" + f32x2, eight), {"not valid JSON"}},
      {"trailing garbage", safetensors_bytes("{\"a\":" + f32x2 + "}x", eight), {"not valid JSON"}},
      {"nested too deep", safetensors_bytes(deep, ""), {"nested deeper than 16"}},
      {"header not an object", safetensors_bytes("[1,2]", ""), {"must start with '{'", "\"[\""}},
      {"tensor not an object", safetensors_bytes(R"({"a":[1,2]})", ""), {"tensor \"a\"", "expected an object", "[1,2]"}},
      {"unknown dtype", safetensors_bytes("{\"a\":" + entry("F33", "[2]", "[0,8]") + "}", eight),
       {"tensor \"a\"", "unknown dtype \"F33\""}},
      {"unsupported dtype", safetensors_bytes("{\"a\":" + entry("F16", "[4]", "[0,8]") + "}", eight),
       {"tensor \"a\"", "F16 is not supported"}, Error::Kind::Type},
      {"dtype not a string", safetensors_bytes(R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", eight),
       {"dtype must be a string, got 4"}},
      {"negative shape", safetensors_bytes("{\"a\":" + entry("F32", "[-2]", "[0,8]") + "}", eight),
       {"tensor \"a\"", "shape [-2]", "entry -2", "negative"}},
      {"fractional shape", safetensors_bytes("{\"a\":" + entry("F32", "[2.5]", "[0,8]") + "}", eight),
       {"shape [2.5]", "not an integer"}},
      {"string shape", safetensors_bytes("{\"a\":" + entry("F32", "[\"2\"]", "[0,8]") + "}", eight),
       {"not an integer"}},
      {"shape not an array", safetensors_bytes("{\"a\":" + entry("F32", "2", "[0,8]") + "}", eight),
       {"shape must be an array"}},
      {"shape product overflows", safetensors_bytes("{\"a\":" + entry("F32", "[4294967296,4294967296]", "[0,8]") + "}", eight),
       {"tensor \"a\"", "[4294967296,4294967296]", "more bytes than a 64-bit count"}},
      {"byte count overflows", safetensors_bytes("{\"a\":" + entry("F64", "[4611686018427387904]", "[0,8]") + "}", eight),
       {"more bytes than a 64-bit count"}},
      {"empty tensor with huge dims", safetensors_bytes("{\"a\":" + entry("F32", "[0,4294967296,4294967296]", "[0,0]") + "}", ""),
       {"more bytes than a 64-bit count"}},
      {"dim above int64", safetensors_bytes("{\"a\":" + entry("F32", "[18446744073709551615]", "[0,8]") + "}", eight),
       {"18446744073709551615", "larger than 2^63 - 1"}},
      {"too many dims", safetensors_bytes("{\"a\":" + entry("F32", "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]", "[0,4]") + "}", "abcd"),
       {"17 dims"}},
      {"one offset", safetensors_bytes("{\"a\":" + entry("F32", "[2]", "[0]") + "}", eight),
       {"data_offsets must be two integers", "[0]"}},
      {"three offsets", safetensors_bytes("{\"a\":" + entry("F32", "[2]", "[0,4,8]") + "}", eight),
       {"data_offsets must be two integers"}},
      {"offsets reversed", safetensors_bytes("{\"a\":" + entry("F32", "[0]", "[8,0]") + "}", eight),
       {"data_offsets [8, 0]", "end before they begin"}},
      {"offset not an integer", safetensors_bytes("{\"a\":" + entry("F32", "[2]", "[0,\"8\"]") + "}", eight),
       {"not an integer"}},
      {"negative offset", safetensors_bytes("{\"a\":" + entry("F32", "[2]", "[-8,0]") + "}", eight),
       {"negative"}},
      {"past the buffer", safetensors_bytes("{\"a\":" + entry("F32", "[4]", "[0,16]") + "}", eight),
       {"tensor \"a\"", "data_offsets [0, 16]", "run past the end of the data, which has 8 bytes"}},
      {"byte count not numel x itemsize", safetensors_bytes("{\"a\":" + entry("F32", "[3]", "[0,8]") + "}", eight),
       {"tensor \"a\"", "hold 8 bytes but shape [3] of F32 needs 12"}},
      {"overlap", safetensors_bytes("{\"a\":" + f32x2 + ",\"b\":" + entry("F32", "[2]", "[4,12]") + "}", eight + "1234"),
       {"tensor \"b\"", "[4, 12]", "overlaps tensor \"a\"", "[0, 8]"}},
      {"hole", safetensors_bytes("{\"a\":" + entry("F32", "[1]", "[0,4]") + ",\"b\":" + entry("F32", "[1]", "[8,12]") + "}", eight + "1234"),
       {"bytes [4, 8)", "belong to no tensor", "before tensor \"b\""}},
      {"hole at the start", safetensors_bytes("{\"a\":" + entry("F32", "[1]", "[4,8]") + "}", eight),
       {"bytes [0, 4)", "belong to no tensor"}},
      {"trailing data", safetensors_bytes("{\"a\":" + entry("F32", "[1]", "[0,4]") + "}", eight),
       {"bytes [4, 8)", "trailing bytes"}},
      {"duplicate names", safetensors_bytes("{\"a\":" + f32x2 + ",\"a\":" + entry("F32", "[2]", "[8,16]") + "}", eight + eight),
       {"key \"a\" twice", "same name"}},
      {"duplicate field", safetensors_bytes(R"({"a":{"dtype":"F32","dtype":"F64","shape":[2],"data_offsets":[0,8]}})", eight),
       {"key \"dtype\" twice"}},
      {"missing field", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2]}})", eight),
       {"tensor \"a\"", "\"data_offsets\" is missing"}},
      {"unknown field", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", eight),
       {"unknown field \"x\""}},
      {"metadata value not a string", safetensors_bytes(R"({"__metadata__":{"epoch":3}})", ""),
       {"__metadata__ value of \"epoch\"", "must be a string, got 3"}},
      {"metadata not an object", safetensors_bytes(R"({"__metadata__":"x"})", ""),
       {"\"__metadata__\" must be an object"}},
      {"bool byte not 0 or 1", safetensors_bytes("{\"a\":" + entry("BOOL", "[2]", "[0,2]") + "}", std::string("\x01\x02", 2)),
       {"tensor \"a\"", "byte 2 at element 1"}},
  };
  for (const Hostile& c : cases) {
    const std::string path = dir.file("hostile.safetensors");
    write_bytes(path, c.bytes);
    std::vector<std::string> parts = c.parts;
    parts.push_back("load_safetensors: \"" + path + "\"");
    expect_error([&] { load_safetensors(path); }, c.kind, parts, c.what);
    // The in-memory reader checks the same (a copy of exactly the bytes, so ASan sees overreads).
    const std::unique_ptr<char[]> copy(new char[c.bytes.size() + 1]);
    std::memcpy(copy.get(), c.bytes.data(), c.bytes.size());
    expect_error([&] { load_safetensors_from_bytes(copy.get(), c.bytes.size(), "hostile"); }, c.kind,
                 c.parts, c.what + " (bytes)");
  }

  expect_error([&] { load_safetensors(dir.file("missing.safetensors")); }, Error::Kind::Runtime,
               {"missing.safetensors", "cannot open", "No such file or directory"}, "missing file");
  expect_error([&] { load_safetensors(dir.file("")); }, Error::Kind::Value, {"not a regular file"}, "a folder");
}

TEST(Safetensors, CorruptedFilesLoadOrThrowNeverCrash) {
  const NamedTensors tensors = {{"w", randn({2, 3})},
                                {"n", tensor(std::vector<int64_t>{1, 2}, {2})},
                                {"m", tensor({1.0, 0.0}, kBool)},
                                {"s", scalar_tensor(2.0, kFloat64)}};
  const std::string good = save_safetensors_to_bytes(tensors, {{"k", "v"}});
  auto outcome = [](const std::string& bytes) {
    const std::unique_ptr<char[]> copy(new char[bytes.size() + 1]);  // exactly the bytes, for ASan
    std::memcpy(copy.get(), bytes.data(), bytes.size());
    try {
      load_safetensors_from_bytes(copy.get(), bytes.size());
      return 0;
    } catch (const Error&) {
      return 1;
    }
  };
  // Every truncation is refused.
  for (size_t n = 0; n < good.size(); ++n) EXPECT_EQ(outcome(good.substr(0, n)), 1) << "prefix of " << n;
  // Random byte changes either load or throw tg::Error (anything else fails the test).
  std::mt19937 rng(7);
  int refused = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bad = good;
    for (int k = 0, flips = 1 + static_cast<int>(rng() % 3); k < flips; ++k)
      bad[rng() % bad.size()] = static_cast<char>(rng() % 256);
    refused += outcome(bad);
  }
  EXPECT_GT(refused, 1000);
}

TEST(Safetensors, SaveErrors) {
  ScratchDir dir;
  const std::string path = dir.file("x.safetensors");
  const Tensor t = ones({2});
  expect_error([&] { save_safetensors(path, {{"a", t}, {"a", t}}); }, Error::Kind::Value,
               {"save_safetensors", "\"a\" appears twice"}, "duplicate");
  expect_error([&] { save_safetensors(path, {{"", t}}); }, Error::Kind::Value, {"empty name"}, "empty name");
  expect_error([&] { save_safetensors(path, {{"__metadata__", t}}); }, Error::Kind::Value, {"reserved"},
               "reserved name");
  expect_error([&] { save_safetensors(path, {{"a", Tensor()}}); }, Error::Kind::Value,
               {"tensor \"a\" is undefined"}, "undefined");
  expect_error([&] { save_safetensors(path, {{"a\xff", t}}); }, Error::Kind::Value,
               {"tensor name \"a\\xff\" is not valid UTF-8"}, "bad UTF-8 name");
  expect_error([&] { save_safetensors(path, {{"a", t}}, {{"k", "\xc3"}}); }, Error::Kind::Value,
               {"metadata value of \"k\"", "not valid UTF-8"}, "bad UTF-8 metadata");
  EXPECT_TRUE(dir.entries().empty()) << "nothing written on bad input";

  expect_error([&] { save_safetensors(dir.file("no/such/folder/x.safetensors"), {{"a", t}}); },
               Error::Kind::Runtime, {"no/such/folder/x.safetensors", "No such file or directory"},
               "missing folder");
  // The target is a folder: the rename fails, and the temporary is removed.
  fs::create_directory(dir.file("taken"));
  expect_error([&] { save_safetensors(dir.file("taken"), {{"a", t}}); }, Error::Kind::Runtime,
               {"\"" + dir.file("taken") + "\"", "rename", "Is a directory"}, "target is a folder");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"taken"});
}

TEST(Safetensors, FailedWriteKeepsThePreviousFileAndRemovesTheTemporary) {
  ScratchDir dir;
  const std::string path = dir.file("x.safetensors");
  save_safetensors(path, {{"a", ones({4})}});
  const std::string before = read_bytes(path);
  // A child whose files may not grow past 1000 bytes: the write of a 40 kB file fails (EFBIG).
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {1000, 1000};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    try {
      save_safetensors(path, {{"a", ones({10000})}});
    } catch (const Error& e) {
      const std::string msg = e.what();
      const bool named = msg.find("\"" + path + "\"") != std::string::npos &&
                         msg.find(std::strerror(EFBIG)) != std::string::npos;
      ::_exit(named ? 0 : 2);
    }
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: no error; 2: the message lacks the path or the reason";
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"x.safetensors"});
}

// ---------------------------------------------------------------- modules

std::shared_ptr<nn::Sequential> make_model() {
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::BatchNorm1d>(8),
      std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(8, 3)});
}

TEST(Safetensors, ModuleSaveLoadGivesEqualOutputs) {
  ScratchDir dir;
  manual_seed(1);
  auto model = make_model();
  {
    NoGradGuard no_grad;  // move the batch-norm running statistics off their initial values
    for (int i = 0; i < 3; ++i) (*model)(randn({16, 4}));
  }
  const std::string path = dir.file("model.safetensors");
  nn::save(*model, path, {{"epoch", "7"}});

  // Other frameworks see PyTorch's keys and dtypes; the metadata has "format": "pt".
  const SafetensorsContent file = load_safetensors(path);
  std::vector<std::string> names;
  for (const auto& [n, _] : file.tensors) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                             "1.running_var", "1.num_batches_tracked", "3.weight", "3.bias"}));
  EXPECT_EQ(file.at("1.num_batches_tracked").dtype(), kInt64);
  EXPECT_EQ(file.at("1.num_batches_tracked").item<int64_t>(), 3);
  EXPECT_EQ(file.metadata, (SafetensorsMetadata{{"epoch", "7"}, {"format", "pt"}}));

  manual_seed(2);
  auto restored = make_model();
  EXPECT_EQ(nn::load(*restored, path), file.metadata);
  model->eval();
  restored->eval();
  const Tensor x = randn({5, 4});
  expect_identical((*restored)(x), (*model)(x), "outputs");
  for (const auto& [name, t] : restored->state_dict()) expect_identical(t, file.at(name), name);
}

TEST(Safetensors, ModuleLoadChecksKeysAndShapes) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  nn::save(*make_model(), path);

  nn::Sequential fewer({std::make_shared<nn::Linear>(4, 8)});
  expect_error([&] { nn::load(fewer, path); }, Error::Kind::Value,
               {"nn::load(\"" + path + "\")", "unexpected keys", "\"1.running_mean\"", "\"3.bias\""}, "unexpected");
  nn::load(fewer, path, /*strict=*/false);  // takes 0.weight and 0.bias only
  expect_identical(fewer.state_dict()[0].second, load_safetensors(path).at("0.weight"), "non-strict");

  auto more = make_model();
  more->push_back(std::make_shared<nn::Linear>(3, 2));
  expect_error([&] { nn::load(*more, path); }, Error::Kind::Value, {path, "missing keys", "\"4.weight\""},
               "missing");

  nn::Sequential wider({std::make_shared<nn::Linear>(4, 9)});
  expect_error([&] { nn::load(wider, path, false); }, Error::Kind::Value,
               {path, "\"0.weight\" has shape [8, 4] in the state dict but [9, 4]"}, "shape");
}

// ---------------------------------------------------------------- optimizers

// A small regression problem; the model is built from `seed`, the data from fixed seeds.
struct Problem {
  std::shared_ptr<nn::Sequential> model;
  Tensor x, y;
  explicit Problem(uint64_t seed) {
    manual_seed(seed);
    model = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Linear>(5, 16), std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(16, 2)});
    manual_seed(100);
    x = randn({32, 5});
    y = randn({32, 2});
  }
  Tensor loss() const { return ((*model)(x) - y).pow(2.0).mean(); }
  void train(optim::Optimizer& opt, int steps) const {
    for (int i = 0; i < steps; ++i) {
      opt.zero_grad();
      loss().backward();
      opt.step();
    }
  }
};

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(nn::Module&)>;

// Training 6 steps, saving, loading into a fresh model and optimizer and training 6 more must give
// the same bits as 12 uninterrupted steps.
void expect_resume_is_exact(const MakeOptimizer& make, const std::string& label) {
  ScratchDir dir;
  Problem straight(1);
  auto opt = make(*straight.model);
  straight.train(*opt, 12);

  Problem first(1);
  auto opt1 = make(*first.model);
  first.train(*opt1, 6);
  nn::save(*first.model, dir.file("model.safetensors"));
  optim::save(*opt1, dir.file("opt.safetensors"), {{"step", "6"}});

  Problem resumed(2);  // other initial weights: everything must come from the files
  auto opt2 = make(*resumed.model);
  nn::load(*resumed.model, dir.file("model.safetensors"));
  EXPECT_EQ(optim::load(*opt2, dir.file("opt.safetensors")), (SafetensorsMetadata{{"step", "6"}}));
  resumed.train(*opt2, 6);

  const auto expected = straight.model->state_dict(), got = resumed.model->state_dict();
  ASSERT_EQ(expected.size(), got.size());
  for (size_t i = 0; i < got.size(); ++i) expect_identical(got[i].second, expected[i].second, label + " " + got[i].first);
  // Not a test that cannot fail: the resumed steps did move the parameters.
  EXPECT_FALSE(same_bits(got[0].second, first.model->state_dict()[0].second)) << label;
}

TEST(Safetensors, SgdMomentumResumesBitIdentically) {
  expect_resume_is_exact(
      [](nn::Module& m) {
        return std::make_unique<optim::SGD>(m.parameters(),
                                            optim::SGDOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true});
      },
      "SGD");
}

TEST(Safetensors, AdamAmsgradResumesBitIdentically) {
  expect_resume_is_exact(
      [](nn::Module& m) {
        // Two groups with their own options, to check they come back in place.
        auto params = m.parameters();
        std::vector<optim::ParamGroup> groups;
        groups.emplace_back(std::vector<Tensor>(params.begin(), params.begin() + 2));
        groups.emplace_back(std::vector<Tensor>(params.begin() + 2, params.end()),
                            optim::OptionMap{{"lr", 0.003}, {"weight_decay", 0.01}});
        return std::make_unique<optim::Adam>(groups, optim::AdamOptions{.lr = 0.01, .amsgrad = true});
      },
      "Adam");
}

TEST(Safetensors, OptimizerFileLayout) {
  ScratchDir dir;
  Problem p(1);
  optim::Adam opt(p.model->parameters(), {.lr = 0.01, .amsgrad = true});
  p.train(opt, 3);
  const std::string path = dir.file("opt.safetensors");
  optim::save(opt, path);
  const SafetensorsContent file = load_safetensors(path);
  // Per-parameter state as PyTorch's state_dict()["state"][i][key]; step a 0-d float64.
  EXPECT_EQ(file.tensors.size(), 4u * 4u);
  EXPECT_EQ(file.at("state.3.step").dim(), 0);
  EXPECT_EQ(file.at("state.3.step").dtype(), kFloat64);
  EXPECT_EQ(file.at("state.3.step").item(), 3.0);
  expect_identical(file.at("state.2.max_exp_avg_sq"), opt.state(p.model->parameters()[2]).tensor("max_exp_avg_sq"),
                   "max_exp_avg_sq");
  EXPECT_EQ(file.metadata.at("tapegrad.optimizer"), "Adam");
  EXPECT_NE(file.metadata.at("tapegrad.param_groups").find("\"params\":[0,1,2,3]"), std::string::npos);
  EXPECT_NE(file.metadata.at("tapegrad.param_groups").find("\"amsgrad\":1.0"), std::string::npos);

  // A bare state dict round trip, with a non-finite option.
  optim::OptimizerStateDict dict = opt.state_dict();
  dict.param_groups[0].options["max_norm"] = std::numeric_limits<double>::infinity();
  dict.param_groups[0].options["unset"] = std::numeric_limits<double>::quiet_NaN();
  optim::save_state_dict(dict, dir.file("dict.safetensors"), {{"note", "x"}});
  SafetensorsMetadata metadata;
  const optim::OptimizerStateDict back = optim::load_state_dict(dir.file("dict.safetensors"), &metadata);
  EXPECT_EQ(metadata, (SafetensorsMetadata{{"note", "x"}}));
  ASSERT_EQ(back.param_groups.size(), 1u);
  EXPECT_EQ(back.param_groups[0].params, dict.param_groups[0].params);
  EXPECT_EQ(back.param_groups[0].options.at("max_norm"), std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(back.param_groups[0].options.at("unset")));
  EXPECT_EQ(back.param_groups[0].options.at("lr"), 0.01);
  ASSERT_EQ(back.state.size(), 4u);
  EXPECT_EQ(back.state.at(1).scalars.at("step"), 3.0);
  expect_identical(back.state.at(1).tensors.at("exp_avg"), dict.state.at(1).tensors.at("exp_avg"), "exp_avg");
}

TEST(Safetensors, LbfgsTensorListsRoundTrip) {
  ScratchDir dir;
  auto run = [](Problem& p, optim::LBFGS& opt, int steps) {
    for (int i = 0; i < steps; ++i)
      opt.step([&] {
        opt.zero_grad();
        Tensor l = p.loss();
        l.backward();
        return l;
      });
  };
  auto make = [](Problem& p) {
    return std::make_unique<optim::LBFGS>(p.model->parameters(), optim::LBFGSOptions{.lr = 0.5, .max_iter = 4});
  };
  Problem straight(1);
  auto opt = make(straight);
  run(straight, *opt, 4);

  Problem first(1);
  auto opt1 = make(first);
  run(first, *opt1, 2);
  nn::save(*first.model, dir.file("m.safetensors"));
  optim::save(*opt1, dir.file("o.safetensors"));
  EXPECT_NO_THROW(load_safetensors(dir.file("o.safetensors")).at("state.0.old_dirs.0"));

  Problem resumed(2);
  auto opt2 = make(resumed);
  nn::load(*resumed.model, dir.file("m.safetensors"));
  optim::load(*opt2, dir.file("o.safetensors"));
  run(resumed, *opt2, 2);
  const auto expected = straight.model->state_dict(), got = resumed.model->state_dict();
  for (size_t i = 0; i < got.size(); ++i) expect_identical(got[i].second, expected[i].second, "LBFGS " + got[i].first);
}

TEST(Safetensors, OptimizerLoadErrors) {
  ScratchDir dir;
  Problem p(1);
  optim::SGD sgd(p.model->parameters(), {.lr = 0.1, .momentum = 0.9});
  p.train(sgd, 1);
  const std::string sgd_path = dir.file("sgd.safetensors");
  optim::save(sgd, sgd_path);
  optim::Adam adam(p.model->parameters());
  expect_error([&] { optim::load(adam, sgd_path); }, Error::Kind::Value,
               {sgd_path, "the state of \"SGD\", not of Adam"}, "other optimizer");
  expect_error([&] { optim::save(sgd, dir.file("x"), {{"tapegrad.state", "{}"}}); }, Error::Kind::Value,
               {"\"tapegrad.state\" is reserved"}, "reserved metadata");

  const std::string model_path = dir.file("model.safetensors");
  nn::save(*p.model, model_path);
  expect_error([&] { optim::load(sgd, model_path); }, Error::Kind::Value,
               {model_path, "not an optimizer checkpoint", "tapegrad.param_groups"}, "model file");

  // Fewer parameters than the file's group: the optimizer's own check, naming the file.
  optim::SGD smaller(std::vector<Tensor>{p.model->parameters()[0]}, {.lr = 0.1});
  expect_error([&] { optim::load(smaller, sgd_path); }, Error::Kind::Value, {sgd_path, "group 0: 4 vs 1"},
               "group sizes");

  // Tampered metadata and entries.
  const std::string groups = R"([{"params":[0],"options":{"lr":0.1},"string_options":{}}])";
  auto tampered = [&](const NamedTensors& tensors, const std::string& groups_json, const std::string& state_json,
                      const std::vector<std::string>& parts, const std::string& what) {
    const std::string path = dir.file("tampered.safetensors");
    save_safetensors(path, tensors, {{"tapegrad.param_groups", groups_json}, {"tapegrad.state", state_json}});
    std::vector<std::string> all = parts;
    all.push_back(path);
    expect_error([&] { optim::load_state_dict(path); }, Error::Kind::Value, all, what);
  };
  const Tensor buf = zeros({2});
  tampered({}, "[{", "{}", {"tapegrad.param_groups", "not valid JSON"}, "bad JSON");
  tampered({}, "{}", "{}", {"must be a JSON array"}, "groups not an array");
  tampered({}, R"([{"params":[0.5],"options":{}}])", "{}", {"params must be a 64-bit integer, got 0.5"}, "index");
  tampered({}, R"([{"params":[0],"options":{"lr":"fast"}}])", "{}", {"option \"lr\"", "\"fast\""}, "option");
  tampered({}, R"([{"params":[0],"options":{},"extra":1}])", "{}", {"unknown field \"extra\""}, "group field");
  tampered({}, groups, R"({"-1":{}})", {"\"-1\"", "not a parameter index"}, "state index");
  tampered({}, groups, R"({"0":{"tensors":["momentum_buffer"]}})",
           {"lists the tensor \"state.0.momentum_buffer\"", "has none"}, "missing entry");
  tampered({{"state.0.momentum_buffer", buf}, {"state.0.extra", buf}}, groups,
           R"({"0":{"tensors":["momentum_buffer"]}})", {"does not list", "\"state.0.extra\""}, "extra entry");
  tampered({{"state.0.step", buf}}, groups, R"({"0":{"scalars":["step"]}})",
           {"scalar \"state.0.step\" must be a 0-d tensor, got shape [2]"}, "scalar shape");
  tampered({{"state.0.a", buf}}, groups, R"({"0":{"tensors":["a"],"scalars":["a"]}})",
           {"\"state.0.a\" twice"}, "listed twice");
  tampered({}, groups, R"({"0":{"tensor_lists":{"d":1000}}})", {"lists 1000 tensors under \"d\""}, "list count");
}

// ---------------------------------------------------------------- crash safety

TEST(Safetensors, SaveKilledMidWayLeavesAWholeFile) {
  ScratchDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  // About 4 MB per save, so a kill often lands inside one.
  const int64_t n = 1 << 20;
  const Tensor a = zeros({n}), b = zeros({n}, kFloat64);
  auto set_version = [&](int64_t v) {
    float* pa = a.data_ptr<float>();
    double* pb = b.data_ptr<double>();
    for (int64_t i = 0; i < n; ++i) pa[i] = static_cast<float>(v);
    for (int64_t i = 0; i < n / 8; ++i) pb[i] = -static_cast<double>(v);
  };
  auto save_version = [&](int64_t v) {
    set_version(v);
    save_safetensors(path, {{"a", a}, {"b", b.narrow(0, 0, n / 8)}}, {{"version", std::to_string(v)}});
  };
  // Kills land at random moments within about three saves' time, whatever the disk's speed.
  const auto start = std::chrono::steady_clock::now();
  save_version(0);
  const auto save_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();

  std::mt19937 rng(12345);
  std::set<int64_t> seen;
  for (int round = 1; round <= 8; ++round) {
    // The child reports each finished save through a pipe; the parent waits for round % 3 of them
    // before its random delay, so some rounds are sure to have finished saves however slow the
    // machine is (a delay alone, sized on the parent's timing, could miss them all under load).
    int progress[2];
    ASSERT_EQ(::pipe(progress), 0) << std::strerror(errno);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0) << std::strerror(errno);
    if (child == 0) {
      // Only plain loops and the save itself here (no threads exist in the forked child).
      ::close(progress[0]);
      try {
        for (int64_t v = round * 1000000;; ++v) {
          save_version(v);
          const char done = 1;
          if (::write(progress[1], &done, 1) != 1) break;
        }
      } catch (...) {
      }
      ::_exit(3);
    }
    ::close(progress[1]);
    for (int finished = 0; finished < round % 3; ++finished) {
      char done = 0;
      ASSERT_EQ(::read(progress[0], &done, 1), 1) << "the saving child stopped";
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % (3 * save_us + 1)));
    ::kill(child, SIGKILL);
    ::close(progress[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the saving child died on its own";

    const SafetensorsContent file = load_safetensors(path);  // must be whole
    const int64_t v = std::stoll(file.metadata.at("version"));
    ASSERT_TRUE(v == 0 || (v >= 1000000 && v < 9000000)) << v;
    const std::vector<float> va = file.at("a").to_vector<float>();
    const std::vector<double> vb = file.at("b").to_vector<double>();
    ASSERT_EQ(va.size(), static_cast<size_t>(n));
    ASSERT_EQ(vb.size(), static_cast<size_t>(n / 8));
    for (float x : va) ASSERT_EQ(x, static_cast<float>(v)) << "round " << round;
    for (double x : vb) ASSERT_EQ(x, -static_cast<double>(v)) << "round " << round;
    seen.insert(v);
  }
  EXPECT_GT(seen.size(), 1u) << "the children never finished a save; the test proved nothing";
  // A killed save leaves at most its temporary (hidden, never the target's name).
  for (const std::string& name : dir.entries())
    EXPECT_TRUE(name == "ckpt.safetensors" || name.rfind(".ckpt.safetensors.tmp.", 0) == 0) << name;
}

}  // namespace
