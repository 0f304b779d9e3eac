#include "schemas/events.h"

#include <array>
#include <chrono>
#include <cstdio>
#include <random>

namespace palaver {
namespace {

// EventBody must list the bodies in EventType order so that the variant index
// and the type agree; checked here once for all.
template <size_t... I>
constexpr bool BodiesInTypeOrder(std::index_sequence<I...>) {
  return ((static_cast<size_t>(std::variant_alternative_t<I, EventBody>::kType) == I + 1) && ...);
}
static_assert(BodiesInTypeOrder(std::make_index_sequence<std::variant_size_v<EventBody>>()),
              "EventBody alternatives must follow EventType order");
static_assert(std::variant_size_v<EventBody> == 28, "one body per EventType");

template <size_t... I>
constexpr uint16_t VersionOf(EventType type, std::index_sequence<I...>) {
  uint16_t version = 0;
  ((std::variant_alternative_t<I, EventBody>::kType == type
        ? (version = std::variant_alternative_t<I, EventBody>::kVersion)
        : 0),
   ...);
  return version;
}

}  // namespace

EventType TypeOf(const EventBody& body) {
  return std::visit([](const auto& b) { return std::decay_t<decltype(b)>::kType; }, body);
}

uint16_t CurrentVersion(EventType type) {
  return VersionOf(type, std::make_index_sequence<std::variant_size_v<EventBody>>());
}

std::string_view PersonalSubject(const EventBody& body) {
  return std::visit(
      [](const auto& b) -> std::string_view {
        if constexpr (HasPersonal<std::decay_t<decltype(b)>>) {
          return b.customer_id;
        } else {
          return {};
        }
      },
      body);
}

std::string NewEventId() {
  thread_local std::mt19937_64 rng = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(),
                       device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  const uint64_t millis =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  const uint64_t rand_a = rng();
  const uint64_t rand_b = rng();
  std::array<uint8_t, 16> b{};
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(millis >> (40 - 8 * i));
  b[6] = static_cast<uint8_t>(0x70 | ((rand_a >> 8) & 0x0f));  // version 7
  b[7] = static_cast<uint8_t>(rand_a);
  b[8] = static_cast<uint8_t>(0x80 | ((rand_a >> 16) & 0x3f));  // RFC 4122 variant
  for (int i = 9; i < 16; ++i) b[i] = static_cast<uint8_t>(rand_b >> (8 * (i - 9)));
  char text[37];
  std::snprintf(text, sizeof(text),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return std::string(text, 36);
}

}  // namespace palaver
