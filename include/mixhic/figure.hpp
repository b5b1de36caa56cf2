// figure.hpp — the PNG figures mixhic-eval writes for users: true vs predicted Hi-C maps side by
// side, and line plots (distance-stratified PCC of a model against baselines, insulation tracks
// along a window). Called by the evaluation on rank 0.
//
// Self-contained on purpose: 8-bit RGB through libpng, the viridis colour scale as a table, and a
// built-in 5x8 bitmap font, so no plotting library or font file is needed on a cluster node.
// Every file is written to `path + ".tmp"` and renamed onto `path`.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace mixhic::figure {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
  bool operator!=(const Rgb& o) const { return !(*this == o); }
};

constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kBlack{0, 0, 0};
constexpr Rgb kMissing{190, 190, 190};  // NaN cells of a map (masked bins)

// Matplotlib's viridis, 256 entries, as 8-bit colours the way matplotlib makes them
// (`cmap(i, bytes=True)`: each float channel times 255, truncated).
const std::array<Rgb, 256>& viridis_table();
// Matplotlib's rule for a value on the [vmin, vmax] scale (Normalize, then a 256-entry
// ListedColormap): index floor((v - vmin) / (vmax - vmin) * 256), clipped to [0, 255]; values
// outside the scale take the end colours. NaN gives -1.
int colour_index(double value, double vmin, double vmax);
Rgb viridis(double value, double vmin, double vmax);  // kMissing for NaN

// Distinct series colours (Okabe-Ito, readable with colour-blindness): i-th series, cycling.
Rgb series_colour(size_t i);

// A raster image with a white background; coordinates in pixels, (0, 0) top left. Drawing
// outside the image is clipped.
class Canvas {
 public:
  Canvas(int width, int height, Rgb background = kWhite);
  int width() const { return width_; }
  int height() const { return height_; }
  Rgb pixel(int x, int y) const { return pixels_[static_cast<size_t>(y) * width_ + x]; }
  void set(int x, int y, Rgb c);
  void fill_rect(int x, int y, int w, int h, Rgb c);
  void rect_outline(int x, int y, int w, int h, Rgb c);
  // A straight line `thickness` pixels wide (a square brush along Bresenham's path).
  void line(int x0, int y0, int x1, int y1, Rgb c, int thickness = 1);
  // Text in the 5x8 font (capitals 7 rows high, descenders below), each font pixel drawn
  // `scale` x `scale`, top-left corner at (x, y). Characters outside printable ASCII print as '?'.
  void text(int x, int y, const std::string& s, Rgb c, int scale = 1);
  // Text rotated 90 degrees counter-clockwise (reads bottom to top), its bounding box's top-left
  // corner at (x, y): for y-axis labels.
  void text_vertical(int x, int y, const std::string& s, Rgb c, int scale = 1);
  static int text_width(const std::string& s, int scale = 1);  // 6 * scale a character, less the last gap
  static int text_height(int scale = 1) { return 8 * scale; }
  // 8-bit RGB PNG; `title` goes into a tEXt chunk. Throws Error naming the path on failure.
  void write_png(const std::string& path, const std::string& title = "") const;

 private:
  int width_, height_;
  std::vector<Rgb> pixels_;
};

// Where write_map_pair_png put things, so tests (and callers adding marks) can find a cell:
// cell (i, j) of the true map covers pixels [true_x + j*cell, +cell) x [top + i*cell, +cell).
struct MapPairLayout {
  int width = 0, height = 0;  // of the PNG
  int cell = 0;               // pixels per map bin
  int true_x = 0, pred_x = 0, top = 0;
  int colorbar_x = 0, colorbar_width = 0;
};

// Two W x W maps (row-major, NaN = masked) side by side on one colour scale [vmin, vmax], labelled
// "true" and "predicted", with a colorbar (`value_label` beside it, e.g. "log(1 + O/E)") and
// `title` above (e.g. "chr21:28,000,000-28,250,000"). Each bin is drawn as a square of 8 pixels
// for W <= 64, fewer for larger windows so that a map stays near 512 pixels wide.
MapPairLayout write_map_pair_png(const std::string& path, const std::vector<double>& true_map,
                                 const std::vector<double>& pred_map, int64_t W,
                                 const std::string& title, double vmin, double vmax,
                                 const std::string& value_label = "");

struct Series {
  std::string name;            // legend text
  std::vector<double> x, y;    // same length; a NaN y breaks the line
  Rgb colour;
};

// Where write_curve_png mapped data to pixels.
struct PlotLayout {
  int width = 0, height = 0;                  // of the PNG
  int left = 0, top = 0, right = 0, bottom = 0;  // plot area: [left, right] x [top, bottom]
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;      // data range of the axes
  int px(double x) const;                     // pixel column of data x
  int py(double y) const;                     // pixel row of data y
};

// A line plot of `series` with axes, "nice" ticks (1, 2, 5 x 10^k), axis labels, a title and a
// legend to the right of the plot area. The axes span the finite data (y with 5 % margins).
// Throws Error when there is no series or no finite point, or x and y lengths differ.
PlotLayout write_curve_png(const std::string& path, const std::string& title,
                           const std::string& x_label, const std::string& y_label,
                           const std::vector<Series>& series);

}  // namespace mixhic::figure
