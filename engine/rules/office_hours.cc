#include "engine/rules/office_hours.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <string_view>
#include <utility>

#include <date/tz.h>

namespace palaver::rules {
namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerMinute = 60 * kMicrosPerSecond;
constexpr int64_t kMicrosPerDay = int64_t{kMinutesPerDay} * kMicrosPerMinute;

constexpr std::array<std::string_view, kDaysPerWeek> kDayNames = {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t Clamp(int64_t micros) {
  return std::clamp(micros, OfficeHours::kMinSupportedMicros, OfficeHours::kMaxSupportedMicros);
}

// Seconds from the tz database (which uses sys_seconds::min()/max() for "no
// transition") clamped before scaling, so the scaling cannot overflow.
int64_t SecondsToClampedMicros(int64_t seconds) {
  constexpr int64_t kMinSeconds = OfficeHours::kMinSupportedMicros / kMicrosPerSecond;
  constexpr int64_t kMaxSeconds = OfficeHours::kMaxSupportedMicros / kMicrosPerSecond + 1;
  return std::clamp(seconds, kMinSeconds, kMaxSeconds) * kMicrosPerSecond;
}

// A stretch of UTC time [begin, end) over which the zone's UTC offset is
// constant, so local time = UTC + offset is monotonic within it. Splitting
// intervals at these boundaries is what makes DST changes come out right.
struct OffsetSegment {
  int64_t begin_micros;
  int64_t end_micros;
  int64_t offset_micros;
};

OffsetSegment SegmentAt(const date::time_zone& zone, int64_t unix_micros) {
  const date::sys_seconds at{std::chrono::seconds{FloorDiv(unix_micros, kMicrosPerSecond)}};
  const date::sys_info info = zone.get_info(at);
  return OffsetSegment{
      SecondsToClampedMicros(info.begin.time_since_epoch().count()),
      SecondsToClampedMicros(info.end.time_since_epoch().count()),
      static_cast<int64_t>(info.offset.count()) * kMicrosPerSecond,
  };
}

// Local days are counted from Monday 1969-12-29, so that day % 7 is the
// Weekday (1970-01-01 was a Thursday).
constexpr int64_t kEpochDayToMondayBased = 3;

struct LocalDay {
  int64_t day;     // days since Monday 1969-12-29
  int weekday;     // Weekday value
  int64_t in_day;  // micros since local midnight
};

LocalDay SplitLocal(int64_t local_micros) {
  const int64_t epoch_day = FloorDiv(local_micros, kMicrosPerDay);
  const int64_t day = epoch_day + kEpochDayToMondayBased;
  return LocalDay{day, static_cast<int>(day - FloorDiv(day, kDaysPerWeek) * kDaysPerWeek),
                  local_micros - epoch_day * kMicrosPerDay};
}

}  // namespace

Result<OfficeHours> OfficeHours::Create(OfficeHoursSpec spec) {
  bool has_hours = false;
  for (int day = 0; day < kDaysPerWeek; ++day) {
    const std::vector<MinuteRange>& ranges = spec.weekly[day];
    for (size_t i = 0; i < ranges.size(); ++i) {
      const MinuteRange& r = ranges[i];
      const std::string field =
          "weekly." + std::string(kDayNames[day]) + "[" + std::to_string(i) + "]";
      if (r.start_minute < 0 || r.end_minute > kMinutesPerDay || r.start_minute >= r.end_minute) {
        return Status::Error(
            ErrorCode::kInvalidArgument,
            "office hours range " + std::to_string(r.start_minute) + "-" +
                std::to_string(r.end_minute) +
                " is not a range of minutes within one day: it needs 0 <= start < end <= 1440 "
                "(a range past midnight is two ranges, one on each day)",
            field);
      }
      for (size_t j = 0; j < i; ++j) {
        const MinuteRange& other = ranges[j];
        if (r.start_minute < other.end_minute && other.start_minute < r.end_minute) {
          return Status::Error(ErrorCode::kInvalidArgument,
                               "office hours range " + std::to_string(r.start_minute) + "-" +
                                   std::to_string(r.end_minute) + " overlaps range " +
                                   std::to_string(other.start_minute) + "-" +
                                   std::to_string(other.end_minute) + " of the same day",
                               field);
        }
      }
      has_hours = true;
    }
  }

  const date::time_zone* zone = nullptr;
  if (spec.time_zone.empty()) {
    if (has_hours) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "office hours need a time zone, e.g. \"Europe/Berlin\"", "time_zone");
    }
  } else {
    try {
      (void)date::get_tzdb();
    } catch (const std::exception& e) {
      return Status::Error(ErrorCode::kUnavailable,
                           std::string("the time zone database could not be loaded: ") + e.what());
    }
    try {
      zone = date::locate_zone(spec.time_zone);
    } catch (const std::exception&) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "unknown time zone \"" + spec.time_zone +
                               "\"; use an IANA name such as \"Europe/Berlin\"",
                           "time_zone");
    }
  }
  return OfficeHours(std::move(spec), has_hours ? zone : nullptr);
}

OfficeHours::OfficeHours(OfficeHoursSpec spec, const date::time_zone* zone)
    : spec_(std::move(spec)), sorted_(spec_.weekly), zone_(zone) {
  for (int day = 0; day < kDaysPerWeek; ++day) {
    std::sort(
        sorted_[day].begin(), sorted_[day].end(),
        [](const MinuteRange& a, const MinuteRange& b) { return a.start_minute < b.start_minute; });
    for (const MinuteRange& r : sorted_[day]) {
      open_minutes_per_day_[day] += r.end_minute - r.start_minute;
    }
    open_minutes_per_week_ += open_minutes_per_day_[day];
  }
  has_hours_ = zone_ != nullptr && open_minutes_per_week_ > 0;
}

bool OfficeHours::IsOpenAt(int64_t unix_micros) const {
  if (!has_hours_) return false;
  unix_micros = Clamp(unix_micros);
  const OffsetSegment segment = SegmentAt(*zone_, unix_micros);
  const LocalDay local = SplitLocal(unix_micros + segment.offset_micros);
  for (const MinuteRange& r : sorted_[local.weekday]) {
    if (local.in_day >= r.start_minute * kMicrosPerMinute &&
        local.in_day < r.end_minute * kMicrosPerMinute) {
      return true;
    }
  }
  return false;
}

std::optional<std::string> OfficeHours::AutoReplyFor(int64_t unix_micros) const {
  if (!has_hours_) return std::nullopt;
  const std::string& message =
      IsOpenAt(unix_micros) ? spec_.during_hours_message : spec_.outside_hours_message;
  if (message.empty()) return std::nullopt;
  return message;
}

int64_t OfficeHours::OpenLocalMicrosBefore(int64_t local_micros) const {
  const LocalDay local = SplitLocal(local_micros);
  const int64_t weeks = FloorDiv(local.day, kDaysPerWeek);
  int64_t open = weeks * open_minutes_per_week_ * kMicrosPerMinute;
  for (int day = 0; day < local.weekday; ++day) {
    open += open_minutes_per_day_[day] * kMicrosPerMinute;
  }
  for (const MinuteRange& r : sorted_[local.weekday]) {
    const int64_t start = r.start_minute * kMicrosPerMinute;
    const int64_t end = r.end_minute * kMicrosPerMinute;
    open += std::clamp(local.in_day, start, end) - start;
  }
  return open;
}

std::optional<int64_t> OfficeHours::NextOpenLocal(int64_t local_micros) const {
  if (!has_hours_) return std::nullopt;
  const LocalDay local = SplitLocal(local_micros);
  const int64_t midnight = local_micros - local.in_day;
  // Any weekly schedule with a range opens within 7 days of any instant.
  for (int ahead = 0; ahead <= kDaysPerWeek; ++ahead) {
    const int64_t day_start = midnight + ahead * kMicrosPerDay;
    for (const MinuteRange& r : sorted_[(local.weekday + ahead) % kDaysPerWeek]) {
      const int64_t start = day_start + r.start_minute * kMicrosPerMinute;
      const int64_t end = day_start + r.end_minute * kMicrosPerMinute;
      if (end > local_micros) return std::max(start, local_micros);
    }
  }
  return std::nullopt;
}

std::optional<int64_t> OfficeHours::NextOpening(int64_t unix_micros) const {
  if (!has_hours_) return std::nullopt;
  int64_t at = Clamp(unix_micros);
  while (at < kMaxSupportedMicros) {
    const OffsetSegment segment = SegmentAt(*zone_, at);
    const std::optional<int64_t> local = NextOpenLocal(at + segment.offset_micros);
    if (local.has_value()) {
      const int64_t candidate = *local - segment.offset_micros;
      if (candidate < segment.end_micros) return candidate;
    }
    // The opening lies in local time this offset never reaches (e.g. inside
    // a skipped hour, or after the next change): go on from the change.
    if (segment.end_micros <= at) break;
    at = segment.end_micros;
  }
  return std::nullopt;
}

int64_t OfficeHours::OpenMicrosBetween(int64_t from_micros, int64_t to_micros) const {
  if (!has_hours_) return 0;
  from_micros = Clamp(from_micros);
  to_micros = Clamp(to_micros);
  int64_t open = 0;
  int64_t at = from_micros;
  while (at < to_micros) {
    const OffsetSegment segment = SegmentAt(*zone_, at);
    const int64_t until =
        segment.end_micros > at ? std::min(segment.end_micros, to_micros) : to_micros;
    open += OpenLocalMicrosBefore(until + segment.offset_micros) -
            OpenLocalMicrosBefore(at + segment.offset_micros);
    at = until;
  }
  return open;
}

}  // namespace palaver::rules
