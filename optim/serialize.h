// Saving and loading an optimizer's state dict as a safetensors file (core/safetensors.h).
//
//   tg::optim::save(opt, "opt.safetensors");
//   tg::optim::load(opt, "opt.safetensors");   // then training resumes exactly where it stopped
//
// Layout: each parameter's state tensors are entries "state.<index>.<key>" (LBFGS's lists:
// "state.<index>.<key>.<i>"), its numbers ("step") 0-d float64 entries under the same names; the
// header's metadata holds, as JSON strings, "tapegrad.param_groups" (each group's options and
// parameter indices), "tapegrad.state" (which keys each parameter has) and "tapegrad.optimizer"
// (the optimizer's name). Other metadata keys are the caller's.
#pragma once
#include <string>

#include "../core/safetensors.h"
#include "optimizer.h"

namespace tg::optim {

// Writes optimizer.state_dict() atomically, with `metadata` (keys starting "tapegrad." are
// reserved) and the optimizer's name.
void save(const Optimizer& optimizer, const std::string& path, const SafetensorsMetadata& metadata = {});
// Reads a file written by save() into the optimizer through its load_state_dict (which checks the
// groups match); a file saved from another optimizer type is an error. Returns the caller's
// metadata.
SafetensorsMetadata load(Optimizer& optimizer, const std::string& path);

// The same for a bare state dict (no optimizer name is stored or checked).
void save_state_dict(const OptimizerStateDict& dict, const std::string& path,
                     const SafetensorsMetadata& metadata = {});
// `metadata`, when given, receives the caller's metadata.
OptimizerStateDict load_state_dict(const std::string& path, SafetensorsMetadata* metadata = nullptr);

}  // namespace tg::optim
