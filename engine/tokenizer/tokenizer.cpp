#include "tokenizer/tokenizer.h"

#include <cassert>
#include <cstdint>

#include "tokenizer/encoders.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/special_split.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"

namespace tern {
namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // ▁ U+2581

// The bytes a token stands for, special tokens included (llama.cpp's
// token_to_piece with special = true).
std::string make_piece(const Vocab& v, TokenId id) {
  const uint32_t attr = v.attr[id];
  const std::string& text = v.text[id];
  if (attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) return text;
  if (attr & kAttrByte) {
    // "<0xAB>"; anything else is a malformed byte token and renders as is.
    if (text.size() == 6 && text.compare(0, 3, "<0x") == 0 && text[5] == '>') {
      return std::string(1, static_cast<char>(std::stoi(text.substr(3, 2), nullptr, 16)));
    }
    return text;
  }
  if (!(attr & kAttrNormal)) return {};  // unused and undefined tokens render as nothing
  std::string out;
  if (v.kind == VocabKind::kBpe) {
    // Undo the GPT-2 byte mapping; codepoints outside it are kept as UTF-8.
    for (size_t i = 0; i < text.size();) {
      size_t len = 0;
      const uint32_t cp = utf8::decode(std::string_view(text).substr(i), len);
      const int byte = utf8::unicode_to_byte(cp);
      if (byte >= 0) {
        out.push_back(static_cast<char>(byte));
      } else {
        out.append(text, i, len);
      }
      i += len;
    }
    return out;
  }
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kSpmSpace.size(), kSpmSpace) == 0) {
      out.push_back(' ');
      i += kSpmSpace.size();
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const GgufFile& f) {
  TERN_ASSIGN_OR_RETURN(auto vocab, load_vocab(f));
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  if (vocab->kind == VocabKind::kBpe) {
    auto pre = PreTokenizer::create(vocab->pre);
    if (!pre.ok()) return Status(pre.status().code(), f.name() + ": " + pre.status().message());
    t->pre_ = std::move(pre).value();
  }
  t->pieces_.resize(vocab->n_tokens());
  for (TokenId id = 0; id < vocab->n_tokens(); ++id) t->pieces_[id] = make_piece(*vocab, id);
  t->splitter_ = std::make_unique<SpecialSplitter>(*vocab);
  t->vocab_ = std::move(vocab);
  return t;
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const Vocab& v = *vocab_;
  assert(text.size() <= UINT32_MAX && "fragments use 32-bit offsets");
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 2);
  if (add_special && v.add_bos) out.push_back(v.bos);

  std::vector<Fragment> fragments;
  splitter_->split(text, parse_special, fragments);

  std::string buf;
  std::vector<std::string_view> words;
  bool after_special = true;  // SentencePiece: the text start counts as after a special
  for (const Fragment& frag : fragments) {
    if (frag.token >= 0) {
      out.push_back(frag.token);
      after_special = true;
      continue;
    }
    const std::string_view piece = text.substr(frag.offset, frag.length);
    if (v.kind == VocabKind::kSpm) {
      buf.clear();
      if (v.add_space_prefix && after_special) buf += kSpmSpace;
      for (char c : piece) {
        if (c == ' ') {
          buf += kSpmSpace;
        } else {
          buf.push_back(c);
        }
      }
      spm_encode(v, buf, out);
    } else if (v.kind == VocabKind::kWpm) {
      wpm_encode(v, piece, out);
    } else {
      buf = utf8::sanitize(piece);
      words.clear();
      pre_->split(buf, words);
      for (std::string_view w : words) bpe_encode(v, w, out);
    }
    after_special = false;
  }

  if (add_special && v.add_eos) out.push_back(v.eos);
  if (add_special && v.add_sep) out.push_back(v.sep);
  return out;
}

std::string Tokenizer::token_to_piece(TokenId id, bool render_special) const {
  if (!vocab_->valid(id)) return {};
  if (!render_special && (vocab_->attr[id] & (kAttrUnknown | kAttrControl))) return {};
  return pieces_[id];
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool render_special) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string piece = token_to_piece(ids[i], render_special);
    if (i == 0 && vocab_->add_space_prefix && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    out += piece;
  }
  return out;
}

int32_t Tokenizer::n_vocab() const { return vocab_->n_tokens(); }
TokenId Tokenizer::bos() const { return vocab_->bos; }
TokenId Tokenizer::eos() const { return vocab_->eos; }
TokenId Tokenizer::eot() const { return vocab_->eot; }
bool Tokenizer::add_bos() const { return vocab_->add_bos; }
bool Tokenizer::add_eos() const { return vocab_->add_eos; }
bool Tokenizer::is_eog(TokenId id) const { return vocab_->eog.count(id) > 0; }
bool Tokenizer::is_control(TokenId id) const { return vocab_->valid(id) && (vocab_->attr[id] & kAttrControl); }
bool Tokenizer::strips_leading_space() const { return vocab_->add_space_prefix; }

std::optional<TokenId> Tokenizer::find_token(std::string_view text) const {
  const TokenId id = vocab_->find(text);
  if (id < 0) return std::nullopt;
  return id;
}

std::string_view Tokenizer::token_text(TokenId id) const {
  return vocab_->valid(id) ? std::string_view(vocab_->text[id]) : std::string_view();
}

}  // namespace tern
