// A plain-text file as a character-level data set, shared by the language-model examples.
#pragma once

#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tg::data {

struct CharText {
  std::string text;
  std::string alphabet;  // every byte the text uses, numbered in order of appearance
  std::map<char, int64_t> index_of;

  int64_t vocab() const { return static_cast<int64_t>(alphabet.size()); }
  int64_t size() const { return static_cast<int64_t>(text.size()); }

  // Characters the text never uses map to id 0.
  std::vector<int64_t> encode(const std::string& s) const {
    std::vector<int64_t> ids;
    for (char ch : s) {
      auto it = index_of.find(ch);
      ids.push_back(it == index_of.end() ? 0 : it->second);
    }
    return ids;
  }

  // `batch` windows at random places: inputs [batch, context] and targets of the same shape,
  // each target being the character that follows its input.
  std::pair<Tensor, Tensor> random_windows(int64_t batch, int64_t context) const {
    std::vector<int64_t> inputs, targets;
    for (int64_t start : randint(0, size() - context - 1, {batch}).to_vector<int64_t>())
      for (int64_t t = 0; t < context; ++t) {
        inputs.push_back(index_of.at(text[start + t]));
        targets.push_back(index_of.at(text[start + t + 1]));
      }
    return {tensor(inputs, {batch, context}), tensor(targets, {batch, context})};
  }
};

// The language-model examples' command line: --text PATH, --steps N.
struct CharTextOptions {
  std::string path = "/usr/share/common-licenses/Apache-2.0";
  int steps;
};
inline CharTextOptions parse_char_text_options(int argc, char** argv, int default_steps) {
  CharTextOptions o{.steps = default_steps};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--text") o.path = argv[i + 1];
    else if (std::string(argv[i]) == "--steps") o.steps = std::atoi(argv[i + 1]);
  }
  return o;
}

// Throws std::runtime_error naming the file when it cannot be read or is too short to train on.
inline CharText load_char_text(const std::string& path, int64_t context) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot read " + path);
  std::stringstream buffer;
  buffer << file.rdbuf();
  CharText data;
  data.text = buffer.str();
  if (data.size() < context + 2)
    throw std::runtime_error(path + " has " + std::to_string(data.size()) +
                             " characters; a window needs " + std::to_string(context + 2));
  for (char ch : data.text)
    if (data.index_of.emplace(ch, data.vocab()).second) data.alphabet += ch;
  return data;
}

}  // namespace tg::data
