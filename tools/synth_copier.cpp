#include "synth_copier.h"

#include <algorithm>
#include <cmath>

namespace tern::cli {

namespace {

// Residual layout (dimensions of the hidden state).
constexpr int kConst = 0;    // a constant 1: the previous-token heads' q and k
constexpr int kSlotB = 64;   // codeB(x_t), 64 dims: what the induction head copies
constexpr int kSlotQ = 128;  // a(x_t) + b(x_{t-1}), 48 dims: the induction query
constexpr int kSlotK = 192;  // a(x_{t-1}) + b(x_{t-2}), 48 dims: the induction key
constexpr int kSlotO = 256;  // codeB of the copied token, 64 dims: read by output.weight
constexpr int kSlotBb = 320; // b(x_t), 48 dims
constexpr int kMinDim = 384;
constexpr int kCodeB = 64, kCodeQK = 48;
constexpr double kConstValue = 1.0;
constexpr double kPrevSharpness = 30;    // score lead of the t - delta position (nats)
constexpr double kMatchSharpness = 25;   // lead of a two-token match over a one-token one
constexpr double kLogitScale = 10;

uint64_t mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct Head {  // a previous-token head of block 0
  int delta;   // attends to t - delta
  int from;    // residual slot its value reads
  int to;      // residual slot its output writes
};
constexpr Head kPrevHeads[3] = {{1, kSlotQ, kSlotK}, {2, kSlotBb, kSlotK}, {1, kSlotBb, kSlotQ}};

}  // namespace

Result<Copier> Copier::create(const CopierShape& s) {
  if (s.dim < kMinDim) return InvalidArgument("--copier needs --dim >= " + std::to_string(kMinDim));
  if (s.head_dim < kRotaryDims + kCodeQK || s.head_dim < kCodeB)
    return InvalidArgument("--copier needs a head size (dim / heads) of at least 64");
  if (s.heads < 3) return InvalidArgument("--copier needs at least 3 heads");
  if (s.layers < 2) return InvalidArgument("--copier needs at least 2 blocks");
  Copier c;
  c.s_ = s;
  // Rotary pairs i < 8, theta_i = base^(-2i/16). The score of a previous-token
  // head is sum_i w_i cos(k theta_i), k = t - s - delta; it must peak at k = 0
  // over every other k the causal mask allows (-2 .. ctx). Geometric weights,
  // the ratio chosen for the largest lead.
  const int pairs = kRotaryDims / 2;
  double best = -1;
  for (double r : {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3}) {
    std::vector<double> w(static_cast<size_t>(pairs));
    double sum = 0;
    for (int i = 0; i < pairs; ++i) sum += w[static_cast<size_t>(i)] = std::pow(r, i);
    double worst = -1e30;
    for (int k = -2; k <= s.ctx + 2; ++k) {
      if (k == 0) continue;
      double f = 0;
      for (int i = 0; i < pairs; ++i)
        f += w[static_cast<size_t>(i)] * std::cos(k * std::pow(static_cast<double>(kRopeBase), -2.0 * i / kRotaryDims));
      worst = std::max(worst, f);
    }
    const double m = (sum - worst) / sum;
    if (m > best) {
      best = m;
      for (double& x : w) x /= sum;
      c.w_ = w;
    }
  }
  c.margin_ = best;
  if (best < 0.01) return InvalidArgument("--copier: no rotary weighting separates neighbouring positions over --ctx");
  return c;
}

std::vector<float> Copier::code(int kind, int64_t token, int n) const {
  std::vector<float> v(static_cast<size_t>(n));
  uint64_t st = mix(s_.seed ^ (static_cast<uint64_t>(kind) << 56) ^ static_cast<uint64_t>(token) * 0x100000001B3ull);
  double norm = 0;
  for (int i = 0; i < n; i += 2) {  // Box-Muller
    st = mix(st);
    const double u1 = (static_cast<double>(st >> 11) + 1.0) * 0x1p-53;
    st = mix(st);
    const double u2 = static_cast<double>(st >> 11) * 0x1p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    v[static_cast<size_t>(i)] = static_cast<float>(r * std::cos(2 * M_PI * u2));
    if (i + 1 < n) v[static_cast<size_t>(i + 1)] = static_cast<float>(r * std::sin(2 * M_PI * u2));
  }
  for (float x : v) norm += static_cast<double>(x) * x;
  const float inv = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& x : v) x *= inv;
  return v;
}

std::optional<std::vector<float>> Copier::tensor(const std::string& name, int64_t ne0, int64_t rows) const {
  const int D = s_.dim, hd = s_.head_dim;
  auto at = [ne0](std::vector<float>& t, int64_t row, int64_t col) -> float& {
    return t[static_cast<size_t>(row * ne0 + col)];
  };
  std::vector<float> t(static_cast<size_t>(ne0 * rows), 0.0f);
  // RMS-norm gains at the inputs of blocks 0 and 1: the residual's squared
  // norm is C^2 + 3 unit codes, then C^2 + 6 (block 0 adds three).
  const double g0 = std::sqrt(D / (kConstValue * kConstValue + 3)), g1 = std::sqrt(D / (kConstValue * kConstValue + 6));
  const double sqrt_hd = std::sqrt(static_cast<double>(hd));

  if (name == "token_embd.weight" || name == "output.weight") {
    const bool embd = name == "token_embd.weight";
    for (int64_t y = 0; y < rows; ++y) {
      const std::vector<float> b = code(0, y, kCodeB);
      for (int j = 0; j < kCodeB; ++j) at(t, y, (embd ? kSlotB : kSlotO) + j) = b[static_cast<size_t>(j)] * (embd ? 1.0f : static_cast<float>(kLogitScale));
      if (!embd) continue;
      at(t, y, kConst) = static_cast<float>(kConstValue);
      const std::vector<float> a = code(1, y, kCodeQK), bb = code(2, y, kCodeQK);
      for (int j = 0; j < kCodeQK; ++j) {
        at(t, y, kSlotQ + j) = a[static_cast<size_t>(j)];
        at(t, y, kSlotBb + j) = bb[static_cast<size_t>(j)];
      }
    }
    return t;
  }
  const std::string b0 = "blk.0.", b1 = "blk.1.";
  const bool blk0 = name.rfind(b0, 0) == 0, blk1 = name.rfind(b1, 0) == 0;
  if (!blk0 && !blk1) return std::nullopt;  // other blocks: scaled-down random
  const std::string w = name.substr(b0.size());
  if (w == "attn_norm.weight" || w == "ffn_norm.weight") return std::nullopt;  // ones
  if (w == "ffn_gate.weight" || w == "ffn_up.weight" || w == "ffn_down.weight") return t;  // zero

  const int pairs = kRotaryDims / 2;
  if (blk0) {
    for (int h = 0; h < 3; ++h) {
      const Head& H = kPrevHeads[h];
      for (int i = 0; i < pairs; ++i) {
        const double theta = std::pow(static_cast<double>(kRopeBase), -2.0 * i / kRotaryDims);
        // score = g0^2 C^2 A_i B_i cos(k theta_i) / sqrt(hd) per pair = S w_i cos(k theta_i)
        const double S = kPrevSharpness / margin_;
        const double amp = std::sqrt(w_[static_cast<size_t>(i)] * S * sqrt_hd) / (g0 * kConstValue);
        const int64_t r = static_cast<int64_t>(h) * hd + 2 * i;
        if (w == "attn_q.weight") at(t, r, kConst) = static_cast<float>(amp);
        if (w == "attn_k.weight") {  // pre-rotated by delta positions
          at(t, r, kConst) = static_cast<float>(amp * std::cos(H.delta * theta));
          at(t, r + 1, kConst) = static_cast<float>(amp * std::sin(H.delta * theta));
        }
      }
      for (int j = 0; j < kCodeQK; ++j) {
        if (w == "attn_v.weight") at(t, static_cast<int64_t>(h) * hd + j, H.from + j) = static_cast<float>(1.0 / g0);
        if (w == "attn_output.weight") at(t, H.to + j, static_cast<int64_t>(h) * hd + j) = 1.0f;
      }
    }
    return t;
  }
  // Block 1, head 0: the induction head, in the non-rotary dimensions.
  const double lambda = std::sqrt(kMatchSharpness * sqrt_hd) / g1;
  for (int j = 0; j < kCodeQK; ++j) {
    if (w == "attn_q.weight") at(t, kRotaryDims + j, kSlotQ + j) = static_cast<float>(lambda);
    if (w == "attn_k.weight") at(t, kRotaryDims + j, kSlotK + j) = static_cast<float>(lambda);
  }
  for (int j = 0; j < kCodeB; ++j) {
    if (w == "attn_v.weight") at(t, j, kSlotB + j) = static_cast<float>(1.0 / g1);
    if (w == "attn_output.weight") at(t, kSlotO + j, j) = 1.0f;
  }
  return t;
}

}  // namespace tern::cli
