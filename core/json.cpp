#include "json.h"

#include <unordered_set>
#include <vector>

#include "error.h"

namespace tg {

namespace detail {

// A valid safetensors header nests 3 deep; anything far deeper is hostile.
constexpr size_t kMaxJsonDepth = 16;

// Bytes outside printable ASCII as \xNN, so messages stay valid UTF-8 whatever a file holds.
std::string printable(const std::string& s, size_t limit) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < limit; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (s.size() > limit) out += "...";
  return out;
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  out += printable(s);
  out += '"';
  return out;
}

std::string json_brief(const Json& value, size_t limit) { return printable(value.dump(), limit); }

// The parsed JSON, with duplicate keys (which JSON parsers silently merge) and deep nesting
// refused while parsing.
Json parse_json(const std::string& where, const char* text, size_t n) {
  std::vector<std::unordered_set<std::string>> open;  // the keys seen in each open object/array
  auto on_event = [&](int, Json::parse_event_t event, Json& parsed) {
    using Event = Json::parse_event_t;
    if (event == Event::object_start || event == Event::array_start) {
      TG_CHECK(open.size() < kMaxJsonDepth, Value, where, ": the JSON is nested deeper than ",
               kMaxJsonDepth, " levels");
      open.emplace_back();
    } else if (event == Event::object_end || event == Event::array_end) {
      open.pop_back();
    } else if (event == Event::key) {
      const std::string& key = parsed.get_ref<const std::string&>();
      TG_CHECK(open.back().insert(key).second, Value, where, ": the JSON has the key ", quoted(key),
               open.size() == 1 ? " twice (two tensors with the same name)" : " twice in one object");
    }
    return true;
  };
  try {
    return Json::parse(text, text + n, on_event);
  } catch (const Json::exception& e) {
    TG_FAIL(Value, where, ": not valid JSON: ", printable(e.what()));
  }
}

}  // namespace detail

}  // namespace tg
