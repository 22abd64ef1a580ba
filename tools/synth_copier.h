// `tern synth --copier`: weights that copy their input, for speculative
// decoding benchmarks. Random weights predict nothing, so prompt lookup and
// draft models are never accepted on them; trained models copy heavily on
// rewriting and continuation tasks. A copier has real shapes (its bandwidth
// and compute are those of a model of its size) and a hand-set induction
// circuit in blocks 0-1:
//
//   block 0, heads 0-2: "previous token" heads. q and k come from a constant
//     residual dimension through the first 16 (rotary) head dimensions, with
//     k pre-rotated by delta positions, so the score peaks at s = t - delta;
//     they copy codes of tokens t-1 and t-2 into the residual.
//   block 1, head 0: an induction head in the 48 non-rotary head dimensions
//     (rope.dimension_count = 16): the query is code(x_t) + code'(x_{t-1}),
//     each key code(x_{s-1}) + code'(x_{s-2}), so it attends to the position
//     after the latest earlier occurrence of the last two tokens and copies
//     that token's code into an output slot that output.weight reads.
//   the other blocks: random weights at 1% of the usual scale (their cost is
//     real, their effect on the residual negligible); the unused heads and
//     the feed-forward weights of blocks 0-1 are zero.
//
// So the greedy continuation of "... A B C ... A B" is "C ...": the model
// continues any text it has seen. Codes are random unit vectors (64 dims for
// the copied token, 48 for matching); the residual layout needs dim >= 384,
// head_dim >= 64, at least 3 heads (kv-heads = heads), at least 2 blocks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tern/status.h"

namespace tern::cli {

struct CopierShape {
  int dim = 0, heads = 0, head_dim = 0, layers = 0, ffn = 0, ctx = 0;
  int64_t n_vocab = 0;
  uint64_t seed = 0;
};

class Copier {
 public:
  static constexpr int kRotaryDims = 16;
  static constexpr float kRopeBase = 100.0f;
  static constexpr float kNoiseScale = 0.01f;  // blocks 2.. : this times the usual N(0, 1/fan_in) std

  // Checks the shape; picks the rotary weights that separate position t - delta
  // best over the context (the margin is reported by margin()).
  static Result<Copier> create(const CopierShape& s);

  // The weights of tensor `name` ([rows][ne0], row-major) when the circuit
  // sets them; nullopt for tensors that stay random (scaled by kNoiseScale).
  std::optional<std::vector<float>> tensor(const std::string& name, int64_t ne0, int64_t rows) const;
  double margin() const { return margin_; }  // min over offsets of the peak's lead, in units of its score

 private:
  std::vector<float> code(int kind, int64_t token, int n) const;  // unit vector, deterministic
  CopierShape s_;
  std::vector<double> w_;  // weight per rotary pair
  double margin_ = 0;
};

}  // namespace tern::cli
