#include "mixhic/task.hpp"

#include <fmt/format.h>

#include "mixhic/check.hpp"

namespace mixhic {

const char* name_of(SampleSource s) {
  switch (s) {
    case SampleSource::tiles: return "tiles";
    case SampleSource::loops: return "loops";
    case SampleSource::tss: return "tss";
  }
  return "?";
}

const char* name_of(Task t) {
  switch (t) {
    case Task::none: return "none";
    case Task::hic_map: return "hic_map";
    case Task::loop: return "loop";
    case Task::expression: return "expression";
  }
  return "?";
}

SampleSource parse_sample_source(const std::string& text, const std::string& field) {
  for (SampleSource s : {SampleSource::tiles, SampleSource::loops, SampleSource::tss})
    if (text == name_of(s)) return s;
  throw ConfigError(fmt::format("{}: expected tiles | loops | tss (got {})", field, text));
}

Task parse_task(const std::string& text, const std::string& field) {
  for (Task t : {Task::none, Task::hic_map, Task::loop, Task::expression})
    if (text == name_of(t)) return t;
  throw ConfigError(fmt::format("{}: expected none | hic_map | loop | expression (got {})", field, text));
}

bool task_accepts(Task task, SampleSource source) {
  switch (task) {
    case Task::none: return true;
    case Task::hic_map: return source != SampleSource::loops;
    case Task::loop: return source == SampleSource::loops;
    case Task::expression: return source == SampleSource::tss;
  }
  return false;
}

std::string accepted_sources(Task task) {
  switch (task) {
    case Task::none: return "any";
    case Task::hic_map: return "tiles | tss";
    case Task::loop: return "loops";
    case Task::expression: return "tss";
  }
  return "?";
}

}  // namespace mixhic
