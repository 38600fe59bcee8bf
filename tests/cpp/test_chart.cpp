// tg::chart (examples/chart): the PNG bytes are decoded here by hand (chunks, CRCs, zlib, rows)
// and compared with the canvas pixel for pixel; drawing is checked at known pixels.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "chart/chart.h"
#include "core/error.h"

namespace {

using tg::chart::Canvas;
using tg::chart::Color;
using Bytes = std::vector<uint8_t>;

uint32_t be32(const Bytes& b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) | b[at + 3];
}

struct Decoded {
  uint32_t width = 0, height = 0;
  Bytes rgb;
  std::vector<std::string> chunk_types;
};

// A minimal reader for what encode_png writes: 8-bit RGB, filter 0 rows, one or more IDATs.
Decoded decode_png(const Bytes& png) {
  const Bytes signature = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  EXPECT_TRUE(std::equal(signature.begin(), signature.end(), png.begin()));
  Decoded out;
  Bytes idat;
  for (size_t at = 8; at + 12 <= png.size();) {
    const uint32_t length = be32(png, at);
    const std::string type(png.begin() + at + 4, png.begin() + at + 8);
    out.chunk_types.push_back(type);
    const uint32_t crc = static_cast<uint32_t>(crc32(0, png.data() + at + 4, 4 + length));
    EXPECT_EQ(be32(png, at + 8 + length), crc) << type;
    const Bytes data(png.begin() + at + 8, png.begin() + at + 8 + length);
    if (type == "IHDR") {
      out.width = be32(data, 0), out.height = be32(data, 4);
      EXPECT_EQ(Bytes(data.begin() + 8, data.end()), (Bytes{8, 2, 0, 0, 0}));
    } else if (type == "IDAT") {
      idat.insert(idat.end(), data.begin(), data.end());
    }
    at += 12 + length;
  }
  uLongf size = static_cast<uLongf>(out.height) * (1 + 3 * out.width);
  Bytes raw(size);
  EXPECT_EQ(uncompress(raw.data(), &size, idat.data(), static_cast<uLong>(idat.size())), Z_OK);
  EXPECT_EQ(size, raw.size());
  for (uint32_t y = 0; y < out.height; ++y) {
    const uint8_t* row = raw.data() + y * (1 + 3 * out.width);
    EXPECT_EQ(row[0], 0) << "row " << y << " filter";
    out.rgb.insert(out.rgb.end(), row + 1, row + 1 + 3 * out.width);
  }
  return out;
}

int count(const Canvas& c, Color color) {
  int n = 0;
  for (int y = 0; y < c.height(); ++y)
    for (int x = 0; x < c.width(); ++x) n += c.at(x, y) == color;
  return n;
}

TEST(Chart, PngDecodesToTheCanvasPixelForPixel) {
  Canvas canvas(37, 11, {10, 20, 30});  // odd sizes: no accidental alignment
  canvas.fill({3, 2, 5, 4}, {250, 0, 7});
  canvas.set(36, 10, {1, 2, 3});
  const Decoded png = decode_png(tg::chart::encode_png(canvas));
  EXPECT_EQ(png.width, 37u);
  EXPECT_EQ(png.height, 11u);
  EXPECT_EQ(png.chunk_types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  EXPECT_EQ(png.rgb, canvas.rgb());
  EXPECT_EQ(canvas.at(36, 10), (Color{1, 2, 3}));
  EXPECT_EQ(canvas.at(3, 2), (Color{250, 0, 7}));
  EXPECT_EQ(canvas.at(8, 2), (Color{10, 20, 30}));  // the fill stops at x + width
}

TEST(Chart, DrawingClipsAtTheEdges) {
  Canvas canvas(10, 10);
  canvas.fill({-5, -5, 8, 8}, tg::chart::kBlack);  // only the 3x3 corner inside
  canvas.line(-20, 5, 30, 5, tg::chart::kBlack);  // a full row
  EXPECT_EQ(count(canvas, tg::chart::kBlack), 9 + 10);  // row 5 misses the corner
  EXPECT_THROW(canvas.at(10, 0), tg::Error);
}

TEST(Chart, LinesReachBothEndsAndDashesLeaveGaps) {
  Canvas canvas(40, 40);
  canvas.line(2, 3, 30, 17, tg::chart::kBlack);
  EXPECT_EQ(canvas.at(2, 3), tg::chart::kBlack);
  EXPECT_EQ(canvas.at(30, 17), tg::chart::kBlack);
  EXPECT_EQ(count(canvas, tg::chart::kBlack), 29);  // one pixel per step along the longer axis

  Canvas dashed(40, 1);
  dashed.line(0, 0, 39, 0, tg::chart::kBlack, 1, /*dash=*/5);
  EXPECT_EQ(count(dashed, tg::chart::kBlack), 20);  // 5 on, 5 off, four times
  EXPECT_EQ(dashed.at(4, 0), tg::chart::kBlack);
  EXPECT_EQ(dashed.at(5, 0), tg::chart::kWhite);
}

TEST(Chart, TextUsesTheFontAndMeasuresItself) {
  EXPECT_EQ(Canvas::text_width("abc"), 3 * 6 - 1);
  EXPECT_EQ(Canvas::text_width("ab\nabcd", 2), (4 * 6 - 1) * 2);
  EXPECT_EQ(Canvas::text_height(3), 21);
  auto drawn = [](const std::string& s) {
    Canvas c(12, 7);
    c.text(0, 0, s, tg::chart::kBlack);
    return c.rgb();
  };
  EXPECT_EQ(drawn("A"), drawn("a"));        // upper case drawn in lower case
  EXPECT_EQ(drawn("\x01"), drawn("?"));     // unknown characters
  EXPECT_NE(drawn("1"), drawn("7"));
  Canvas one(5, 7);
  one.text(0, 0, "1", tg::chart::kBlack);
  EXPECT_EQ(count(one, tg::chart::kBlack), 1 + 2 + 1 + 1 + 1 + 1 + 3);  // the glyph's set pixels
  EXPECT_EQ(one.at(2, 0), tg::chart::kBlack);
  EXPECT_EQ(one.at(0, 0), tg::chart::kWhite);
}

TEST(Chart, PanelsDrawEveryRunIncludingOnePointAndNonFiniteValues) {
  const Color red{214, 39, 40}, blue{31, 119, 180};
  Canvas canvas(400, 300);
  tg::chart::line_panel(canvas, {0, 0, 400, 300}, "loss",
                        {{"a", {1.0, 0.5, std::numeric_limits<double>::quiet_NaN(), 0.2}, red},
                         {"b", {0.7}, blue}});
  EXPECT_GT(count(canvas, red), 40);
  EXPECT_GE(count(canvas, blue), 49);  // a one-point series still gets its 7x7 marker

  Canvas empty(400, 300);
  tg::chart::line_panel(empty, {0, 0, 400, 300}, "diverged", {{"a", {std::nan(""), INFINITY}, red}});
  EXPECT_EQ(count(empty, red), 0);

  Canvas bars(400, 300);
  tg::chart::bar_panel(bars, {0, 0, 400, 300}, "seconds", {"mlp cpu", "cnn cuda:0"}, {2.0, 1.0}, {red, blue});
  // Bars have the same width, so their areas follow the values.
  const double ratio = static_cast<double>(count(bars, red)) / count(bars, blue);
  EXPECT_NEAR(ratio, 2.0, 0.05);
  EXPECT_THROW(tg::chart::bar_panel(bars, {0, 0, 400, 300}, "x", {"a"}, {1.0, 2.0}, {red, blue}), tg::Error);
}

TEST(Chart, WritePngNamesAPathItCannotWrite) {
  try {
    tg::chart::write_png(Canvas(2, 2), "/no/such/dir/chart.png");
    FAIL() << "no error";
  } catch (const tg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/no/such/dir/chart.png"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Canvas(0, 5), tg::Error);
}

}  // namespace
