// Filler text for synthetic prompts and traces: common English words, which
// most BPE vocabularies encode as about one token each.
#pragma once

#include <random>
#include <string>

namespace tern::bench {

// `n` words separated by spaces, drawn uniformly from a fixed list.
std::string random_words(std::mt19937_64& rng, int n);

}  // namespace tern::bench
