#include "mixhic/figure.hpp"

#include <png.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "mixhic/check.hpp"

namespace mixhic::figure {

namespace {

// Matplotlib's viridis (Stéfan van der Walt and Nathaniel Smith, CC0), copied from
// lib/matplotlib/_cm_listed.py (_viridis_data), 256 RGB triples in [0, 1].
constexpr double kViridis[][3] = {
    {0.267004, 0.004874, 0.329415}, {0.268510, 0.009605, 0.335427}, {0.269944, 0.014625, 0.341379},
    {0.271305, 0.019942, 0.347269}, {0.272594, 0.025563, 0.353093}, {0.273809, 0.031497, 0.358853},
    {0.274952, 0.037752, 0.364543}, {0.276022, 0.044167, 0.370164}, {0.277018, 0.050344, 0.375715},
    {0.277941, 0.056324, 0.381191}, {0.278791, 0.062145, 0.386592}, {0.279566, 0.067836, 0.391917},
    {0.280267, 0.073417, 0.397163}, {0.280894, 0.078907, 0.402329}, {0.281446, 0.084320, 0.407414},
    {0.281924, 0.089666, 0.412415}, {0.282327, 0.094955, 0.417331}, {0.282656, 0.100196, 0.422160},
    {0.282910, 0.105393, 0.426902}, {0.283091, 0.110553, 0.431554}, {0.283197, 0.115680, 0.436115},
    {0.283229, 0.120777, 0.440584}, {0.283187, 0.125848, 0.444960}, {0.283072, 0.130895, 0.449241},
    {0.282884, 0.135920, 0.453427}, {0.282623, 0.140926, 0.457517}, {0.282290, 0.145912, 0.461510},
    {0.281887, 0.150881, 0.465405}, {0.281412, 0.155834, 0.469201}, {0.280868, 0.160771, 0.472899},
    {0.280255, 0.165693, 0.476498}, {0.279574, 0.170599, 0.479997}, {0.278826, 0.175490, 0.483397},
    {0.278012, 0.180367, 0.486697}, {0.277134, 0.185228, 0.489898}, {0.276194, 0.190074, 0.493001},
    {0.275191, 0.194905, 0.496005}, {0.274128, 0.199721, 0.498911}, {0.273006, 0.204520, 0.501721},
    {0.271828, 0.209303, 0.504434}, {0.270595, 0.214069, 0.507052}, {0.269308, 0.218818, 0.509577},
    {0.267968, 0.223549, 0.512008}, {0.266580, 0.228262, 0.514349}, {0.265145, 0.232956, 0.516599},
    {0.263663, 0.237631, 0.518762}, {0.262138, 0.242286, 0.520837}, {0.260571, 0.246922, 0.522828},
    {0.258965, 0.251537, 0.524736}, {0.257322, 0.256130, 0.526563}, {0.255645, 0.260703, 0.528312},
    {0.253935, 0.265254, 0.529983}, {0.252194, 0.269783, 0.531579}, {0.250425, 0.274290, 0.533103},
    {0.248629, 0.278775, 0.534556}, {0.246811, 0.283237, 0.535941}, {0.244972, 0.287675, 0.537260},
    {0.243113, 0.292092, 0.538516}, {0.241237, 0.296485, 0.539709}, {0.239346, 0.300855, 0.540844},
    {0.237441, 0.305202, 0.541921}, {0.235526, 0.309527, 0.542944}, {0.233603, 0.313828, 0.543914},
    {0.231674, 0.318106, 0.544834}, {0.229739, 0.322361, 0.545706}, {0.227802, 0.326594, 0.546532},
    {0.225863, 0.330805, 0.547314}, {0.223925, 0.334994, 0.548053}, {0.221989, 0.339161, 0.548752},
    {0.220057, 0.343307, 0.549413}, {0.218130, 0.347432, 0.550038}, {0.216210, 0.351535, 0.550627},
    {0.214298, 0.355619, 0.551184}, {0.212395, 0.359683, 0.551710}, {0.210503, 0.363727, 0.552206},
    {0.208623, 0.367752, 0.552675}, {0.206756, 0.371758, 0.553117}, {0.204903, 0.375746, 0.553533},
    {0.203063, 0.379716, 0.553925}, {0.201239, 0.383670, 0.554294}, {0.199430, 0.387607, 0.554642},
    {0.197636, 0.391528, 0.554969}, {0.195860, 0.395433, 0.555276}, {0.194100, 0.399323, 0.555565},
    {0.192357, 0.403199, 0.555836}, {0.190631, 0.407061, 0.556089}, {0.188923, 0.410910, 0.556326},
    {0.187231, 0.414746, 0.556547}, {0.185556, 0.418570, 0.556753}, {0.183898, 0.422383, 0.556944},
    {0.182256, 0.426184, 0.557120}, {0.180629, 0.429975, 0.557282}, {0.179019, 0.433756, 0.557430},
    {0.177423, 0.437527, 0.557565}, {0.175841, 0.441290, 0.557685}, {0.174274, 0.445044, 0.557792},
    {0.172719, 0.448791, 0.557885}, {0.171176, 0.452530, 0.557965}, {0.169646, 0.456262, 0.558030},
    {0.168126, 0.459988, 0.558082}, {0.166617, 0.463708, 0.558119}, {0.165117, 0.467423, 0.558141},
    {0.163625, 0.471133, 0.558148}, {0.162142, 0.474838, 0.558140}, {0.160665, 0.478540, 0.558115},
    {0.159194, 0.482237, 0.558073}, {0.157729, 0.485932, 0.558013}, {0.156270, 0.489624, 0.557936},
    {0.154815, 0.493313, 0.557840}, {0.153364, 0.497000, 0.557724}, {0.151918, 0.500685, 0.557587},
    {0.150476, 0.504369, 0.557430}, {0.149039, 0.508051, 0.557250}, {0.147607, 0.511733, 0.557049},
    {0.146180, 0.515413, 0.556823}, {0.144759, 0.519093, 0.556572}, {0.143343, 0.522773, 0.556295},
    {0.141935, 0.526453, 0.555991}, {0.140536, 0.530132, 0.555659}, {0.139147, 0.533812, 0.555298},
    {0.137770, 0.537492, 0.554906}, {0.136408, 0.541173, 0.554483}, {0.135066, 0.544853, 0.554029},
    {0.133743, 0.548535, 0.553541}, {0.132444, 0.552216, 0.553018}, {0.131172, 0.555899, 0.552459},
    {0.129933, 0.559582, 0.551864}, {0.128729, 0.563265, 0.551229}, {0.127568, 0.566949, 0.550556},
    {0.126453, 0.570633, 0.549841}, {0.125394, 0.574318, 0.549086}, {0.124395, 0.578002, 0.548287},
    {0.123463, 0.581687, 0.547445}, {0.122606, 0.585371, 0.546557}, {0.121831, 0.589055, 0.545623},
    {0.121148, 0.592739, 0.544641}, {0.120565, 0.596422, 0.543611}, {0.120092, 0.600104, 0.542530},
    {0.119738, 0.603785, 0.541400}, {0.119512, 0.607464, 0.540218}, {0.119423, 0.611141, 0.538982},
    {0.119483, 0.614817, 0.537692}, {0.119699, 0.618490, 0.536347}, {0.120081, 0.622161, 0.534946},
    {0.120638, 0.625828, 0.533488}, {0.121380, 0.629492, 0.531973}, {0.122312, 0.633153, 0.530398},
    {0.123444, 0.636809, 0.528763}, {0.124780, 0.640461, 0.527068}, {0.126326, 0.644107, 0.525311},
    {0.128087, 0.647749, 0.523491}, {0.130067, 0.651384, 0.521608}, {0.132268, 0.655014, 0.519661},
    {0.134692, 0.658636, 0.517649}, {0.137339, 0.662252, 0.515571}, {0.140210, 0.665859, 0.513427},
    {0.143303, 0.669459, 0.511215}, {0.146616, 0.673050, 0.508936}, {0.150148, 0.676631, 0.506589},
    {0.153894, 0.680203, 0.504172}, {0.157851, 0.683765, 0.501686}, {0.162016, 0.687316, 0.499129},
    {0.166383, 0.690856, 0.496502}, {0.170948, 0.694384, 0.493803}, {0.175707, 0.697900, 0.491033},
    {0.180653, 0.701402, 0.488189}, {0.185783, 0.704891, 0.485273}, {0.191090, 0.708366, 0.482284},
    {0.196571, 0.711827, 0.479221}, {0.202219, 0.715272, 0.476084}, {0.208030, 0.718701, 0.472873},
    {0.214000, 0.722114, 0.469588}, {0.220124, 0.725509, 0.466226}, {0.226397, 0.728888, 0.462789},
    {0.232815, 0.732247, 0.459277}, {0.239374, 0.735588, 0.455688}, {0.246070, 0.738910, 0.452024},
    {0.252899, 0.742211, 0.448284}, {0.259857, 0.745492, 0.444467}, {0.266941, 0.748751, 0.440573},
    {0.274149, 0.751988, 0.436601}, {0.281477, 0.755203, 0.432552}, {0.288921, 0.758394, 0.428426},
    {0.296479, 0.761561, 0.424223}, {0.304148, 0.764704, 0.419943}, {0.311925, 0.767822, 0.415586},
    {0.319809, 0.770914, 0.411152}, {0.327796, 0.773980, 0.406640}, {0.335885, 0.777018, 0.402049},
    {0.344074, 0.780029, 0.397381}, {0.352360, 0.783011, 0.392636}, {0.360741, 0.785964, 0.387814},
    {0.369214, 0.788888, 0.382914}, {0.377779, 0.791781, 0.377939}, {0.386433, 0.794644, 0.372886},
    {0.395174, 0.797475, 0.367757}, {0.404001, 0.800275, 0.362552}, {0.412913, 0.803041, 0.357269},
    {0.421908, 0.805774, 0.351910}, {0.430983, 0.808473, 0.346476}, {0.440137, 0.811138, 0.340967},
    {0.449368, 0.813768, 0.335384}, {0.458674, 0.816363, 0.329727}, {0.468053, 0.818921, 0.323998},
    {0.477504, 0.821444, 0.318195}, {0.487026, 0.823929, 0.312321}, {0.496615, 0.826376, 0.306377},
    {0.506271, 0.828786, 0.300362}, {0.515992, 0.831158, 0.294279}, {0.525776, 0.833491, 0.288127},
    {0.535621, 0.835785, 0.281908}, {0.545524, 0.838039, 0.275626}, {0.555484, 0.840254, 0.269281},
    {0.565498, 0.842430, 0.262877}, {0.575563, 0.844566, 0.256415}, {0.585678, 0.846661, 0.249897},
    {0.595839, 0.848717, 0.243329}, {0.606045, 0.850733, 0.236712}, {0.616293, 0.852709, 0.230052},
    {0.626579, 0.854645, 0.223353}, {0.636902, 0.856542, 0.216620}, {0.647257, 0.858400, 0.209861},
    {0.657642, 0.860219, 0.203082}, {0.668054, 0.861999, 0.196293}, {0.678489, 0.863742, 0.189503},
    {0.688944, 0.865448, 0.182725}, {0.699415, 0.867117, 0.175971}, {0.709898, 0.868751, 0.169257},
    {0.720391, 0.870350, 0.162603}, {0.730889, 0.871916, 0.156029}, {0.741388, 0.873449, 0.149561},
    {0.751884, 0.874951, 0.143228}, {0.762373, 0.876424, 0.137064}, {0.772852, 0.877868, 0.131109},
    {0.783315, 0.879285, 0.125405}, {0.793760, 0.880678, 0.120005}, {0.804182, 0.882046, 0.114965},
    {0.814576, 0.883393, 0.110347}, {0.824940, 0.884720, 0.106217}, {0.835270, 0.886029, 0.102646},
    {0.845561, 0.887322, 0.099702}, {0.855810, 0.888601, 0.097452}, {0.866013, 0.889868, 0.095953},
    {0.876168, 0.891125, 0.095250}, {0.886271, 0.892374, 0.095374}, {0.896320, 0.893616, 0.096335},
    {0.906311, 0.894855, 0.098125}, {0.916242, 0.896091, 0.100717}, {0.926106, 0.897330, 0.104071},
    {0.935904, 0.898570, 0.108131}, {0.945636, 0.899815, 0.112838}, {0.955300, 0.901065, 0.118128},
    {0.964894, 0.902323, 0.123941}, {0.974417, 0.903590, 0.130215}, {0.983868, 0.904867, 0.136897},
    {0.993248, 0.906157, 0.143936},
};
static_assert(sizeof(kViridis) / sizeof(kViridis[0]) == 256, "viridis has 256 entries");

// 5x8 glyphs for printable ASCII, rows top to bottom, '#' = ink: capitals and digits use rows 0-6,
// row 7 holds the descenders of g, j, p, q, y (without it a lowercase p reads as P). Kept as
// pictures so a glyph can be read and mended in place.
constexpr int kGlyphW = 5, kGlyphH = 8, kAdvance = 6;
struct Glyph {
  char c;
  const char* rows;  // 8 groups of 5, separated by spaces
};
constexpr Glyph kFont[] = {
    {' ', "..... ..... ..... ..... ..... ..... ..... ....."},
    {'!', "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#.. ....."},
    {'"', ".#.#. .#.#. .#.#. ..... ..... ..... ..... ....."},
    {'#', ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#. ....."},
    {'$', "..#.. .#### #.#.. .###. ..#.# ####. ..#.. ....."},
    {'%', "##... ##..# ...#. ..#.. .#... #..## ...## ....."},
    {'&', ".##.. #..#. #.#.. .#... #.#.# #..#. .##.# ....."},
    {'\'', "..#.. ..#.. .#... ..... ..... ..... ..... ....."},
    {'(', "...#. ..#.. .#... .#... .#... ..#.. ...#. ....."},
    {')', ".#... ..#.. ...#. ...#. ...#. ..#.. .#... ....."},
    {'*', "..... ..#.. #.#.# .###. #.#.# ..#.. ..... ....."},
    {'+', "..... ..#.. ..#.. ##### ..#.. ..#.. ..... ....."},
    {',', "..... ..... ..... ..... .##.. ..#.. .#... ....."},
    {'-', "..... ..... ..... ##### ..... ..... ..... ....."},
    {'.', "..... ..... ..... ..... ..... .##.. .##.. ....."},
    {'/', "..... ....# ...#. ..#.. .#... #.... ..... ....."},
    {'0', ".###. #...# #..## #.#.# ##..# #...# .###. ....."},
    {'1', "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###. ....."},
    {'2', ".###. #...# ....# ...#. ..#.. .#... ##### ....."},
    {'3', "##### ...#. ..#.. ...#. ....# #...# .###. ....."},
    {'4', "...#. ..##. .#.#. #..#. ##### ...#. ...#. ....."},
    {'5', "##### #.... ####. ....# ....# #...# .###. ....."},
    {'6', "..##. .#... #.... ####. #...# #...# .###. ....."},
    {'7', "##### ....# ...#. ..#.. .#... .#... .#... ....."},
    {'8', ".###. #...# #...# .###. #...# #...# .###. ....."},
    {'9', ".###. #...# #...# .#### ....# ...#. .##.. ....."},
    {':', "..... .##.. .##.. ..... .##.. .##.. ..... ....."},
    {';', "..... .##.. .##.. ..... .##.. ..#.. .#... ....."},
    {'<', "...#. ..#.. .#... #.... .#... ..#.. ...#. ....."},
    {'=', "..... ..... ##### ..... ##### ..... ..... ....."},
    {'>', ".#... ..#.. ...#. ....# ...#. ..#.. .#... ....."},
    {'?', ".###. #...# ....# ...#. ..#.. ..... ..#.. ....."},
    {'@', ".###. #...# ....# .##.# #.#.# #.#.# .###. ....."},
    {'A', ".###. #...# #...# ##### #...# #...# #...# ....."},
    {'B', "####. #...# #...# ####. #...# #...# ####. ....."},
    {'C', ".###. #...# #.... #.... #.... #...# .###. ....."},
    {'D', "###.. #..#. #...# #...# #...# #..#. ###.. ....."},
    {'E', "##### #.... #.... ####. #.... #.... ##### ....."},
    {'F', "##### #.... #.... ####. #.... #.... #.... ....."},
    {'G', ".###. #...# #.... #.### #...# #...# .#### ....."},
    {'H', "#...# #...# #...# ##### #...# #...# #...# ....."},
    {'I', ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###. ....."},
    {'J', "..### ...#. ...#. ...#. ...#. #..#. .##.. ....."},
    {'K', "#...# #..#. #.#.. ##... #.#.. #..#. #...# ....."},
    {'L', "#.... #.... #.... #.... #.... #.... ##### ....."},
    {'M', "#...# ##.## #.#.# #.#.# #...# #...# #...# ....."},
    {'N', "#...# #...# ##..# #.#.# #..## #...# #...# ....."},
    {'O', ".###. #...# #...# #...# #...# #...# .###. ....."},
    {'P', "####. #...# #...# ####. #.... #.... #.... ....."},
    {'Q', ".###. #...# #...# #...# #.#.# #..#. .##.# ....."},
    {'R', "####. #...# #...# ####. #.#.. #..#. #...# ....."},
    {'S', ".#### #.... #.... .###. ....# ....# ####. ....."},
    {'T', "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ....."},
    {'U', "#...# #...# #...# #...# #...# #...# .###. ....."},
    {'V', "#...# #...# #...# #...# #...# .#.#. ..#.. ....."},
    {'W', "#...# #...# #...# #.#.# #.#.# #.#.# .#.#. ....."},
    {'X', "#...# #...# .#.#. ..#.. .#.#. #...# #...# ....."},
    {'Y', "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#.. ....."},
    {'Z', "##### ....# ...#. ..#.. .#... #.... ##### ....."},
    {'[', ".###. .#... .#... .#... .#... .#... .###. ....."},
    {'\\', "..... #.... .#... ..#.. ...#. ....# ..... ....."},
    {']', ".###. ...#. ...#. ...#. ...#. ...#. .###. ....."},
    {'^', "..#.. .#.#. #...# ..... ..... ..... ..... ....."},
    {'_', "..... ..... ..... ..... ..... ..... ##### ....."},
    {'`', ".#... ..#.. ...#. ..... ..... ..... ..... ....."},
    {'a', "..... ..... .###. ....# .#### #...# .#### ....."},
    {'b', "#.... #.... #.##. ##..# #...# #...# ####. ....."},
    {'c', "..... ..... .###. #.... #.... #...# .###. ....."},
    {'d', "....# ....# .##.# #..## #...# #...# .#### ....."},
    {'e', "..... ..... .###. #...# ##### #.... .###. ....."},
    {'f', "..##. .#..# .#... ###.. .#... .#... .#... ....."},
    {'g', "..... ..... .#### #...# #...# .#### ....# .###."},
    {'h', "#.... #.... #.##. ##..# #...# #...# #...# ....."},
    {'i', "..#.. ..... .##.. ..#.. ..#.. ..#.. .###. ....."},
    {'j', "...#. ..... ..##. ...#. ...#. ...#. #..#. .##.."},
    {'k', "#.... #.... #..#. #.#.. ##... #.#.. #..#. ....."},
    {'l', ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###. ....."},
    {'m', "..... ..... ##.#. #.#.# #.#.# #...# #...# ....."},
    {'n', "..... ..... #.##. ##..# #...# #...# #...# ....."},
    {'o', "..... ..... .###. #...# #...# #...# .###. ....."},
    {'p', "..... ..... ####. #...# #...# ####. #.... #...."},
    {'q', "..... ..... .#### #...# #...# .#### ....# ....#"},
    {'r', "..... ..... #.##. ##..# #.... #.... #.... ....."},
    {'s', "..... ..... .###. #.... .###. ....# ####. ....."},
    {'t', ".#... .#... ###.. .#... .#... .#..# ..##. ....."},
    {'u', "..... ..... #...# #...# #...# #..## .##.# ....."},
    {'v', "..... ..... #...# #...# #...# .#.#. ..#.. ....."},
    {'w', "..... ..... #...# #...# #.#.# #.#.# .#.#. ....."},
    {'x', "..... ..... #...# .#.#. ..#.. .#.#. #...# ....."},
    {'y', "..... ..... #...# #...# #...# .#### ....# .###."},
    {'z', "..... ..... ##### ...#. ..#.. .#... ##### ....."},
    {'{', "...#. ..#.. ..#.. .#... ..#.. ..#.. ...#. ....."},
    {'|', "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ....."},
    {'}', ".#... ..#.. ..#.. ...#. ..#.. ..#.. .#... ....."},
    {'~', "..... ..... .#... #.#.# ...#. ..... ..... ....."},
};
static_assert(sizeof(kFont) / sizeof(kFont[0]) == 95, "one glyph per printable ASCII character");
constexpr bool font_well_formed() {
  for (const Glyph& g : kFont) {
    int n = 0;
    while (g.rows[n] != '\0') ++n;
    if (n != kGlyphH * (kGlyphW + 1) - 1) return false;
  }
  return true;
}
static_assert(font_well_formed(), "every glyph has 8 rows of 5");

// Row bitmasks (bit 4 = leftmost column) of each printable character, index c - ' '.
using GlyphBits = std::array<uint8_t, kGlyphH>;
const std::array<GlyphBits, 95>& glyph_bits() {
  static const std::array<GlyphBits, 95> bits = [] {
    std::array<GlyphBits, 95> out{};
    for (const Glyph& g : kFont) {
      GlyphBits b{};
      for (int row = 0; row < kGlyphH; ++row)
        for (int col = 0; col < kGlyphW; ++col)
          if (g.rows[row * (kGlyphW + 1) + col] == '#') b[row] |= static_cast<uint8_t>(1u << (kGlyphW - 1 - col));
      out[static_cast<size_t>(g.c - ' ')] = b;
    }
    return out;
  }();
  return bits;
}

const GlyphBits& glyph(char c) {
  if (c < ' ' || c > '~') c = '?';
  return glyph_bits()[static_cast<size_t>(c - ' ')];
}

}  // namespace

const std::array<Rgb, 256>& viridis_table() {
  static const std::array<Rgb, 256> table = [] {
    std::array<Rgb, 256> t{};
    // Truncation, as matplotlib's `(lut * 255).astype(np.uint8)`, so a pixel equals what
    // matplotlib would give for the same index.
    auto byte = [](double v) { return static_cast<uint8_t>(v * 255.0); };
    for (size_t i = 0; i < 256; ++i) t[i] = {byte(kViridis[i][0]), byte(kViridis[i][1]), byte(kViridis[i][2])};
    return t;
  }();
  return table;
}

int colour_index(double value, double vmin, double vmax) {
  if (std::isnan(value)) return -1;
  if (!(vmax > vmin)) return value > vmin ? 255 : 0;  // a degenerate scale: matplotlib maps to 0
  const double t = (value - vmin) / (vmax - vmin) * 256.0;
  if (t < 0) return 0;
  if (t >= 255) return 255;
  return static_cast<int>(t);
}

Rgb viridis(double value, double vmin, double vmax) {
  const int i = colour_index(value, vmin, vmax);
  return i < 0 ? kMissing : viridis_table()[static_cast<size_t>(i)];
}

Rgb series_colour(size_t i) {
  // Okabe & Ito (2008), yellow last: it is faint on white.
  static constexpr Rgb kPalette[] = {{0, 114, 178},  {213, 94, 0},    {0, 158, 115}, {204, 121, 167},
                                     {230, 159, 0},  {86, 180, 233},  {0, 0, 0},     {240, 228, 66}};
  return kPalette[i % (sizeof(kPalette) / sizeof(kPalette[0]))];
}

// ---- canvas -------------------------------------------------------------------------------------

Canvas::Canvas(int width, int height, Rgb background) : width_(width), height_(height) {
  MIXHIC_REQUIRE(width > 0 && height > 0 && width <= 1 << 15 && height <= 1 << 15,
                 "figure: canvas {} x {} pixels: expected each side in [1, 32768]", width, height);
  pixels_.assign(static_cast<size_t>(width) * height, background);
}

void Canvas::set(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
  pixels_[static_cast<size_t>(y) * width_ + x] = c;
}

void Canvas::fill_rect(int x, int y, int w, int h, Rgb c) {
  const int x0 = std::max(x, 0), y0 = std::max(y, 0);
  const int x1 = std::min(x + w, width_), y1 = std::min(y + h, height_);
  for (int yy = y0; yy < y1; ++yy)
    std::fill(pixels_.begin() + static_cast<std::ptrdiff_t>(yy) * width_ + x0,
              pixels_.begin() + static_cast<std::ptrdiff_t>(yy) * width_ + x1, c);
}

void Canvas::rect_outline(int x, int y, int w, int h, Rgb c) {
  fill_rect(x, y, w, 1, c);
  fill_rect(x, y + h - 1, w, 1, c);
  fill_rect(x, y, 1, h, c);
  fill_rect(x + w - 1, y, 1, h, c);
}

void Canvas::line(int x0, int y0, int x1, int y1, Rgb c, int thickness) {
  const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
  const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  const int lo = -(thickness - 1) / 2;  // brush offsets lo .. lo + thickness - 1
  int err = dx + dy;
  while (true) {
    fill_rect(x0 + lo, y0 + lo, thickness, thickness, c);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}

int Canvas::text_width(const std::string& s, int scale) {
  return s.empty() ? 0 : (static_cast<int>(s.size()) * kAdvance - 1) * scale;
}

void Canvas::text(int x, int y, const std::string& s, Rgb c, int scale) {
  for (size_t k = 0; k < s.size(); ++k) {
    const GlyphBits& g = glyph(s[k]);
    const int gx = x + static_cast<int>(k) * kAdvance * scale;
    for (int row = 0; row < kGlyphH; ++row)
      for (int col = 0; col < kGlyphW; ++col)
        if (g[row] & (1u << (kGlyphW - 1 - col))) fill_rect(gx + col * scale, y + row * scale, scale, scale, c);
  }
}

void Canvas::text_vertical(int x, int y, const std::string& s, Rgb c, int scale) {
  // Rotating counter-clockwise sends glyph (col, row) to (row, -col): the string runs upwards
  // from the bottom of its box, whose height is the horizontal text's width.
  const int bottom = y + text_width(s, scale) - 1;
  for (size_t k = 0; k < s.size(); ++k) {
    const GlyphBits& g = glyph(s[k]);
    const int gy = bottom - static_cast<int>(k) * kAdvance * scale;
    for (int row = 0; row < kGlyphH; ++row)
      for (int col = 0; col < kGlyphW; ++col)
        if (g[row] & (1u << (kGlyphW - 1 - col)))
          fill_rect(x + row * scale, gy - (col + 1) * scale + 1, scale, scale, c);
  }
}

namespace {
// libpng reports errors by longjmp, so this frame holds only what survives one; returns the
// libpng message, empty on success.
std::string encode_png(FILE* fp, int width, int height, const std::vector<png_bytep>& rows,
                       const std::string& title) {
  static thread_local char message[256];
  message[0] = '\0';
  png_structp png = png_create_write_struct(
      PNG_LIBPNG_VER_STRING, nullptr,
      [](png_structp p, png_const_charp msg) {
        std::snprintf(message, sizeof message, "%s", msg);
        png_longjmp(p, 1);
      },
      nullptr);
  if (!png) return "cannot create a libpng writer";
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, info ? &info : nullptr);
    return message[0] ? message : "libpng failed";
  }
  png_init_io(png, fp);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_text text[2] = {};
  char software_key[] = "Software", software[] = "mixhic-eval", title_key[] = "Title";
  text[0].compression = PNG_TEXT_COMPRESSION_NONE;
  text[0].key = software_key;
  text[0].text = software;
  text[1].compression = PNG_TEXT_COMPRESSION_NONE;
  text[1].key = title_key;
  text[1].text = const_cast<char*>(title.c_str());
  png_set_text(png, info, text, title.empty() ? 1 : 2);
  png_write_info(png, info);
  png_write_image(png, const_cast<png_bytepp>(rows.data()));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return "";
}
}  // namespace

void Canvas::write_png(const std::string& path, const std::string& title) const {
  static_assert(sizeof(Rgb) == 3, "rows are passed to libpng as packed RGB");
  std::vector<png_bytep> rows(static_cast<size_t>(height_));
  for (int y = 0; y < height_; ++y)
    rows[y] = reinterpret_cast<png_bytep>(const_cast<Rgb*>(pixels_.data() + static_cast<size_t>(y) * width_));
  const std::string tmp = path + ".tmp";
  FILE* fp = std::fopen(tmp.c_str(), "wb");
  if (!fp) throw Error(fmt::format("{}: cannot create {}: {}", path, tmp, std::strerror(errno)));
  std::string failure = encode_png(fp, width_, height_, rows, title);
  if (std::fclose(fp) != 0 && failure.empty()) failure = std::strerror(errno);
  if (failure.empty() && std::rename(tmp.c_str(), path.c_str()) != 0)
    failure = fmt::format("cannot rename from {}: {}", tmp, std::strerror(errno));
  if (!failure.empty()) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw Error(fmt::format("{}: writing PNG failed: {}", path, failure));
  }
}

// ---- axes and plots -----------------------------------------------------------------------------

namespace {

constexpr int kScale = 2;        // text scale of labels and ticks (10 x 14 pixel characters)
constexpr int kTitleScale = 3;   // text scale of titles
constexpr int kMargin = 20;
constexpr int kTickLength = 5;
constexpr int kCapHeight = 7 * kScale;  // digits and capitals: centring tick labels on their tick
constexpr Rgb kGrid{225, 225, 225};
constexpr Rgb kFrame{110, 110, 110};

// The "nice" step (1, 2 or 5 x 10^k) at least `raw`.
double nice_step(double raw) {
  const double base = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / base;
  return (f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10) * base;
}

struct Ticks {
  double step = 1;
  std::vector<double> values;
};

// Multiples of a nice step inside [lo, hi], about `n` intervals of it.
Ticks ticks(double lo, double hi, int n) {
  Ticks t;
  t.step = nice_step((hi - lo) / std::max(n, 1));
  const double first = std::ceil(lo / t.step - 1e-9);
  for (int k = 0;; ++k) {
    const double v = (first + k) * t.step;
    if (v > hi + t.step * 1e-9) break;
    t.values.push_back(v);
  }
  return t;
}

std::string with_separators(long long v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t k = 0; k < digits.size(); ++k) {
    if (k > 0 && (digits.size() - k) % 3 == 0) out += ',';
    out += digits[k];
  }
  return (v < 0 ? "-" : "") + out;
}

// As many decimals as the step needs; integers get thousands separators (genomic positions).
std::string format_tick(double v, double step) {
  if (std::abs(v) < step * 1e-6) v = 0;
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  if (decimals == 0 && std::abs(v) < 1e15) return with_separators(std::llround(v));
  if (decimals > 6) return fmt::format("{:.3g}", v);
  return fmt::format("{:.{}f}", v, decimals);
}

int max_label_width(const Ticks& t) {
  int w = 0;
  for (double v : t.values) w = std::max(w, Canvas::text_width(format_tick(v, t.step), kScale));
  return w;
}

}  // namespace

MapPairLayout write_map_pair_png(const std::string& path, const std::vector<double>& true_map,
                                 const std::vector<double>& pred_map, int64_t W,
                                 const std::string& title, double vmin, double vmax,
                                 const std::string& value_label) {
  MIXHIC_REQUIRE(W > 0 && W <= 4096 && true_map.size() == static_cast<size_t>(W * W) &&
                     pred_map.size() == true_map.size(),
                 "figure {}: expected two {} x {} maps (got {} and {} values)", path, W, W,
                 true_map.size(), pred_map.size());
  MIXHIC_REQUIRE(std::isfinite(vmin) && std::isfinite(vmax) && vmin < vmax,
                 "figure {}: colour scale [{}, {}]: expected finite vmin < vmax", path, vmin, vmax);
  MapPairLayout L;
  L.cell = W <= 64 ? 8 : std::max(1, static_cast<int>(512 / W));
  const int M = static_cast<int>(W) * L.cell;
  const int label_y = kMargin + Canvas::text_height(kTitleScale) + 14;
  L.top = label_y + Canvas::text_height(kScale) + 10;
  L.true_x = kMargin;
  L.pred_x = L.true_x + M + 40;
  L.colorbar_x = L.pred_x + M + 40;
  L.colorbar_width = 20;
  const Ticks bar_ticks = ticks(vmin, vmax, 5);
  const int labels_x = L.colorbar_x + L.colorbar_width + kTickLength + 5;
  int right = labels_x + max_label_width(bar_ticks);
  if (!value_label.empty()) right += 12 + Canvas::text_height(kScale);
  L.width = std::max(right + kMargin, Canvas::text_width(title, kTitleScale) + 2 * kMargin);
  L.height = L.top + M + kMargin;

  Canvas c(L.width, L.height);
  c.text((L.width - Canvas::text_width(title, kTitleScale)) / 2, kMargin, title, kBlack, kTitleScale);
  const std::pair<int, const std::vector<double>*> maps[] = {{L.true_x, &true_map}, {L.pred_x, &pred_map}};
  const char* names[] = {"true", "predicted"};
  for (int m = 0; m < 2; ++m) {
    const int x = maps[m].first;
    const std::vector<double>& map = *maps[m].second;
    c.text(x + (M - Canvas::text_width(names[m], kScale)) / 2, label_y, names[m], kBlack, kScale);
    for (int64_t i = 0; i < W; ++i)
      for (int64_t j = 0; j < W; ++j)
        c.fill_rect(x + static_cast<int>(j) * L.cell, L.top + static_cast<int>(i) * L.cell, L.cell, L.cell,
                    viridis(map[i * W + j], vmin, vmax));
    c.rect_outline(x - 1, L.top - 1, M + 2, M + 2, kFrame);
  }

  // Colorbar: the whole table, entry 255 on the top row down to entry 0 on the bottom one.
  for (int r = 0; r < M; ++r) {
    const int entry = M > 1 ? (M - 1 - r) * 255 / (M - 1) : 255;
    c.fill_rect(L.colorbar_x, L.top + r, L.colorbar_width, 1, viridis_table()[static_cast<size_t>(entry)]);
  }
  c.rect_outline(L.colorbar_x - 1, L.top - 1, L.colorbar_width + 2, M + 2, kFrame);
  for (double v : bar_ticks.values) {
    const int y = std::clamp(L.top + M - static_cast<int>(std::lround((v - vmin) / (vmax - vmin) * M)), L.top, L.top + M - 1);
    c.fill_rect(L.colorbar_x + L.colorbar_width, y, kTickLength, 1, kBlack);
    c.text(labels_x, y - kCapHeight / 2, format_tick(v, bar_ticks.step), kBlack, kScale);
  }
  if (!value_label.empty()) {
    const int h = Canvas::text_width(value_label, kScale);
    c.text_vertical(right - Canvas::text_height(kScale), L.top + std::max(0, (M - h) / 2), value_label, kBlack, kScale);
  }
  c.write_png(path, title);
  return L;
}

int PlotLayout::px(double x) const {
  return left + static_cast<int>(std::lround((x - x0) / (x1 - x0) * (right - left)));
}
int PlotLayout::py(double y) const {
  return bottom - static_cast<int>(std::lround((y - y0) / (y1 - y0) * (bottom - top)));
}

PlotLayout write_curve_png(const std::string& path, const std::string& title, const std::string& x_label,
                           const std::string& y_label, const std::vector<Series>& series) {
  MIXHIC_REQUIRE(!series.empty(), "figure {}: expected at least one series", path);
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (const Series& s : series) {
    MIXHIC_REQUIRE(s.x.size() == s.y.size(), "figure {}: series '{}': expected as many x as y values (got {} and {})",
                   path, s.name, s.x.size(), s.y.size());
    for (size_t k = 0; k < s.x.size(); ++k) {
      if (!std::isfinite(s.x[k]) || !std::isfinite(s.y[k])) continue;
      xlo = std::min(xlo, s.x[k]);
      xhi = std::max(xhi, s.x[k]);
      ylo = std::min(ylo, s.y[k]);
      yhi = std::max(yhi, s.y[k]);
    }
  }
  MIXHIC_REQUIRE(xlo <= xhi, "figure {}: expected at least one finite point", path);
  PlotLayout L;
  if (xhi == xlo) {  // one x value: centre it
    xlo -= 0.5;
    xhi += 0.5;
  }
  const double ypad = yhi > ylo ? 0.05 * (yhi - ylo) : std::max(0.5, 0.1 * std::abs(yhi));
  L.x0 = xlo;
  L.x1 = xhi;
  L.y0 = ylo - ypad;
  L.y1 = yhi + ypad;

  const int plot_w = 640, plot_h = 400;
  const int th = Canvas::text_height(kScale);
  // Fewer ticks until the labels have room: wide genomic positions get fewer.
  Ticks xt, yt;
  for (int n = 8; n >= 1; --n) {
    xt = ticks(L.x0, L.x1, n);
    const double spacing = xt.step / (L.x1 - L.x0) * plot_w;
    if (max_label_width(xt) + 16 <= spacing || n == 1) break;
  }
  for (int n = 6; n >= 1; --n) {
    yt = ticks(L.y0, L.y1, n);
    if (th + 10 <= yt.step / (L.y1 - L.y0) * plot_h || n == 1) break;
  }
  L.left = kMargin + (y_label.empty() ? 0 : th + 10) + max_label_width(yt) + kTickLength + 5;
  L.top = kMargin + Canvas::text_height(kTitleScale) + 16;
  L.right = L.left + plot_w;
  L.bottom = L.top + plot_h;
  int legend_w = 0;
  for (const Series& s : series) legend_w = std::max(legend_w, Canvas::text_width(s.name, kScale));
  legend_w += 12 + 24 + 8 + 12;
  const int legend_x = L.right + 20, legend_h = 12 + static_cast<int>(series.size()) * (th + 10) + 2;
  L.width = std::max(legend_x + legend_w + kMargin, Canvas::text_width(title, kTitleScale) + 2 * kMargin);
  L.height = L.bottom + kTickLength + 5 + th + (x_label.empty() ? 0 : 12 + th) + kMargin;

  Canvas c(L.width, L.height);
  c.text(std::max(kMargin, L.left + (plot_w - Canvas::text_width(title, kTitleScale)) / 2), kMargin, title,
         kBlack, kTitleScale);
  for (double v : xt.values) {
    const int x = L.px(v);
    c.fill_rect(x, L.top, 1, plot_h, kGrid);
    c.fill_rect(x, L.bottom + 1, 1, kTickLength, kBlack);
    const std::string s = format_tick(v, xt.step);
    c.text(x - Canvas::text_width(s, kScale) / 2, L.bottom + kTickLength + 5, s, kBlack, kScale);
  }
  for (double v : yt.values) {
    const int y = L.py(v);
    c.fill_rect(L.left, y, plot_w, 1, kGrid);
    c.fill_rect(L.left - kTickLength - 1, y, kTickLength, 1, kBlack);
    const std::string s = format_tick(v, yt.step);
    c.text(L.left - kTickLength - 5 - Canvas::text_width(s, kScale), y - kCapHeight / 2, s, kBlack, kScale);
  }
  c.rect_outline(L.left - 1, L.top - 1, plot_w + 3, plot_h + 3, kBlack);
  if (!x_label.empty())
    c.text(L.left + (plot_w - Canvas::text_width(x_label, kScale)) / 2, L.bottom + kTickLength + 5 + th + 12, x_label,
           kBlack, kScale);
  if (!y_label.empty())
    c.text_vertical(kMargin, L.top + std::max(0, (plot_h - Canvas::text_width(y_label, kScale)) / 2), y_label,
                    kBlack, kScale);

  for (const Series& s : series) {
    const bool markers = s.x.size() <= 60;
    bool have_prev = false;
    int px0 = 0, py0 = 0;
    for (size_t k = 0; k < s.x.size(); ++k) {
      if (!std::isfinite(s.x[k]) || !std::isfinite(s.y[k])) {
        have_prev = false;
        continue;
      }
      const int x = L.px(s.x[k]), y = L.py(s.y[k]);
      if (have_prev) c.line(px0, py0, x, y, s.colour, 2);
      if (markers) c.fill_rect(x - 2, y - 2, 5, 5, s.colour);
      px0 = x;
      py0 = y;
      have_prev = true;
    }
  }

  c.rect_outline(legend_x, L.top, legend_w, legend_h, kFrame);
  for (size_t k = 0; k < series.size(); ++k) {
    const int y = L.top + 12 + static_cast<int>(k) * (th + 10);
    c.line(legend_x + 12, y + th / 2, legend_x + 36, y + th / 2, series[k].colour, 3);
    c.text(legend_x + 44, y, series[k].name, kBlack, kScale);
  }
  c.write_png(path, title);
  return L;
}

}  // namespace mixhic::figure
