// task.hpp — the one vocabulary for what a corpus holds and what a model is trained for.
//
// SampleSource: how mixhic-prep chose a corpus's samples (prep key `samples`, corpus attribute
// `sample-source`): tiles (windows along the diagonal), loops (BEDPE anchor pairs with 1/0
// labels), tss (windows centred on transcription start sites, with an expression target).
// Task: what a model is trained for (model key `task`): none (pre-training), hic_map, loop,
// expression. A task takes the corpora of `task_accepts`. The names are the config and file
// spellings; they are parsed and written only here.
#pragma once

#include <string>

namespace mixhic {

enum class SampleSource { tiles, loops, tss };
enum class Task { none, hic_map, loop, expression };

const char* name_of(SampleSource s);  // "tiles" | "loops" | "tss"
const char* name_of(Task t);          // "none" | "hic_map" | "loop" | "expression"
// Throw ConfigError "FIELD: expected ... (got TEXT)" when `text` is not one of the names.
SampleSource parse_sample_source(const std::string& text, const std::string& field);
Task parse_task(const std::string& text, const std::string& field);

// Whether a model for `task` trains on / predicts a corpus of `source`: loop needs loops,
// expression needs tss, hic_map takes tiles or tss (not loops), none (pre-training) takes any.
bool task_accepts(Task task, SampleSource source);
// The prep `samples` values `task` accepts, for messages ("loops", "tss", "tiles | tss", "any").
std::string accepted_sources(Task task);

}  // namespace mixhic
