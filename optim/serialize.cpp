#include "serialize.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <unordered_map>

#include "../core/json.h"

namespace tg::optim {

namespace {

using tg::detail::Json;

constexpr const char* kGroupsKey = "tapegrad.param_groups";
constexpr const char* kStateKey = "tapegrad.state";
constexpr const char* kNameKey = "tapegrad.optimizer";
constexpr const char* kReservedPrefix = "tapegrad.";

using tg::detail::quoted;

std::string entry_name(int64_t index, const std::string& key) {
  return "state." + std::to_string(index) + "." + key;
}

// JSON has no NaN or infinity; they are written as these strings.
Json number_to_json(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

// ---------------------------------------------------------------- saving

SafetensorsMetadata user_metadata_checked(const char* op, const SafetensorsMetadata& metadata) {
  for (const auto& [key, _] : metadata)
    TG_CHECK(key.rfind(kReservedPrefix, 0) != 0, Value, op, ": the metadata key ", quoted(key),
             " is reserved (keys starting \"", kReservedPrefix, "\" describe the optimizer)");
  return metadata;
}

void write_state_dict(const char* op, const OptimizerStateDict& dict, const std::string& path,
                      SafetensorsMetadata metadata) {
  Json groups = Json::array();
  for (const auto& g : dict.param_groups) {
    Json options = Json::object();
    for (const auto& [key, value] : g.options) options[key] = number_to_json(value);
    Json group = Json::object();
    group["params"] = g.params;
    group["options"] = std::move(options);
    group["string_options"] = g.string_options;
    groups.push_back(std::move(group));
  }
  NamedTensors tensors;
  Json state = Json::object();
  for (const auto& [index, st] : dict.state) {
    Json keys = Json::object();
    keys["tensors"] = Json::array();
    keys["scalars"] = Json::array();
    keys["tensor_lists"] = Json::object();
    for (const auto& [key, t] : st.tensors) {
      if (!t.defined()) continue;  // an absent entry reads back the same: no tensor
      keys["tensors"].push_back(key);
      tensors.emplace_back(entry_name(index, key), t);
    }
    for (const auto& [key, v] : st.scalars) {
      keys["scalars"].push_back(key);
      tensors.emplace_back(entry_name(index, key), scalar_tensor(v, kFloat64));
    }
    for (const auto& [key, list] : st.tensor_lists) {
      keys["tensor_lists"][key] = list.size();
      for (size_t i = 0; i < list.size(); ++i) {
        TG_CHECK(list[i].defined(), Value, op, ": the state of parameter ", index, " has an undefined tensor at ",
                 quoted(key), "[", i, "]");
        tensors.emplace_back(entry_name(index, key) + "." + std::to_string(i), list[i]);
      }
    }
    state[std::to_string(index)] = std::move(keys);
  }
  try {
    metadata[kGroupsKey] = groups.dump();
    metadata[kStateKey] = state.dump();
  } catch (const Json::exception&) {
    TG_FAIL(Value, op, ": an option or state key of the optimizer is not valid UTF-8");
  }
  // Two keys can give one entry name ("a.0" and the list "a"); save_safetensors refuses that.
  save_safetensors(path, tensors, metadata);
}

// ---------------------------------------------------------------- loading

// Reads the metadata of a file written by write_state_dict; every field is checked, the entries
// it names must all be there, and no other entries may be.
class StateReader {
 public:
  StateReader(std::string where, SafetensorsContent& file) : where_(std::move(where)), file_(file) {
    for (const auto& [name, t] : file_.tensors) tensors_.emplace(name, t);
  }

  OptimizerStateDict read() {
    OptimizerStateDict dict;
    const Json groups = parse(kGroupsKey);
    TG_CHECK(groups.is_array(), Value, where_, ": ", kGroupsKey, " must be a JSON array, got ",
             tg::detail::json_brief(groups));
    for (size_t gi = 0; gi < groups.size(); ++gi) dict.param_groups.push_back(read_group(gi, groups[gi]));
    const Json state = parse(kStateKey);
    TG_CHECK(state.is_object(), Value, where_, ": ", kStateKey, " must be a JSON object, got ",
             tg::detail::json_brief(state));
    for (const auto& [key, value] : state.items()) {
      const int64_t index = parse_index(key);
      dict.state[index] = read_param_state(index, value);
    }
    std::string unused;
    for (const auto& [name, _] : file_.tensors)
      if (!used_.count(name)) unused += (unused.empty() ? "" : ", ") + quoted(name);
    TG_CHECK(unused.empty(), Value, where_, ": tensors that the optimizer state does not list: ", unused);
    return dict;
  }

 private:
  Json parse(const char* key) {
    auto it = file_.metadata.find(key);
    TG_CHECK(it != file_.metadata.end(), Value, where_, ": not an optimizer checkpoint (its metadata has no \"",
             key, "\")");
    return tg::detail::parse_json(where_ + " metadata \"" + key + "\"", it->second);
  }

  // A JSON integer that fits in int64.
  int64_t integer(const std::string& what, const Json& v) {
    if (v.is_number_unsigned() &&
        v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return static_cast<int64_t>(v.get<uint64_t>());
    TG_CHECK(v.is_number_integer() && !v.is_number_unsigned(), Value, where_, ": ", what,
             " must be a 64-bit integer, got ", tg::detail::json_brief(v));
    return v.get<int64_t>();
  }

  // Only the fields in `allowed`; `what` names the object in errors.
  void check_fields(const std::string& what, const Json& object, std::initializer_list<const char*> allowed) {
    TG_CHECK(object.is_object(), Value, where_, ": ", what, " must be a JSON object, got ",
             tg::detail::json_brief(object));
    for (const auto& [field, _] : object.items()) {
      bool known = false;
      for (const char* a : allowed) known = known || field == a;
      TG_CHECK(known, Value, where_, ": ", what, " has the unknown field ", quoted(field));
    }
  }

  OptimizerStateDict::Group read_group(size_t gi, const Json& g) {
    const std::string what = "parameter group " + std::to_string(gi);
    check_fields(what, g, {"params", "options", "string_options"});
    TG_CHECK(g.contains("params") && g.contains("options"), Value, where_, ": ", what,
             " needs \"params\" and \"options\"");
    OptimizerStateDict::Group out;
    TG_CHECK(g["params"].is_array(), Value, where_, ": ", what, " params must be an array, got ",
             tg::detail::json_brief(g["params"]));
    for (const Json& p : g["params"]) out.params.push_back(integer(what + " params", p));
    TG_CHECK(g["options"].is_object(), Value, where_, ": ", what, " options must be an object, got ",
             tg::detail::json_brief(g["options"]));
    for (const auto& [key, v] : g["options"].items()) out.options[key] = option_value(what, key, v);
    if (g.contains("string_options")) {
      const Json& s = g["string_options"];
      TG_CHECK(s.is_object(), Value, where_, ": ", what, " string_options must be an object, got ",
               tg::detail::json_brief(s));
      for (const auto& [key, v] : s.items()) {
        TG_CHECK(v.is_string(), Value, where_, ": ", what, " string option ", quoted(key),
                 " must be a string, got ", tg::detail::json_brief(v));
        out.string_options[key] = v.get<std::string>();
      }
    }
    return out;
  }

  double option_value(const std::string& what, const std::string& key, const Json& v) {
    if (v.is_number()) return v.get<double>();
    if (v.is_string()) {
      const std::string& s = v.get_ref<const std::string&>();
      if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
      if (s == "inf") return std::numeric_limits<double>::infinity();
      if (s == "-inf") return -std::numeric_limits<double>::infinity();
    }
    TG_FAIL(Value, where_, ": ", what, " option ", quoted(key),
            " must be a number (or \"nan\", \"inf\", \"-inf\"), got ", tg::detail::json_brief(v));
  }

  // "12" -> 12; anything else (sign, leading zeros, spaces, overflow) is an error.
  int64_t parse_index(const std::string& key) {
    int64_t index = -1;
    const char* end = key.data() + key.size();
    auto [ptr, ec] = std::from_chars(key.data(), end, index);
    TG_CHECK(ec == std::errc() && ptr == end && index >= 0 && std::to_string(index) == key, Value,
             where_, ": ", kStateKey, " has the key ", quoted(key), ", which is not a parameter index");
    return index;
  }

  // The entry `name`, marked used; an error when it is missing or already used.
  const Tensor& take(const std::string& name) {
    auto it = tensors_.find(name);
    TG_CHECK(it != tensors_.end(), Value, where_, ": the optimizer state lists the tensor ", quoted(name),
             " but the file has none by that name");
    TG_CHECK(used_.insert(name).second, Value, where_, ": the optimizer state lists the tensor ",
             quoted(name), " twice");
    return it->second;
  }

  std::vector<std::string> key_list(const std::string& what, const Json& list) {
    TG_CHECK(list.is_array(), Value, where_, ": ", what, " must be an array of strings, got ",
             tg::detail::json_brief(list));
    std::vector<std::string> keys;
    for (const Json& k : list) {
      TG_CHECK(k.is_string(), Value, where_, ": ", what, " must be an array of strings, got ",
               tg::detail::json_brief(list));
      keys.push_back(k.get<std::string>());
    }
    return keys;
  }

  ParamState read_param_state(int64_t index, const Json& v) {
    const std::string what = "the state of parameter " + std::to_string(index);
    check_fields(what, v, {"tensors", "scalars", "tensor_lists"});
    ParamState st;
    if (v.contains("tensors"))
      for (const std::string& key : key_list(what + " tensors", v["tensors"]))
        st.tensors[key] = take(entry_name(index, key));
    if (v.contains("scalars"))
      for (const std::string& key : key_list(what + " scalars", v["scalars"])) {
        const std::string name = entry_name(index, key);
        const Tensor& t = take(name);
        TG_CHECK(t.dim() == 0, Value, where_, ": the scalar ", quoted(name), " must be a 0-d tensor, got shape ",
                 t.sizes());
        st.scalars[key] = t.item();
      }
    if (v.contains("tensor_lists")) {
      const Json& lists = v["tensor_lists"];
      TG_CHECK(lists.is_object(), Value, where_, ": ", what, " tensor_lists must be an object, got ",
               tg::detail::json_brief(lists));
      for (const auto& [key, count] : lists.items()) {
        const int64_t n = integer(what + " tensor_lists " + quoted(key), count);
        TG_CHECK(n >= 0 && static_cast<uint64_t>(n) <= file_.tensors.size(), Value, where_, ": ", what,
                 " lists ", n, " tensors under ", quoted(key), " but the file has ", file_.tensors.size(),
                 " tensors in all");
        auto& out = st.tensor_lists[key];
        for (int64_t i = 0; i < n; ++i) out.push_back(take(entry_name(index, key) + "." + std::to_string(i)));
      }
    }
    return st;
  }

  std::string where_;
  SafetensorsContent& file_;
  std::unordered_map<std::string, Tensor> tensors_;
  std::set<std::string> used_;
};

OptimizerStateDict read_state_dict(const char* op, const std::string& path, SafetensorsContent& file) {
  return StateReader(std::string(op) + "(\"" + path + "\")", file).read();
}

// The caller's part of the metadata.
SafetensorsMetadata without_reserved(SafetensorsMetadata metadata) {
  std::erase_if(metadata, [](const auto& kv) { return kv.first.rfind(kReservedPrefix, 0) == 0; });
  return metadata;
}

}  // namespace

void save_state_dict(const OptimizerStateDict& dict, const std::string& path,
                     const SafetensorsMetadata& metadata) {
  const char* op = "optim::save_state_dict";
  write_state_dict(op, dict, path, user_metadata_checked(op, metadata));
}

OptimizerStateDict load_state_dict(const std::string& path, SafetensorsMetadata* metadata) {
  SafetensorsContent file = load_safetensors(path);
  OptimizerStateDict dict = read_state_dict("optim::load_state_dict", path, file);
  if (metadata) *metadata = without_reserved(std::move(file.metadata));
  return dict;
}

void save(const Optimizer& optimizer, const std::string& path, const SafetensorsMetadata& metadata) {
  const char* op = "optim::save";
  SafetensorsMetadata header = user_metadata_checked(op, metadata);
  header[kNameKey] = optimizer.name();
  write_state_dict(op, optimizer.state_dict(), path, std::move(header));
}

SafetensorsMetadata load(Optimizer& optimizer, const std::string& path) {
  SafetensorsContent file = load_safetensors(path);
  const std::string where = "optim::load(\"" + path + "\")";
  auto name = file.metadata.find(kNameKey);
  TG_CHECK(name == file.metadata.end() || name->second == optimizer.name(), Value, where,
           ": the file holds the state of ", quoted(name->second), ", not of ", optimizer.name());
  OptimizerStateDict dict = read_state_dict("optim::load", path, file);
  try {
    optimizer.load_state_dict(dict);
  } catch (const Error& e) {
    throw Error(e.kind(), where + ": " + e.what());
  }
  return without_reserved(std::move(file.metadata));
}

}  // namespace tg::optim
