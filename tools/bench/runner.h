// Runs one sweep point: a closed loop at fixed concurrency or an open loop
// of Poisson / constant arrivals, bounded by a request count and/or a
// duration, after warm-up requests whose results are dropped. One Asio event
// loop on the calling thread drives every connection.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/client.h"
#include "bench/stats.h"
#include "bench/workload.h"

namespace tern::bench {

struct RunOptions {
  Url url;
  std::string target;  // request path, e.g. /v1/chat/completions
  std::string api_key;
  BodyOptions body;
  double timeout_s = 300;
  int warmup = 0;        // requests per point, excluded
  int requests = 0;      // measured requests per point (0: duration only)
  double duration_s = 0; // measured seconds per point (0: count only)
  int max_inflight = 0;  // open loop: cap on requests in flight (0: none)
  uint64_t seed = 1;
  bool progress = true;  // live line on stderr (when it is a terminal)
};

struct LoadPoint {
  enum Mode { kClosed, kPoisson, kConstant } mode = kClosed;
  int concurrency = 1;
  double rate = 0;
  std::string label() const;
  std::string mode_name() const;
};

struct PointRun {
  std::vector<RequestRecord> records;  // measured requests only
  double duration_s = 0;
  double cpu_s = 0;                    // this process, user + system
  size_t connections = 0;
  size_t dropped = 0;                  // open-loop arrivals over --max-inflight
};

PointRun run_point(const RunOptions& o, Workload& w, const LoadPoint& p);

}  // namespace tern::bench
