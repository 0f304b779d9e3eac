// OfficeHours: when a shop's support team is at work, in the shop's own time
// zone, and the automatic reply a shopper gets inside and outside those hours.
//
// Hours are local wall-clock time: "Monday 09:00-17:00 in Europe/Berlin" means
// 09:00-17:00 on the clocks in Berlin, whatever the UTC offset is that day.
// Daylight-saving changes follow from that rule:
//   - local times that do not exist (the hour skipped on a spring-forward day)
//     are never open: a 02:00-03:00 range in Berlin is closed on the last
//     Sunday of March, and a 01:00-05:00 range lasts 3 real hours that day;
//   - local times that happen twice (the hour repeated on a fall-back day) are
//     open both times: a 01:00-02:00 range in New York on the first Sunday of
//     November lasts 2 real hours.
//
// An OfficeHours is an immutable value: copy it freely; every const member is
// safe to call from any number of threads at once.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/rules/clock.h"
#include "schemas/status.h"

namespace date {
class time_zone;  // date/tz.h; one entry of the process-wide tz database
}  // namespace date

namespace palaver::rules {

// Days of the week, in ISO order. The value indexes OfficeHoursSpec::weekly.
enum class Weekday : int {
  kMonday = 0,
  kTuesday = 1,
  kWednesday = 2,
  kThursday = 3,
  kFriday = 4,
  kSaturday = 5,
  kSunday = 6,
};
inline constexpr int kDaysPerWeek = 7;
inline constexpr int kMinutesPerDay = 24 * 60;

// A [start, end) range of local time within one day, in minutes since local
// midnight: {540, 1020} is 09:00-17:00 and {1080, 1440} is 18:00-24:00.
// A range never crosses midnight; hours from 22:00 to 02:00 are two ranges,
// {1320, 1440} on the first day and {0, 120} on the next.
struct MinuteRange {
  int start_minute = 0;
  int end_minute = 0;

  friend bool operator==(const MinuteRange&, const MinuteRange&) = default;
};

// What a shop configures. Plain data; OfficeHours::Create validates it.
struct OfficeHoursSpec {
  // IANA time zone name, e.g. "Europe/Berlin". May be empty only when no
  // ranges are set at all.
  std::string time_zone;
  // weekly[static_cast<int>(Weekday::kMonday)] holds Monday's ranges, in any
  // order. A day with no ranges is closed all day.
  std::array<std::vector<MinuteRange>, kDaysPerWeek> weekly;
  // Sent automatically to a shopper who writes inside office hours.
  std::string during_hours_message;
  // Sent automatically to a shopper who writes outside office hours.
  std::string outside_hours_message;
};

class OfficeHours {
 public:
  // Validates `spec`. Errors, all kInvalidArgument with Status::field() set:
  //   - "time_zone": not a zone the tz database knows (or empty while ranges
  //     are set);
  //   - "weekly.<day>[<i>]", e.g. "weekly.monday[1]": a range outside
  //     0..1440, with start >= end, or overlapping another range of that day
  //     (touching ranges such as 09:00-12:00 and 12:00-17:00 are fine).
  // A spec with no ranges at all is valid and means "no office hours set".
  static Result<OfficeHours> Create(OfficeHoursSpec spec);

  const OfficeHoursSpec& spec() const { return spec_; }

  // True when at least one range is set.
  bool has_hours() const { return has_hours_; }

  // True when `unix_micros` falls inside a range, on the shop's local clock.
  // Always false when no hours are set.
  bool IsOpenAt(int64_t unix_micros) const;
  bool IsOpenNow(const Clock& clock) const { return IsOpenAt(clock.NowMicros()); }

  // The message to send automatically to a shopper who writes at
  // `unix_micros`: the during-hours message inside office hours, the
  // outside-hours message outside them. nullopt (send nothing) when no hours
  // are set, or when the message that applies is empty.
  std::optional<std::string> AutoReplyFor(int64_t unix_micros) const;
  std::optional<std::string> AutoReplyNow(const Clock& clock) const {
    return AutoReplyFor(clock.NowMicros());
  }

  // The first instant at or after `unix_micros` that is inside office hours:
  // `unix_micros` itself when open then. nullopt when no hours are set (or, in
  // theory, when no opening exists before year 9999).
  std::optional<int64_t> NextOpening(int64_t unix_micros) const;

  // How many microseconds of [from_micros, to_micros) fall inside office
  // hours; 0 when to_micros <= from_micros or no hours are set. This is the
  // "in office hours" duration of first-response and resolution times.
  int64_t OpenMicrosBetween(int64_t from_micros, int64_t to_micros) const;

  // Timestamps outside [kMinSupportedMicros, kMaxSupportedMicros] (years 0001
  // to 9999) are clamped to that range by every member above.
  static constexpr int64_t kMinSupportedMicros = -62135596800LL * 1000000;  // 0001-01-01
  static constexpr int64_t kMaxSupportedMicros = 253402300799LL * 1000000;  // 9999-12-31

 private:
  OfficeHours(OfficeHoursSpec spec, const date::time_zone* zone);

  // Open local time in [Monday 1969-12-29 00:00 local, local_micros), a
  // cumulative function whose differences give open time between two local
  // instants on one UTC offset.
  int64_t OpenLocalMicrosBefore(int64_t local_micros) const;
  // The first open local instant at or after `local_micros`; nullopt when no
  // hours are set.
  std::optional<int64_t> NextOpenLocal(int64_t local_micros) const;

  OfficeHoursSpec spec_;
  // Ranges of spec_ per day, sorted by start.
  std::array<std::vector<MinuteRange>, kDaysPerWeek> sorted_;
  // Open minutes per day, and their sum over the week.
  std::array<int64_t, kDaysPerWeek> open_minutes_per_day_{};
  int64_t open_minutes_per_week_ = 0;
  bool has_hours_ = false;
  // Owned by the process-wide tz database, which lives until exit; null when
  // no hours are set.
  const date::time_zone* zone_ = nullptr;
};

}  // namespace palaver::rules
