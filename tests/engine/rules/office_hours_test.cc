#include "engine/rules/office_hours.h"

#include <chrono>
#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace palaver::rules {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kMinute = 60'000'000;
constexpr int64_t kHour = 60 * kMinute;

// Microseconds since the epoch of a UTC civil time.
int64_t Utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  using namespace std::chrono;
  const sys_days date{year{y} / month{mo} / day{d}};
  return duration_cast<microseconds>(date.time_since_epoch() + hours{h} + minutes{mi} + seconds{s})
      .count();
}

constexpr int Hm(int h, int m = 0) { return h * 60 + m; }

OfficeHoursSpec Weekdays(std::string zone, MinuteRange range) {
  OfficeHoursSpec spec;
  spec.time_zone = std::move(zone);
  for (Weekday day : {Weekday::kMonday, Weekday::kTuesday, Weekday::kWednesday, Weekday::kThursday,
                      Weekday::kFriday}) {
    spec.weekly[static_cast<int>(day)].push_back(range);
  }
  spec.during_hours_message = "Hi! An agent will be with you shortly.";
  spec.outside_hours_message = "We are closed; we answer from 9:00 on weekdays.";
  return spec;
}

OfficeHours Make(OfficeHoursSpec spec) {
  Result<OfficeHours> hours = OfficeHours::Create(std::move(spec));
  EXPECT_TRUE(hours.ok()) << hours.status().ToString();
  return std::move(hours).value();
}

OfficeHours OnlySunday(std::string zone, MinuteRange range) {
  OfficeHoursSpec spec;
  spec.time_zone = std::move(zone);
  spec.weekly[static_cast<int>(Weekday::kSunday)].push_back(range);
  return Make(std::move(spec));
}

// --- Create ---------------------------------------------------------------

TEST(OfficeHoursTest, UnknownTimeZoneNamesTheField) {
  Result<OfficeHours> hours = OfficeHours::Create(Weekdays("Europe/Atlantis", {Hm(9), Hm(17)}));
  ASSERT_FALSE(hours.ok());
  EXPECT_EQ(hours.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(hours.status().field(), "time_zone");
  EXPECT_THAT(hours.status().message(), HasSubstr("Europe/Atlantis"));
}

TEST(OfficeHoursTest, RangesNeedATimeZone) {
  Result<OfficeHours> hours = OfficeHours::Create(Weekdays("", {Hm(9), Hm(17)}));
  ASSERT_FALSE(hours.ok());
  EXPECT_EQ(hours.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(hours.status().field(), "time_zone");
}

TEST(OfficeHoursTest, RangesMustLieWithinOneDay) {
  for (MinuteRange bad : {MinuteRange{-1, 60}, MinuteRange{0, 1441}, MinuteRange{600, 600},
                          MinuteRange{700, 600}, MinuteRange{Hm(22), Hm(26)}}) {
    OfficeHoursSpec spec;
    spec.time_zone = "Europe/Berlin";
    spec.weekly[static_cast<int>(Weekday::kWednesday)] = {{Hm(1), Hm(2)}, bad};
    Result<OfficeHours> hours = OfficeHours::Create(spec);
    ASSERT_FALSE(hours.ok()) << bad.start_minute << "-" << bad.end_minute;
    EXPECT_EQ(hours.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(hours.status().field(), "weekly.wednesday[1]");
  }
}

TEST(OfficeHoursTest, OverlappingRangesAreRefusedTouchingOnesAccepted) {
  OfficeHoursSpec spec;
  spec.time_zone = "Europe/Berlin";
  spec.weekly[static_cast<int>(Weekday::kMonday)] = {{Hm(13), Hm(17)}, {Hm(9), Hm(13, 30)}};
  Result<OfficeHours> hours = OfficeHours::Create(spec);
  ASSERT_FALSE(hours.ok());
  EXPECT_EQ(hours.status().field(), "weekly.monday[1]");
  EXPECT_THAT(hours.status().message(), HasSubstr("overlaps"));

  spec.weekly[static_cast<int>(Weekday::kMonday)] = {{Hm(13), Hm(17)}, {Hm(9), Hm(13)}};
  EXPECT_TRUE(OfficeHours::Create(spec).ok());
  // A whole day is one range 0-1440.
  spec.weekly[static_cast<int>(Weekday::kMonday)] = {{0, kMinutesPerDay}};
  EXPECT_TRUE(OfficeHours::Create(spec).ok());
}

TEST(OfficeHoursTest, NoHoursAtAllIsValidAndNeverOpen) {
  OfficeHoursSpec spec;
  spec.during_hours_message = "hello";
  spec.outside_hours_message = "closed";
  const OfficeHours hours = Make(spec);
  EXPECT_FALSE(hours.has_hours());
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 1, 15, 12)));
  EXPECT_EQ(hours.AutoReplyFor(Utc(2024, 1, 15, 12)), std::nullopt);
  EXPECT_EQ(hours.NextOpening(Utc(2024, 1, 15, 12)), std::nullopt);
  EXPECT_EQ(hours.OpenMicrosBetween(Utc(2024, 1, 1), Utc(2025, 1, 1)), 0);

  spec.time_zone = "Europe/Berlin";  // a zone alone does not make hours
  EXPECT_FALSE(Make(spec).has_hours());
}

// --- IsOpenAt and AutoReplyFor ---------------------------------------------

TEST(OfficeHoursTest, OpenOnTheShopsLocalClockWinterAndSummer) {
  const OfficeHours hours = Make(Weekdays("Europe/Berlin", {Hm(9), Hm(17)}));
  // Monday 2024-01-15, CET = UTC+1.
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 1, 15, 7, 59, 59)));
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 1, 15, 8)));
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 1, 15, 16) - 1));
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 1, 15, 16)));
  // Monday 2024-07-15, CEST = UTC+2.
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 7, 15, 6, 59)));
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 7, 15, 7)));
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 7, 15, 15)));
  // Saturday and Sunday closed.
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 1, 13, 10)));
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 1, 14, 10)));
}

TEST(OfficeHoursTest, WeekdayIsTheLocalOne) {
  // Sunday 23:30 UTC is already Monday 08:30 in Tokyo.
  const OfficeHours hours = Make(Weekdays("Asia/Tokyo", {Hm(8), Hm(12)}));
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 1, 14, 23, 30)));
  // Friday 23:30 UTC is Saturday in Tokyo.
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 1, 19, 23, 30)));
}

TEST(OfficeHoursTest, HalfHourOffsets) {
  const OfficeHours hours = Make(Weekdays("Asia/Kolkata", {Hm(9), Hm(17)}));  // UTC+5:30
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 1, 15, 3, 29)));
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 1, 15, 3, 30)));
}

TEST(OfficeHoursTest, OvernightHoursAreTwoRanges) {
  OfficeHoursSpec spec;
  spec.time_zone = "America/New_York";
  spec.weekly[static_cast<int>(Weekday::kFriday)] = {{Hm(22), kMinutesPerDay}};
  spec.weekly[static_cast<int>(Weekday::kSaturday)] = {{0, Hm(2)}};
  const OfficeHours hours = Make(spec);
  // Friday 2024-01-19 22:00 EST = Saturday 03:00 UTC.
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 1, 20, 2, 59)));
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 1, 20, 3)));
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 1, 20, 5)));  // midnight local
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 1, 20, 6, 59)));
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 1, 20, 7)));
  EXPECT_EQ(hours.OpenMicrosBetween(Utc(2024, 1, 20), Utc(2024, 1, 21)), 4 * kHour);
}

TEST(OfficeHoursTest, AutoReplyInsideAndOutside) {
  const OfficeHoursSpec spec = Weekdays("Europe/Berlin", {Hm(9), Hm(17)});
  const OfficeHours hours = Make(spec);
  EXPECT_EQ(hours.AutoReplyFor(Utc(2024, 1, 15, 10)), spec.during_hours_message);
  EXPECT_EQ(hours.AutoReplyFor(Utc(2024, 1, 15, 20)), spec.outside_hours_message);
  EXPECT_EQ(hours.AutoReplyFor(Utc(2024, 1, 13, 10)), spec.outside_hours_message);
}

TEST(OfficeHoursTest, EmptyMessageMeansNoAutoReply) {
  OfficeHoursSpec spec = Weekdays("Europe/Berlin", {Hm(9), Hm(17)});
  spec.during_hours_message.clear();
  const OfficeHours hours = Make(spec);
  EXPECT_EQ(hours.AutoReplyFor(Utc(2024, 1, 15, 10)), std::nullopt);
  EXPECT_EQ(hours.AutoReplyFor(Utc(2024, 1, 15, 20)), spec.outside_hours_message);
}

TEST(OfficeHoursTest, ClockOverloadsReadTheClock) {
  const OfficeHoursSpec spec = Weekdays("Europe/Berlin", {Hm(9), Hm(17)});
  const OfficeHours hours = Make(spec);
  ManualClock clock(Utc(2024, 1, 15, 10));
  EXPECT_TRUE(hours.IsOpenNow(clock));
  EXPECT_EQ(hours.AutoReplyNow(clock), spec.during_hours_message);
  clock.AdvanceMicros(8 * kHour);
  EXPECT_FALSE(hours.IsOpenNow(clock));
  EXPECT_EQ(hours.AutoReplyNow(clock), spec.outside_hours_message);
}

// --- Daylight-saving changes ----------------------------------------------
// Europe/Berlin 2024: 02:00 CET -> 03:00 CEST on Sun 03-31 at 01:00 UTC;
//                     03:00 CEST -> 02:00 CET on Sun 10-27 at 01:00 UTC.
// America/New_York 2024: 02:00 EST -> 03:00 EDT on Sun 03-10 at 07:00 UTC;
//                        02:00 EDT -> 01:00 EST on Sun 11-03 at 06:00 UTC.

TEST(OfficeHoursTest, SkippedHourIsNeverOpenBerlin) {
  const OfficeHours hours = OnlySunday("Europe/Berlin", {Hm(2), Hm(3)});
  for (int64_t t = Utc(2024, 3, 30, 20); t < Utc(2024, 3, 31, 6); t += kMinute) {
    EXPECT_FALSE(hours.IsOpenAt(t)) << t;
  }
  EXPECT_EQ(hours.OpenMicrosBetween(Utc(2024, 3, 30), Utc(2024, 4, 1)), 0);
  // The Sunday before and after: open 1 hour.
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 3, 24, 1, 30)));  // 02:30 CET
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 4, 7, 0, 30)));   // 02:30 CEST
  EXPECT_EQ(hours.OpenMicrosBetween(Utc(2024, 4, 6), Utc(2024, 4, 8)), kHour);
  // And the next opening after the skipped hour is a week later.
  EXPECT_EQ(hours.NextOpening(Utc(2024, 3, 30, 12)), Utc(2024, 4, 7, 0));
}

TEST(OfficeHoursTest, SkippedHourIsNeverOpenNewYork) {
  const OfficeHours hours = OnlySunday("America/New_York", {Hm(2), Hm(3)});
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 3, 10, 6, 59)));  // 01:59 EST
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 3, 10, 7)));      // 03:00 EDT
  EXPECT_EQ(hours.OpenMicrosBetween(Utc(2024, 3, 9), Utc(2024, 3, 12)), 0);
  EXPECT_EQ(hours.NextOpening(Utc(2024, 3, 9)), Utc(2024, 3, 17, 6));  // 02:00 EDT
}

TEST(OfficeHoursTest, RangeAroundTheSkippedHourIsAnHourShorter) {
  const OfficeHours hours = OnlySunday("Europe/Berlin", {Hm(1), Hm(5)});
  EXPECT_EQ(hours.OpenMicrosBetween(Utc(2024, 3, 30), Utc(2024, 4, 1)), 3 * kHour);
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 3, 31, 0, 59)));  // 01:59 CET
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 3, 31, 1)));      // 03:00 CEST
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 3, 31, 3)));     // 05:00 CEST
}

TEST(OfficeHoursTest, RepeatedHourIsOpenTwiceNewYork) {
  const OfficeHours hours = OnlySunday("America/New_York", {Hm(1), Hm(2)});
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 11, 3, 4, 59)));  // 00:59 EDT
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 11, 3, 5, 30)));   // 01:30 EDT
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 11, 3, 6, 30)));   // 01:30 EST, the second time
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 11, 3, 7)));      // 02:00 EST
  EXPECT_EQ(hours.OpenMicrosBetween(Utc(2024, 11, 2), Utc(2024, 11, 4)), 2 * kHour);
  EXPECT_EQ(hours.NextOpening(Utc(2024, 11, 2)), Utc(2024, 11, 3, 5));
  // Open continuously through the change: the next opening is "now".
  EXPECT_EQ(hours.NextOpening(Utc(2024, 11, 3, 6)), Utc(2024, 11, 3, 6));
}

TEST(OfficeHoursTest, RepeatedHourIsOpenTwiceBerlin) {
  const OfficeHours hours = OnlySunday("Europe/Berlin", {Hm(2), Hm(3)});
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 10, 27, 0, 30)));  // 02:30 CEST
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 10, 27, 1, 30)));  // 02:30 CET
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 10, 27, 2)));     // 03:00 CET
  EXPECT_EQ(hours.OpenMicrosBetween(Utc(2024, 10, 26), Utc(2024, 10, 28)), 2 * kHour);
}

TEST(OfficeHoursTest, RangeEndingInTheRepeatedHour) {
  // 00:00-01:30 in New York on fall-back day: 00:00-01:30 EDT is 1.5 hours,
  // then 01:00-01:30 EST comes round again: 2 hours in all.
  const OfficeHours hours = OnlySunday("America/New_York", {0, Hm(1, 30)});
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 11, 3, 5, 15)));   // 01:15 EDT
  EXPECT_FALSE(hours.IsOpenAt(Utc(2024, 11, 3, 5, 45)));  // 01:45 EDT
  EXPECT_TRUE(hours.IsOpenAt(Utc(2024, 11, 3, 6, 15)));   // 01:15 EST
  EXPECT_EQ(hours.OpenMicrosBetween(Utc(2024, 11, 2), Utc(2024, 11, 4)), 2 * kHour);
  EXPECT_EQ(hours.NextOpening(Utc(2024, 11, 3, 5, 45)), Utc(2024, 11, 3, 6));
}

// --- NextOpening -------------------------------------------------------------

TEST(OfficeHoursTest, NextOpeningIsNowWhenOpen) {
  const OfficeHours hours = Make(Weekdays("Europe/Berlin", {Hm(9), Hm(17)}));
  const int64_t now = Utc(2024, 1, 15, 10, 17, 3) + 123;
  EXPECT_EQ(hours.NextOpening(now), now);
}

TEST(OfficeHoursTest, NextOpeningLaterTheSameDayAndAcrossTheWeekend) {
  const OfficeHours hours = Make(Weekdays("Europe/Berlin", {Hm(9), Hm(17)}));
  EXPECT_EQ(hours.NextOpening(Utc(2024, 1, 15, 6)), Utc(2024, 1, 15, 8));
  // Closing time is closed: the next opening is the next morning.
  EXPECT_EQ(hours.NextOpening(Utc(2024, 1, 15, 16)), Utc(2024, 1, 16, 8));
  // Friday evening -> Monday 09:00.
  EXPECT_EQ(hours.NextOpening(Utc(2024, 1, 19, 18)), Utc(2024, 1, 22, 8));
  // Friday evening before the spring change -> Monday 09:00 CEST = 07:00 UTC.
  EXPECT_EQ(hours.NextOpening(Utc(2024, 3, 29, 18)), Utc(2024, 4, 1, 7));
}

// --- OpenMicrosBetween -------------------------------------------------------

TEST(OfficeHoursTest, OpenTimeOfAnEmptyOrReversedIntervalIsZero) {
  const OfficeHours hours = Make(Weekdays("Europe/Berlin", {Hm(9), Hm(17)}));
  EXPECT_EQ(hours.OpenMicrosBetween(Utc(2024, 1, 15, 10), Utc(2024, 1, 15, 10)), 0);
  EXPECT_EQ(hours.OpenMicrosBetween(Utc(2024, 1, 15, 12), Utc(2024, 1, 15, 10)), 0);
}

TEST(OfficeHoursTest, OpenTimeWithinOneDay) {
  const OfficeHours hours = Make(Weekdays("Europe/Berlin", {Hm(9), Hm(17)}));
  // 10:00 to 10:00:00.5 local.
  EXPECT_EQ(hours.OpenMicrosBetween(Utc(2024, 1, 15, 9), Utc(2024, 1, 15, 9) + 500'000), 500'000);
  // 07:00 to 20:00 local: the 8 hours of the day.
  EXPECT_EQ(hours.OpenMicrosBetween(Utc(2024, 1, 15, 6), Utc(2024, 1, 15, 19)), 8 * kHour);
}

TEST(OfficeHoursTest, OpenTimeAcrossAWeekend) {
  const OfficeHours hours = Make(Weekdays("Europe/Berlin", {Hm(9), Hm(17)}));
  // Friday 16:00 CET -> Monday 10:00 CET: 1 hour Friday, 1 hour Monday.
  EXPECT_EQ(hours.OpenMicrosBetween(Utc(2024, 1, 12, 15), Utc(2024, 1, 15, 9)), 2 * kHour);
}

TEST(OfficeHoursTest, OpenTimeAcrossAWeekendWithADstChange) {
  const OfficeHours hours = Make(Weekdays("Europe/Berlin", {Hm(9), Hm(17)}));
  // Friday 2024-03-29 16:00 CET -> Monday 04-01 10:00 CEST: 65 hours of
  // elapsed time (one hour skipped), 2 of them in office hours.
  const int64_t from = Utc(2024, 3, 29, 15);
  const int64_t to = Utc(2024, 4, 1, 8);
  EXPECT_EQ(to - from, 65 * kHour);
  EXPECT_EQ(hours.OpenMicrosBetween(from, to), 2 * kHour);
  // Autumn in New York: Friday 2024-11-01 16:00 EDT -> Monday 11-04 10:00 EST.
  const OfficeHours ny = Make(Weekdays("America/New_York", {Hm(9), Hm(17)}));
  EXPECT_EQ(ny.OpenMicrosBetween(Utc(2024, 11, 1, 20), Utc(2024, 11, 4, 15)), 2 * kHour);
}

TEST(OfficeHoursTest, OpenTimeOverAYear) {
  const OfficeHours hours = Make(Weekdays("Europe/Berlin", {Hm(9), Hm(17)}));
  // 2024 (local) has 262 weekdays; every one has 8 local hours.
  EXPECT_EQ(hours.OpenMicrosBetween(Utc(2023, 12, 31, 23), Utc(2024, 12, 31, 23)), 262 * 8 * kHour);
}

// Cross-checks NextOpening and OpenMicrosBetween against minute-by-minute
// IsOpenAt over three weeks around both 2024 changes in New York and Berlin,
// with ranges that touch the skipped and repeated hours.
TEST(OfficeHoursTest, AgreesWithMinuteByMinuteScanAroundDstChanges) {
  for (const char* zone : {"America/New_York", "Europe/Berlin"}) {
    OfficeHoursSpec spec;
    spec.time_zone = zone;
    spec.weekly[static_cast<int>(Weekday::kSunday)] = {{Hm(1, 30), Hm(2, 30)}, {Hm(20), Hm(24)}};
    spec.weekly[static_cast<int>(Weekday::kMonday)] = {{0, Hm(1)}, {Hm(9), Hm(17)}};
    spec.weekly[static_cast<int>(Weekday::kWednesday)] = {{Hm(12, 15), Hm(12, 45)}};
    const OfficeHours hours = Make(spec);
    for (int64_t start : {Utc(2024, 3, 1), Utc(2024, 10, 20)}) {
      const int64_t end = start + 21 * 24 * kHour;
      int64_t open_minutes = 0;
      std::optional<int64_t> next_open;  // the next open minute, scanning backwards
      for (int64_t t = end - kMinute; t >= start; t -= kMinute) {
        if (hours.IsOpenAt(t)) {
          ++open_minutes;
          next_open = t;
        }
        if (next_open.has_value()) {
          ASSERT_EQ(hours.NextOpening(t), next_open) << zone << " at " << t;
        }
      }
      EXPECT_EQ(hours.OpenMicrosBetween(start, end), open_minutes * kMinute) << zone;
      EXPECT_GT(open_minutes, 0);
    }
  }
}

TEST(OfficeHoursTest, ExtremeTimestampsAreClamped) {
  const OfficeHours hours = Make(Weekdays("Europe/Berlin", {Hm(9), Hm(17)}));
  const int64_t min = std::numeric_limits<int64_t>::min();
  const int64_t max = std::numeric_limits<int64_t>::max();
  (void)hours.IsOpenAt(min);
  (void)hours.IsOpenAt(max);
  EXPECT_TRUE(hours.NextOpening(min).has_value());
  EXPECT_EQ(hours.OpenMicrosBetween(max - 1, max), 0);
  EXPECT_GT(hours.OpenMicrosBetween(Utc(2000, 1, 1), max), 0);
}

TEST(OfficeHoursTest, CopiesAreIndependentValues) {
  const OfficeHours original = Make(Weekdays("Europe/Berlin", {Hm(9), Hm(17)}));
  const OfficeHours copy = original;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(copy.spec().time_zone, "Europe/Berlin");
  EXPECT_TRUE(copy.IsOpenAt(Utc(2024, 1, 15, 10)));
}

}  // namespace
}  // namespace palaver::rules
