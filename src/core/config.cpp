#include "mixhic/config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "mixhic/check.hpp"
#include "mixhic/task.hpp"

namespace mixhic {

namespace {
std::string value_text(const boost::any& v) {
  if (auto p = boost::any_cast<std::string>(&v)) return *p;
  if (auto p = boost::any_cast<int64_t>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<int>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<uint64_t>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<double>(&v)) return fmt::format("{}", *p);
  if (auto p = boost::any_cast<bool>(&v)) return *p ? "true" : "false";
  if (auto p = boost::any_cast<Task>(&v)) return name_of(*p);
  return "?";
}
// Boost.Program_options' error messages substitute %name%-style placeholders (%canonical_option%,
// %value%, %invalid_line%, ...) in a loop that never ends when the substituted text holds the same
// placeholder (found by tests/fuzz/fuzz_text, twice): a config line with any %word% is refused
// before Boost sees it, whatever placeholders this Boost version has. Rewinds `in`.
void refuse_placeholders(std::istream& in, const std::string& file) {
  static const std::regex placeholder("%[A-Za-z_]+%");
  std::string line;
  std::smatch m;
  for (int64_t n = 1; std::getline(in, line); ++n)
    if (std::regex_search(line, m, placeholder))
      throw InputFormatError(file, fmt::format("line {}", n),
                             "no %word% in a config line (Boost.Program_options' placeholders)",
                             fmt::format("'{}' in '{}'", m.str(), line.substr(0, 80)));
  in.clear();
  in.seekg(0);
}

}  // namespace

ParsedOptions parse_options(int argc, char** argv, int first, const po::options_description& table) {
  po::options_description all;
  all.add(table);
  po::options_description meta("Generic");
  meta.add_options()("config", po::value<std::vector<std::string>>()->composing(),
                     "INI config file (repeatable; command line overrides)")(
      "help,h", "print this help and exit");
  all.add(meta);

  ParsedOptions out;
  try {
    // The vector form: the argc/argv form would take the first token as the program name.
    std::vector<std::string> args(argv + std::min(first, argc), argv + argc);
    auto parsed = po::command_line_parser(args)
                      .options(all)
                      .allow_unregistered()
                      .run();
    for (auto& o : parsed.options) {
      if (o.unregistered) {
        if (o.position_key >= 0 || o.string_key.empty()) {
          for (auto& t : o.original_tokens) out.positional.push_back(t);
        } else {
          throw ConfigError(fmt::format("unknown option '--{}' (see --help)", o.string_key));
        }
      } else if (o.position_key >= 0) {
        for (auto& t : o.original_tokens) out.positional.push_back(t);
      }
    }
    // Positional tokens were collected above; drop them before storing.
    std::vector<po::option> known;
    for (auto& o : parsed.options)
      if (!o.unregistered && o.position_key < 0) known.push_back(o);
    parsed.options = known;
    po::store(parsed, out.vm);
  } catch (const po::error& e) {
    throw ConfigError(fmt::format("command line: {}", e.what()));
  }
  out.help = out.vm.count("help") > 0;
  if (out.vm.count("config")) out.config_files = out.vm["config"].as<std::vector<std::string>>();
  for (const auto& file : out.config_files) {
    std::ifstream in(file);
    if (!in) throw ConfigError(fmt::format("{}: cannot open config file", file));
    refuse_placeholders(in, file);
    try {
      po::store(po::parse_config_file(in, table, /*allow_unregistered=*/false), out.vm);
    } catch (const po::error& e) {
      throw ConfigError(fmt::format("{}: {}", file, e.what()));
    }
  }
  if (!out.help) {
    try {
      po::notify(out.vm);
    } catch (const po::error& e) {
      throw ConfigError(e.what());
    }
  }
  return out;
}

void print_help(const std::string& usage, const po::options_description& table) {
  std::cout << usage << "\n\n" << table << "\n"
            << "  --config FILE     INI config file (repeatable; the command line overrides it)\n"
            << "  -h [ --help ]     print this help and exit\n";
}

std::string render_ini(const po::variables_map& vm, const po::options_description& table) {
  std::ostringstream out;
  for (const auto& opt : table.options()) {
    const std::string& key = opt->long_name();
    auto it = vm.find(key);
    if (it == vm.end() || it->second.empty()) continue;
    const boost::any& v = it->second.value();
    if (auto list = boost::any_cast<std::vector<std::string>>(&v)) {
      for (auto& item : *list) out << key << " = " << item << "\n";
    } else {
      out << key << " = " << value_text(v) << "\n";
    }
  }
  return out.str();
}

std::string command_line(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    bool plain = !a.empty() && a.find_first_of(" \t'\"$\\;&|<>()*?") == std::string::npos;
    if (i) s += ' ';
    s += plain ? a : "'" + a + "'";
  }
  return s;
}

std::vector<std::string> split_list(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, sep)) {
    auto b = item.find_first_not_of(" \t");
    auto e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

}  // namespace mixhic
