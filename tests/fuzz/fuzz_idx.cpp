// libFuzzer target: any bytes given to the IDX reader (plain or gzip) either throw tg::Error or
// parse into dims whose product is the payload's length, which then convert to tensors.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "data/idx.h"

namespace {
void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_idx: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg::data;
  IdxArray array;
  try {
    array = parse_idx(maybe_gunzip(std::vector<uint8_t>(data, data + size), "fuzz input"), "fuzz input");
  } catch (const tg::Error&) {
    return 0;
  }
  uint64_t count = 1;
  for (int64_t d : array.dims) {
    require(d > 0, "a parsed dim is not positive");
    count *= static_cast<uint64_t>(d);
  }
  require(count == array.values.size(), "the payload does not match the dims");
  try {
    if (array.dims.size() == 3) {
      const tg::Tensor images = images_to_tensor(array, "fuzz input", Normalize{0.5, 0.25});
      require(images.numel() == static_cast<int64_t>(count), "images lost values");
    } else if (array.dims.size() == 1) {
      const tg::Tensor labels = labels_to_tensor(array, "fuzz input");
      require(labels.numel() == static_cast<int64_t>(count), "labels lost values");
    }
  } catch (const tg::Error&) {
  }
  return 0;
}
