// WordPiece ("bert") encoding (see encoders.h).
//
// Normalization follows BERT's BasicTokenizer as llama.cpp implements it:
// drop NUL, U+FFFD and control characters; split on whitespace; optionally
// lowercase and strip accents (decompose, drop combining marks); make every
// punctuation character, ASCII symbol and CJK ideograph a word of its own.
// Character classes come from PCRE2's Unicode tables.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>
#include <string>

#include "tokenizer/encoders.h"
#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

namespace tern {
namespace {

enum class CharClass { kOther, kSpace, kControl, kMark, kPunct, kSymbol };

// Classifies one character with a single anchored PCRE2 match whose capture
// group tells the class. The compiled pattern is shared; match data is not.
class CharClassifier {
 public:
  CharClassifier() : data_(pcre2_match_data_create(8, nullptr)) {}
  ~CharClassifier() { pcre2_match_data_free(data_); }
  CharClassifier(const CharClassifier&) = delete;
  CharClassifier& operator=(const CharClassifier&) = delete;

  // `s` starts with one well-formed character.
  CharClass classify(std::string_view s) const {
    pcre2_code* code = pattern();
    if (!code || !data_) return CharClass::kOther;
    const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0,
                               PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, data_, nullptr);
    if (rc < 2) return CharClass::kOther;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data_);
    for (int g = 1; g < rc; ++g) {
      if (ov[2 * g] != PCRE2_UNSET) return static_cast<CharClass>(g);
    }
    return CharClass::kOther;
  }

 private:
  static pcre2_code* pattern() {
    static const std::unique_ptr<pcre2_code, decltype(&pcre2_code_free)> code(
        [] {
          int err = 0;
          PCRE2_SIZE off = 0;
          // Group order = CharClass order; whitespace wins over control (\t, \n).
          pcre2_code* c = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(R"((\s)|(\p{C})|(\p{M})|(\p{P})|(\p{S}))"),
                                        PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
          if (c) (void)pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
          return c;
        }(),
        &pcre2_code_free);
    return code.get();
  }

  pcre2_match_data* data_;
};

bool is_cjk_ideograph(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// Splits normalized text into words (BERT's BasicTokenizer).
std::vector<std::string> basic_words(const Vocab& v, std::string_view raw) {
  const std::string text = utf8::sanitize(raw);
  const CharClassifier classifier;
  std::vector<std::string> words(1);
  std::string cp_utf8;

  auto add_char = [&](uint32_t cp) {
    cp_utf8.clear();
    utf8::append_codepoint(cp_utf8, cp);
    const CharClass cls = classifier.classify(cp_utf8);
    if (cls == CharClass::kSpace) {
      if (!words.back().empty()) words.emplace_back();
      return;
    }
    if (cp == 0 || cp == 0xFFFD || cls == CharClass::kControl) return;
    if (v.wpm_strip_accents && cls == CharClass::kMark) return;
    if (v.wpm_lowercase) {
      cp_utf8.clear();
      utf8::append_codepoint(cp_utf8, unicode::to_lower(cp));
    }
    if (cls == CharClass::kPunct || (cp < 0x7F && cls == CharClass::kSymbol) || is_cjk_ideograph(cp)) {
      if (!words.back().empty()) words.emplace_back();
      words.back() = cp_utf8;
      words.emplace_back();
    } else {
      words.back() += cp_utf8;
    }
  };

  for (size_t i = 0; i < text.size();) {
    size_t len = 0;
    const uint32_t cp = utf8::decode(std::string_view(text).substr(i), len);
    i += len;
    if (!v.wpm_strip_accents) {
      add_char(cp);
    } else if (cp >= 0xAC00 && cp <= 0xD7A3) {
      // Hangul syllable: NFD is leading consonant, vowel and optional final.
      const uint32_t s = cp - 0xAC00;
      add_char(0x1100 + s / 588);
      add_char(0x1161 + (s % 588) / 28);
      if (s % 28) add_char(0x11A7 + s % 28);
    } else {
      add_char(unicode::nfd_base(cp));
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

}  // namespace

void wpm_encode(const Vocab& v, std::string_view text, std::vector<TokenId>& out) {
  static constexpr std::string_view kWordStart = "\xE2\x96\x81";  // ▁ marks a word's first piece
  std::string word;
  for (const std::string& w : basic_words(v, text)) {
    word.assign(kWordStart).append(w);
    const size_t first = out.size();
    // Greedy longest match from the left; one uncovered position voids the word.
    for (size_t i = 0; i < word.size();) {
      size_t j = std::min(word.size(), i + v.max_token_len);
      TokenId id = -1;
      for (; j > i; --j) {
        id = v.find(std::string_view(word).substr(i, j - i));
        if (id >= 0) break;
      }
      if (id < 0) {
        out.resize(first);
        break;
      }
      out.push_back(id);
      i = j;
    }
    if (out.size() == first && v.unk >= 0) out.push_back(v.unk);
  }
}

}  // namespace tern
