// cache/lexical_embedder.cpp — hashed lexical features, no model.
//
// Features of a text (lowercased ASCII; other UTF-8 bytes kept as letters):
//   word unigrams   weight word_weight (function words x stop_weight: "the",
//                   "how", "can"...; negations are NOT stop words: they
//                   change the meaning)
//   word bigrams    weight bigram_weight (adds order: "celsius to fahrenheit"
//                   differs from "fahrenheit to celsius")
//   char n-grams    of each word with boundary marks ("<word>"), weight
//                   char_weight / sqrt(#n-grams of the word) (inflections, typos)
// Each feature is hashed (FNV-1a, 64 bit) to one of dim buckets with a sign
// bit (signed feature hashing keeps collisions unbiased); repeated features
// grow as 1 + ln(count). The vector is L2-normalised.
#include <cctype>
#include <cmath>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "cache/embedder.h"

namespace tern::cache {
namespace {

uint64_t fnv1a(std::string_view s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  // Final avalanche (splitmix64) so that nearby strings spread over buckets.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

const std::unordered_set<std::string>& stop_words() {
  static const std::unordered_set<std::string> words = {
      "a", "an", "the", "is", "are", "was", "were", "be", "been", "am", "do", "does", "did", "i", "me", "my",
      "you", "your", "it", "its", "of", "to", "in", "on", "at", "for", "with", "and", "or", "this", "that",
      "these", "those", "can", "could", "would", "should", "will", "please", "tell", "about", "some", "any",
      "there", "here", "so", "just", "get", "give", "we", "us", "our", "s", "t", "d", "ll", "re", "ve", "m",
      "what", "how", "which", "explain", "describe", "by", "as", "has", "have", "had", "need", "want", "way",
      "into", "if", "one", "let", "know", "show"};
  return words;
}

std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> words;
  std::string cur;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80) {
      cur += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    } else if (!cur.empty()) {
      words.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

}  // namespace

LexicalEmbedder::LexicalEmbedder(LexicalOptions options) : options_(options) {
  if (options_.dim < 8) options_.dim = 8;
  if (options_.char_ngram_min < 1) options_.char_ngram_min = 1;
  if (options_.char_ngram_max < options_.char_ngram_min) options_.char_ngram_max = options_.char_ngram_min;
}

std::string LexicalEmbedder::name() const {
  return "lexical-" + std::to_string(options_.dim) + "-c" + std::to_string(options_.char_ngram_min) + "." +
         std::to_string(options_.char_ngram_max) + "-w" + std::to_string(options_.word_weight) + "-b" +
         std::to_string(options_.bigram_weight) + "-ch" + std::to_string(options_.char_weight) + "-s" +
         std::to_string(options_.stop_weight);
}

Result<std::vector<float>> LexicalEmbedder::embed(std::string_view text) {
  const std::vector<std::string> words = words_of(text);
  // feature hash -> accumulated (count, weight)
  std::unordered_map<uint64_t, std::pair<int, float>> feats;
  auto add = [&](uint64_t h, float w) {
    auto& f = feats[h];
    f.first += 1;
    f.second = w;
  };
  const auto& stops = stop_words();
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    const bool stop = stops.count(w) != 0;
    add(fnv1a(w, 1), options_.word_weight * (stop ? options_.stop_weight : 1.0f));
    if (i + 1 < words.size()) {
      const bool both_stop = stop && stops.count(words[i + 1]) != 0;
      add(fnv1a(w + " " + words[i + 1], 2), options_.bigram_weight * (both_stop ? options_.stop_weight : 1.0f));
    }
    if (stop || options_.char_weight <= 0) continue;
    const std::string marked = "<" + w + ">";
    std::vector<std::string_view> grams;
    for (int n = options_.char_ngram_min; n <= options_.char_ngram_max; ++n)
      for (size_t p = 0; p + static_cast<size_t>(n) <= marked.size(); ++p)
        grams.push_back(std::string_view(marked).substr(p, static_cast<size_t>(n)));
    const float cw = grams.empty() ? 0.f : options_.char_weight / std::sqrt(static_cast<float>(grams.size()));
    for (std::string_view g : grams) add(fnv1a(g, 3), cw);
  }
  std::vector<float> v(static_cast<size_t>(options_.dim), 0.f);
  for (const auto& [h, f] : feats) {
    const float value = f.second * (1.0f + std::log(static_cast<float>(f.first)));
    v[h % static_cast<uint64_t>(options_.dim)] += (h >> 63) ? -value : value;
  }
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  if (norm > 0) {
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (float& x : v) x *= inv;
  }
  return v;
}

float cosine(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 0.f;
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(s);
}

}  // namespace tern::cache
