#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace tern {

StreamDecoder::StreamDecoder(const Tokenizer& tok, bool at_text_start, bool render_special)
    : tok_(tok), strip_next_space_(at_text_start && tok.strips_leading_space()), render_special_(render_special) {}

std::string StreamDecoder::push(TokenId id) {
  std::string piece = tok_.token_to_piece(id, render_special_);
  if (strip_next_space_) {
    if (!piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    strip_next_space_ = false;
  }
  pending_ += piece;
  const size_t hold = utf8::incomplete_tail(pending_);
  std::string ready = utf8::sanitize(std::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  return ready;
}

std::string StreamDecoder::flush() {
  std::string rest = utf8::sanitize(pending_);
  pending_.clear();
  return rest;
}

}  // namespace tern
