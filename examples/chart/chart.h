// tg::chart: a small raster canvas (RGB, lines, boxes, a built-in 5x7 font), line and bar
// panels, and a PNG writer (zlib), so tapegrad-train can draw its curves without a plotting
// library. Target tapegrad_chart.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tg::chart {

struct Color {
  uint8_t r, g, b;
  bool operator==(const Color&) const = default;
};
inline constexpr Color kWhite{255, 255, 255}, kBlack{0, 0, 0}, kGrey{200, 200, 200};
// Distinct colours for series; series i takes palette()[i % size].
const std::vector<Color>& palette();

struct Rect {
  int x, y, width, height;
};

class Canvas {
 public:
  Canvas(int width, int height, Color background = kWhite);
  int width() const { return width_; }
  int height() const { return height_; }
  const std::vector<uint8_t>& rgb() const { return rgb_; }  // row-major, 3 bytes per pixel
  Color at(int x, int y) const;

  // Drawing clips at the edges.
  void set(int x, int y, Color c);
  void fill(Rect r, Color c);
  void frame(Rect r, Color c);
  // `thickness` pixels wide; `dash` > 0 leaves gaps of that many pixels.
  void line(double x0, double y0, double x1, double y1, Color c, int thickness = 1, int dash = 0);
  // Text in the built-in font, `scale` pixels per font pixel, top-left corner at (x, y).
  // Upper-case letters are drawn in lower case; characters outside the font as '?'.
  void text(int x, int y, const std::string& s, Color c, int scale = 1);
  static int text_width(const std::string& s, int scale = 1);
  static int text_height(int scale = 1);

 private:
  int width_, height_;
  std::vector<uint8_t> rgb_;
};

struct Series {
  std::string label;
  std::vector<double> y;  // at x = 1, 2, ..., y.size()
  Color color;
  bool dashed = false;
};

// A line chart of `series` inside `area`, with a title, axes and tick labels; y spans the
// values' range (padded), x spans 1..the longest series. Each point also gets a marker, so a
// one-point series still shows.
void line_panel(Canvas& canvas, Rect area, const std::string& title, const std::vector<Series>& series);
// One bar per value with its label under it and its value above it; y starts at 0.
void bar_panel(Canvas& canvas, Rect area, const std::string& title, const std::vector<std::string>& labels,
               const std::vector<double>& values, const std::vector<Color>& colors);

// The canvas as a PNG file (8-bit RGB, no interlace). Throws tg::Error naming the path.
std::vector<uint8_t> encode_png(const Canvas& canvas);
void write_png(const Canvas& canvas, const std::string& path);

}  // namespace tg::chart
