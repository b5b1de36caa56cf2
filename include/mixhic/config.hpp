// config.hpp — one option table per binary: it parses INI config files and the command line and
// prints --help, so usage text and parser cannot drift apart.
//
// Rules every mixhic binary follows:
//  * `--config FILE` may be given several times; later files add to earlier ones;
//  * the command line overrides config files; repeatable keys (e.g. `cell`) accumulate;
//  * an unknown key, in a file or on the command line, is a ConfigError naming it (and the file);
//  * rank 0 logs the resolved config (render_ini) and the binary stores it with its output.
#pragma once

#include <boost/program_options.hpp>

#include <string>
#include <vector>

namespace mixhic {

namespace po = boost::program_options;

struct ParsedOptions {
  po::variables_map vm;
  std::vector<std::string> config_files;
  std::vector<std::string> positional;  // arguments that are not options (e.g. a sub-command)
  bool help = false;
};

// Parses argv (starting at argv[first]) and every --config file against `table`.
// Throws ConfigError on unknown keys or bad values.
ParsedOptions parse_options(int argc, char** argv, int first, const po::options_description& table);

// Prints "usage" and the table to stdout.
void print_help(const std::string& usage, const po::options_description& table);

// The resolved configuration as INI text, one `key = value` line per option (repeatable keys
// once per value), in table order. Paths are printed as given.
std::string render_ini(const po::variables_map& vm, const po::options_description& table);

// The whole command line, shell-quoted where needed, for provenance.
std::string command_line(int argc, char** argv);

// Splits "a,b, c" into {"a","b","c"} (empty items dropped).
std::vector<std::string> split_list(const std::string& text, char sep = ',');

}  // namespace mixhic
