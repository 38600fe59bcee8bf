#include "chart/chart.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>

#include <tapegrad/tapegrad.h>

namespace tg::chart {
namespace {

constexpr int kGlyphWidth = 5, kGlyphHeight = 7, kAdvance = kGlyphWidth + 1, kLineGap = 3;

// Each glyph: 7 rows of 5 pixels, top row first, '#' set.
struct Glyph {
  char ch;
  const char* rows;
};
constexpr Glyph kFont[] = {
    {'0', ".###. #...# #..## #.#.# ##..# #...# .###."}, {'1', "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###."},
    {'2', ".###. #...# ....# ...#. ..#.. .#... #####"}, {'3', "##### ...#. ..#.. ...#. ....# #...# .###."},
    {'4', "...#. ..##. .#.#. #..#. ##### ...#. ...#."}, {'5', "##### #.... ####. ....# ....# #...# .###."},
    {'6', "..##. .#... #.... ####. #...# #...# .###."}, {'7', "##### ....# ...#. ..#.. .#... .#... .#..."},
    {'8', ".###. #...# #...# .###. #...# #...# .###."}, {'9', ".###. #...# #...# .#### ....# ...#. .##.."},
    {'a', "..... ..... .###. ....# .#### #...# .####"}, {'b', "#.... #.... #.##. ##..# #...# #...# ####."},
    {'c', "..... ..... .###. #.... #.... #...# .###."}, {'d', "....# ....# .##.# #..## #...# #...# .####"},
    {'e', "..... ..... .###. #...# ##### #.... .###."}, {'f', "..##. .#..# .#... ###.. .#... .#... .#..."},
    {'g', "..... .#### #...# #...# .#### ....# .###."}, {'h', "#.... #.... #.##. ##..# #...# #...# #...#"},
    {'i', "..#.. ..... .##.. ..#.. ..#.. ..#.. .###."}, {'j', "...#. ..... ..##. ...#. ...#. #..#. .##.."},
    {'k', "#.... #.... #..#. #.#.. ##... #.#.. #..#."}, {'l', ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###."},
    {'m', "..... ..... ##.#. #.#.# #.#.# #...# #...#"}, {'n', "..... ..... #.##. ##..# #...# #...# #...#"},
    {'o', "..... ..... .###. #...# #...# #...# .###."}, {'p', "..... ..... ####. #...# ####. #.... #...."},
    {'q', "..... ..... .##.# #..## .#### ....# ....#"}, {'r', "..... ..... #.##. ##..# #.... #.... #...."},
    {'s', "..... ..... .###. #.... .###. ....# ####."}, {'t', ".#... .#... ###.. .#... .#... .#..# ..##."},
    {'u', "..... ..... #...# #...# #...# #..## .##.#"}, {'v', "..... ..... #...# #...# #...# .#.#. ..#.."},
    {'w', "..... ..... #...# #...# #.#.# #.#.# .#.#."}, {'x', "..... ..... #...# .#.#. ..#.. .#.#. #...#"},
    {'y', "..... ..... #...# #...# .#### ....# .###."}, {'z', "..... ..... ##### ...#. ..#.. .#... #####"},
    {' ', "..... ..... ..... ..... ..... ..... ....."}, {'.', "..... ..... ..... ..... ..... .##.. .##.."},
    {',', "..... ..... ..... ..... .##.. ..#.. .#..."}, {':', "..... .##.. .##.. ..... .##.. .##.. ....."},
    {'%', "##... ##..# ...#. ..#.. .#... #..## ...##"}, {'/', "..... ....# ...#. ..#.. .#... #.... ....."},
    {'-', "..... ..... ..... ##### ..... ..... ....."}, {'(', "...#. ..#.. .#... .#... .#... ..#.. ...#."},
    {')', ".#... ..#.. ...#. ...#. ...#. ..#.. .#..."}, {'_', "..... ..... ..... ..... ..... ..... #####"},
    {'+', "..... ..#.. ..#.. ##### ..#.. ..#.. ....."}, {'=', "..... ..... ##### ..... ##### ..... ....."},
    {'?', ".###. #...# ....# ...#. ..#.. ..... ..#.."},
};

const Glyph& glyph_of(char ch) {
  if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  for (const Glyph& g : kFont)
    if (g.ch == ch) return g;
  return glyph_of('?');
}

// Tick positions for [lo, hi]: multiples of 1, 2 or 5 times a power of ten, about `target` of them.
std::vector<double> ticks(double lo, double hi, int target, int* decimals) {
  const double raw = (hi - lo) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  *decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  std::vector<double> out;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * step; t += step)
    out.push_back(std::abs(t) < 1e-9 * step ? 0.0 : t);  // never "-0.0"
  return out;
}

std::string format(double v, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}

void title(Canvas& canvas, Rect area, const std::string& s) {
  canvas.text(area.x + (area.width - Canvas::text_width(s, 2)) / 2, area.y, s, kBlack, 2);
}

// The plot box inside a panel: room for the title above, tick labels left and below.
Rect plot_box(Rect area, int left_labels_width) {
  const int top = Canvas::text_height(2) + 12, bottom = Canvas::text_height() * 2 + 14;
  const int left = left_labels_width + 10;
  return {area.x + left, area.y + top, area.width - left - 10, area.height - top - bottom};
}

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

// A PNG chunk: length, type, data, then the CRC-32 of type and data.
void add_chunk(std::vector<uint8_t>& png, const char type[4], const std::vector<uint8_t>& data) {
  put_be32(png, static_cast<uint32_t>(data.size()));
  const size_t type_at = png.size();
  png.insert(png.end(), type, type + 4);
  png.insert(png.end(), data.begin(), data.end());
  put_be32(png, static_cast<uint32_t>(crc32(0, png.data() + type_at, static_cast<uInt>(4 + data.size()))));
}

}  // namespace

const std::vector<Color>& palette() {
  static const std::vector<Color> colors = {{31, 119, 180}, {214, 39, 40},  {44, 160, 44},  {255, 127, 14},
                                            {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {23, 190, 207}};
  return colors;
}

Canvas::Canvas(int width, int height, Color background) : width_(width), height_(height) {
  TG_CHECK(width > 0 && height > 0 && width <= 16384 && height <= 16384, Value,
           "chart::Canvas: the size must be 1..16384 pixels each way, got ", width, "x", height);
  rgb_.resize(static_cast<size_t>(width) * height * 3);
  fill({0, 0, width, height}, background);
}

Color Canvas::at(int x, int y) const {
  TG_CHECK(x >= 0 && y >= 0 && x < width_ && y < height_, Index, "chart::Canvas::at: (", x, ", ", y,
           ") is outside ", width_, "x", height_);
  const uint8_t* p = &rgb_[(static_cast<size_t>(y) * width_ + x) * 3];
  return {p[0], p[1], p[2]};
}

void Canvas::set(int x, int y, Color c) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
  uint8_t* p = &rgb_[(static_cast<size_t>(y) * width_ + x) * 3];
  p[0] = c.r, p[1] = c.g, p[2] = c.b;
}

void Canvas::fill(Rect r, Color c) {
  for (int y = r.y; y < r.y + r.height; ++y)
    for (int x = r.x; x < r.x + r.width; ++x) set(x, y, c);
}

void Canvas::frame(Rect r, Color c) {
  fill({r.x, r.y, r.width, 1}, c);
  fill({r.x, r.y + r.height - 1, r.width, 1}, c);
  fill({r.x, r.y, 1, r.height}, c);
  fill({r.x + r.width - 1, r.y, 1, r.height}, c);
}

void Canvas::line(double x0, double y0, double x1, double y1, Color c, int thickness, int dash) {
  const int steps = std::max(1, static_cast<int>(std::ceil(std::max(std::abs(x1 - x0), std::abs(y1 - y0)))));
  for (int i = 0; i <= steps; ++i) {
    if (dash > 0 && (i / dash) % 2 == 1) continue;
    const int x = static_cast<int>(std::lround(x0 + (x1 - x0) * i / steps)) - thickness / 2;
    const int y = static_cast<int>(std::lround(y0 + (y1 - y0) * i / steps)) - thickness / 2;
    fill({x, y, thickness, thickness}, c);
  }
}

void Canvas::text(int x, int y, const std::string& s, Color c, int scale) {
  int column = x;
  for (char ch : s) {
    if (ch == '\n') {
      column = x;
      y += text_height(scale) + kLineGap * scale;
      continue;
    }
    const char* rows = glyph_of(ch).rows;
    for (int row = 0; row < kGlyphHeight; ++row)
      for (int col = 0; col < kGlyphWidth; ++col)
        if (rows[row * (kGlyphWidth + 1) + col] == '#')
          fill({column + col * scale, y + row * scale, scale, scale}, c);
    column += kAdvance * scale;
  }
}

int Canvas::text_width(const std::string& s, int scale) {
  size_t longest = 0, current = 0;
  for (char ch : s) {
    current = ch == '\n' ? 0 : current + 1;
    longest = std::max(longest, current);
  }
  return longest == 0 ? 0 : static_cast<int>(longest * kAdvance - 1) * scale;
}

int Canvas::text_height(int scale) { return kGlyphHeight * scale; }

void line_panel(Canvas& canvas, Rect area, const std::string& name, const std::vector<Series>& series) {
  title(canvas, area, name);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  size_t points = 0;
  for (const Series& s : series) {
    points = std::max(points, s.y.size());
    for (double v : s.y)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  if (!(lo <= hi)) {  // nothing finite to draw, e.g. a run that diverged
    const Rect box = plot_box(area, 0);
    canvas.frame(box, kBlack);
    canvas.text(box.x + 8, box.y + 8, "no finite values", kBlack, 2);
    return;
  }
  const double pad = hi > lo ? 0.08 * (hi - lo) : std::max(std::abs(lo) * 0.1, 1e-3);
  lo -= pad, hi += pad;
  int decimals = 0;
  const std::vector<double> y_ticks = ticks(lo, hi, 4, &decimals);
  int label_width = 0;
  for (double t : y_ticks) label_width = std::max(label_width, Canvas::text_width(format(t, decimals)));
  const Rect box = plot_box(area, label_width);
  auto px = [&](size_t i) {
    return points <= 1 ? box.x + box.width / 2.0 : box.x + 6 + (box.width - 12.0) * i / (points - 1);
  };
  auto py = [&](double v) { return box.y + box.height - 1 - (v - lo) / (hi - lo) * (box.height - 1); };

  for (double t : y_ticks) {
    const int y = static_cast<int>(std::lround(py(t)));
    canvas.fill({box.x, y, box.width, 1}, kGrey);
    const std::string label = format(t, decimals);
    canvas.text(box.x - 6 - Canvas::text_width(label), y - Canvas::text_height() / 2, label, kBlack);
  }
  const size_t x_step = std::max<size_t>(1, (points + 9) / 10);
  for (size_t i = 0; i < points; i += x_step) {
    const std::string label = std::to_string(i + 1);
    const int x = static_cast<int>(std::lround(px(i)));
    canvas.fill({x, box.y + box.height, 1, 4}, kBlack);
    canvas.text(x - Canvas::text_width(label) / 2, box.y + box.height + 6, label, kBlack);
  }
  const std::string axis = "epoch";
  canvas.text(box.x + (box.width - Canvas::text_width(axis)) / 2, box.y + box.height + 8 + Canvas::text_height(),
              axis, kBlack);
  canvas.frame(box, kBlack);

  for (const Series& s : series)
    for (size_t i = 0; i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      if (i > 0 && std::isfinite(s.y[i - 1]))
        canvas.line(px(i - 1), py(s.y[i - 1]), px(i), py(s.y[i]), s.color, 2, s.dashed ? 5 : 0);
      canvas.fill({static_cast<int>(std::lround(px(i))) - 3, static_cast<int>(std::lround(py(s.y[i]))) - 3, 7, 7},
                  s.color);
    }
}

void bar_panel(Canvas& canvas, Rect area, const std::string& name, const std::vector<std::string>& labels,
               const std::vector<double>& values, const std::vector<Color>& colors) {
  TG_CHECK(labels.size() == values.size() && colors.size() == values.size(), Value,
           "chart::bar_panel: ", labels.size(), " labels, ", values.size(), " values and ", colors.size(),
           " colours; they must match");
  title(canvas, area, name);
  double hi = 0;
  for (double v : values)
    if (std::isfinite(v)) hi = std::max(hi, v);
  if (hi <= 0) hi = 1;
  hi *= 1.15;  // room for the value above the tallest bar
  int decimals = 0;
  const std::vector<double> y_ticks = ticks(0, hi, 4, &decimals);
  int label_width = 0;
  for (double t : y_ticks) label_width = std::max(label_width, Canvas::text_width(format(t, decimals)));
  Rect box = plot_box(area, label_width);
  box.height -= Canvas::text_height();  // bar labels take two lines
  auto py = [&](double v) { return box.y + box.height - 1 - v / hi * (box.height - 1); };
  for (double t : y_ticks) {
    const int y = static_cast<int>(std::lround(py(t)));
    canvas.fill({box.x, y, box.width, 1}, kGrey);
    const std::string label = format(t, decimals);
    canvas.text(box.x - 6 - Canvas::text_width(label), y - Canvas::text_height() / 2, label, kBlack);
  }
  const int n = static_cast<int>(values.size());
  const int slot = n ? box.width / n : box.width;
  const int bar = std::min(60, slot * 6 / 10);
  for (int i = 0; i < n; ++i) {
    const int center = box.x + slot * i + slot / 2;
    if (std::isfinite(values[i])) {
      const int top = static_cast<int>(std::lround(py(values[i])));
      canvas.fill({center - bar / 2, top, bar, box.y + box.height - top}, colors[i]);
      const std::string value = format(values[i], values[i] < 10 ? 2 : 1);
      canvas.text(center - Canvas::text_width(value) / 2, top - Canvas::text_height() - 4, value, kBlack);
    }
    std::string label = labels[i];
    std::replace(label.begin(), label.end(), ' ', '\n');
    canvas.text(center - Canvas::text_width(label) / 2, box.y + box.height + 6, label, kBlack);
  }
  canvas.frame(box, kBlack);
}

std::vector<uint8_t> encode_png(const Canvas& canvas) {
  const int w = canvas.width(), h = canvas.height();
  // Each row: filter type 0 (none), then the pixels.
  std::vector<uint8_t> raw;
  raw.reserve(static_cast<size_t>(h) * (1 + 3 * w));
  for (int y = 0; y < h; ++y) {
    raw.push_back(0);
    const uint8_t* row = canvas.rgb().data() + static_cast<size_t>(y) * w * 3;
    raw.insert(raw.end(), row, row + static_cast<size_t>(w) * 3);
  }
  uLongf compressed_size = compressBound(static_cast<uLong>(raw.size()));
  std::vector<uint8_t> compressed(compressed_size);
  TG_CHECK(compress2(compressed.data(), &compressed_size, raw.data(), static_cast<uLong>(raw.size()), 9) == Z_OK,
           Runtime, "chart::encode_png: zlib failed to compress ", raw.size(), " bytes");
  compressed.resize(compressed_size);

  std::vector<uint8_t> header;
  put_be32(header, static_cast<uint32_t>(w));
  put_be32(header, static_cast<uint32_t>(h));
  header.insert(header.end(), {8, 2, 0, 0, 0});  // 8 bits per channel, RGB, deflate, filter 0, no interlace

  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  add_chunk(png, "IHDR", header);
  add_chunk(png, "IDAT", compressed);
  add_chunk(png, "IEND", {});
  return png;
}

void write_png(const Canvas& canvas, const std::string& path) {
  const std::vector<uint8_t> png = encode_png(canvas);
  std::ofstream out(path, std::ios::binary);
  TG_CHECK(out, Runtime, "chart::write_png: cannot open '", path, "' for writing");
  out.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  TG_CHECK(out.good(), Runtime, "chart::write_png: error writing '", path, "'");
}

}  // namespace tg::chart
