#pragma once
// The web console (engine/metrics/console.html): one static page, served at / on the metrics
// port, that reads /metrics every two seconds and draws topics, groups, shards and live charts
// from it. No build step, nothing fetched from elsewhere; compiled in from the .html by CMake.
#include <string_view>

namespace sluice::metrics {

std::string_view console_page();

}  // namespace sluice::metrics
