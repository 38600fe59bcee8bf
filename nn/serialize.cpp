#include "serialize.h"

namespace tg::nn {

void save(const Module& module, const std::string& path, const SafetensorsMetadata& metadata) {
  SafetensorsMetadata header = {{"format", "pt"}};
  for (const auto& [key, value] : metadata) header[key] = value;
  save_safetensors(path, module.state_dict(), header);
}

SafetensorsMetadata load(Module& module, const std::string& path, bool strict) {
  SafetensorsContent file = load_safetensors(path);
  try {
    module.load_state_dict(file.tensors, strict);
  } catch (const Error& e) {
    // The module's own message names the keys; add which file they came from.
    throw Error(e.kind(), detail::concat("nn::load(\"", path, "\"): ", e.what()));
  }
  return std::move(file.metadata);
}

}  // namespace tg::nn
