// Saving and loading a module's state dict as a safetensors file (core/safetensors.h), readable by
// other frameworks: the keys are the state-dict names ("layers.0.weight"), as PyTorch's.
//
//   tg::nn::save(*model, "model.safetensors");
//   tg::nn::load(*model, "model.safetensors");   // strict: every key must match both ways
#pragma once
#include <string>

#include "../core/safetensors.h"
#include "module.h"

namespace tg::nn {

// Writes module.state_dict() atomically. The header's metadata is {"format": "pt"} (what other
// frameworks' loaders look for) plus `metadata`, which may override it.
void save(const Module& module, const std::string& path, const SafetensorsMetadata& metadata = {});

// Reads `path` into the module through load_state_dict (values are copied, converted to each
// tensor's dtype and device). strict: missing and unexpected keys are errors; mis-shaped tensors
// always are. Returns the file's metadata.
SafetensorsMetadata load(Module& module, const std::string& path, bool strict = true);

}  // namespace tg::nn
