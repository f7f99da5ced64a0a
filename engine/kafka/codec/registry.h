#pragma once
// Run-time view of the message definitions: api names, defined versions, flexible versions,
// header versions, and dispatch from an api key to the request/response types.
#include <array>
#include <cstdint>
#include <string_view>
#include <tuple>
#include <utility>

#include "engine/kafka/codec/messages.h"

namespace sluice::kafka {

struct ApiInfo {
  int16_t api_key = -1;
  std::string_view name;          // "Produce"
  VersionRange defined_versions;  // versions the definitions (and so the codec) cover
  VersionRange flexible_versions;
};

namespace detail {
template <class A>
constexpr ApiInfo make_api_info() {
  std::string_view n = A::Request::kName;
  n.remove_suffix(std::string_view("Request").size());
  return ApiInfo{A::kApiKey, n, A::Request::kValidVersions, A::Request::kFlexibleVersions};
}
template <class... A>
constexpr auto make_api_infos(std::tuple<A...>*) {
  return std::array<ApiInfo, sizeof...(A)>{make_api_info<A>()...};
}
}  // namespace detail

inline constexpr auto kApiInfos = detail::make_api_infos(static_cast<AllApis*>(nullptr));

// Index into kApiInfos, -1 for an api key the codec does not define.
constexpr int api_index(int16_t api_key) noexcept {
  for (std::size_t i = 0; i < kApiInfos.size(); ++i)
    if (kApiInfos[i].api_key == api_key) return static_cast<int>(i);
  return -1;
}

// nullptr for an api key the codec does not define.
constexpr const ApiInfo* find_api(int16_t api_key) noexcept {
  int i = api_index(api_key);
  return i < 0 ? nullptr : &kApiInfos[static_cast<std::size_t>(i)];
}

inline constexpr int16_t kApiVersionsKey = ApiVersionsRequest::kApiKey;

// Request header version for (api, version): 2 for flexible request versions, else 1. An api key
// the codec does not know gets 1: its header can still be read far enough to answer or close.
constexpr int16_t request_header_version(int16_t api_key, int16_t api_version) noexcept {
  int i = api_index(api_key);
  return i >= 0 && kApiInfos[static_cast<std::size_t>(i)].flexible_versions.contains(api_version) ? 2 : 1;
}

// Response header version: 1 for flexible versions, else 0; ApiVersions responses always use 0
// (a client must be able to read them before it knows which versions the broker speaks).
constexpr int16_t response_header_version(int16_t api_key, int16_t api_version) noexcept {
  if (api_key == kApiVersionsKey) return 0;
  int i = api_index(api_key);
  return i >= 0 && kApiInfos[static_cast<std::size_t>(i)].flexible_versions.contains(api_version) ? 1 : 0;
}

// Calls f(Api<Request, Response>{}) for the api with this key; returns false if there is none.
template <class F>
bool visit_api(int16_t api_key, F&& f) {
  return std::apply(
      [&](auto... apis) { return ((decltype(apis)::kApiKey == api_key ? (f(apis), true) : false) || ...); }, AllApis{});
}

// Calls f(Api<Request, Response>{}) for every api.
template <class F>
void for_each_api(F&& f) {
  std::apply([&](auto... apis) { (f(apis), ...); }, AllApis{});
}

}  // namespace sluice::kafka
