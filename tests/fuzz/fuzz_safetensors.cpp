// libFuzzer target: any bytes given to the safetensors reader either throw tg::Error or load
// tensors that survive a save/load round trip bit for bit. Anything else (a crash, an
// out-of-bounds read under ASan, another exception type) is a finding.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <cstdio>

#include <tapegrad/tapegrad.h>

namespace {
void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_safetensors: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tg::SafetensorsContent loaded;
  try {
    loaded = tg::load_safetensors_from_bytes(data, size, "fuzz input");
  } catch (const tg::Error&) {
    return 0;
  }
  const std::string bytes = tg::save_safetensors_to_bytes(loaded.tensors, loaded.metadata);
  const tg::SafetensorsContent again = tg::load_safetensors_from_bytes(bytes.data(), bytes.size(), "round trip");
  require(again.metadata == loaded.metadata, "metadata changed in a round trip");
  require(again.tensors.size() == loaded.tensors.size(), "tensor count changed in a round trip");
  for (size_t i = 0; i < loaded.tensors.size(); ++i) {
    const auto& [name, t] = loaded.tensors[i];
    const auto& [name2, t2] = again.tensors[i];
    require(name == name2 && t.dtype() == t2.dtype() && t.sizes() == t2.sizes(), "a tensor changed in a round trip");
    const size_t nbytes = static_cast<size_t>(t.numel()) * tg::element_size(t.dtype());
    require(nbytes == 0 || std::memcmp(t.data_ptr(), t2.data_ptr(), nbytes) == 0, "tensor bytes changed in a round trip");
  }
  return 0;
}
