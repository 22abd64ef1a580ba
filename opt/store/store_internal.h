// store/store_internal.h — shared by the Store implementations (not public).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "store/store.h"

namespace tern::store::internal {

int64_t system_now_ms();

// The sliding-window estimate and admission rule shared by every store:
// estimate = cur + prev * (window - elapsed) / window.
struct WindowMath {
  static int64_t index(int64_t now_ms, int64_t window_ms) { return now_ms / window_ms; }
  static double estimate(int64_t cur, int64_t prev, int64_t now_ms, int64_t window_ms);
  // Fills allowed/estimate/retry_after_ms of a window holding (cur, prev)
  // before the add; the caller adds amount when allowed.
  static WindowResult decide(int64_t cur, int64_t prev, int64_t now_ms, int64_t window_ms, int64_t amount,
                             int64_t limit);
};

// Aggregation of ledger rows (memory and Redis stores).
bool row_matches(const LedgerRow& row, const UsageQuery& q);
std::vector<UsageRow> aggregate(const std::vector<LedgerRow>& rows, const UsageQuery& q);
int64_t period_start(int64_t ts_ms, UsageGroup group_by);   // UTC day/hour start, or 0

// The smallest string greater than every string starting with prefix, or ""
// when there is none (prefix empty or all 0xFF bytes).
std::string prefix_upper_bound(const std::string& prefix);

Result<std::unique_ptr<Store>> open_memory_store(const StoreConfig& config);
Result<std::unique_ptr<Store>> open_sqlite_store(const StoreConfig& config);
Result<std::unique_ptr<Store>> open_redis_store(const StoreConfig& config);

}  // namespace tern::store::internal
