// Named tensors in the safetensors format (https://github.com/huggingface/safetensors), readable by
// other frameworks: an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {"key": "value"}, "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}
// padded with spaces to a multiple of 8, then the tensors' bytes back to back (row-major,
// little-endian). tapegrad's dtypes map to F32, F64, I64 and BOOL.
//
//   tg::save_safetensors("weights.safetensors", {{"w", w}, {"b", b}}, {{"format", "pt"}});
//   tg::SafetensorsContent file = tg::load_safetensors("weights.safetensors");
//
// Saving is atomic: a temporary file in the same folder is written, synced and renamed over the
// target, so a crash mid-save leaves the previous file intact. Loading trusts nothing in the
// header: every field is checked (and the entries must tile the data exactly, as the format
// requires) before any tensor is read, and errors name the file, the tensor and the values.
#pragma once
#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor.h"

namespace tg {

// Ordered (name, tensor) pairs; nn::StateDict is this type.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
// The header's "__metadata__": string keys to string values.
using SafetensorsMetadata = std::map<std::string, std::string>;

struct SafetensorsContent {
  NamedTensors tensors;  // in the order of their data in the file
  SafetensorsMetadata metadata;
  // The tensor called `name`; an error lists the names there are when there is none.
  const Tensor& at(const std::string& name) const;
};

// Tensors on any device are copied to the host; views are written as their values.
// Errors: an undefined tensor, an empty, duplicate or reserved ("__metadata__") name, names or
// metadata that are not valid UTF-8, and any I/O failure (naming the path and the system's reason).
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const SafetensorsMetadata& metadata = {});
SafetensorsContent load_safetensors(const std::string& path);

// The same format in memory (what the safetensors package's save()/load() do with bytes).
std::string save_safetensors_to_bytes(const NamedTensors& tensors,
                                      const SafetensorsMetadata& metadata = {});
// `source` names the bytes in error messages.
SafetensorsContent load_safetensors_from_bytes(const void* data, size_t size,
                                               const std::string& source = "<bytes>");

}  // namespace tg
