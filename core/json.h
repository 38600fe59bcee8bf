// Internal (not installed): JSON through nlohmann-json for the safetensors header and the
// metadata that optimizers store in it. Hostile input is refused while parsing: duplicate keys
// (which JSON parsers silently merge) and deep nesting.
#pragma once
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace tg::detail {

using Json = nlohmann::ordered_json;  // keeps the order of keys as written

// Parses text[0, n); a tg::Error starting with `where` says what is wrong.
Json parse_json(const std::string& where, const char* text, size_t n);
inline Json parse_json(const std::string& where, const std::string& text) {
  return parse_json(where, text.data(), text.size());
}
// A JSON value as written, cut to `limit` characters, for messages.
std::string json_brief(const Json& value, size_t limit = 80);
// `s` with bytes outside printable ASCII as \xNN, so messages stay valid UTF-8 whatever a file holds.
std::string printable(const std::string& s, size_t limit = 200);
// printable(s) in double quotes.
std::string quoted(const std::string& s);

}  // namespace tg::detail
