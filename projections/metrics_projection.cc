// The metrics view. Keys (under "metrics/"):
//   hours\0<shop>                 the shop's office hours (time_zone, ranges [[weekday 1-7, start,
//   end]]) conv\0<shop>\0<conversation>  per conversation: channel, started_at, day, topics,
//                                 frt_wall_us / frt_office_us (first response), res_wall_us /
//                                 res_office_us (resolution: start to the latest close), csat
//   day\0<shop>\0<YYYY-MM-DD>     per day in the shop's time zone (the zone of its
//                                 office hours when the event is applied; UTC when it
//                                 has none or the zone is unknown): "started" and "by_channel"
//                                 (conversations started), "by_topic" (conversations labelled),
//                                 "by_agent" (agent messages), and for conversations STARTED that
//                                 day "frt", "res" {count, wall_sum_us, office_count,
//                                 office_sum_us} and "csat" {count, sum}
//
// First response: from the start of the conversation to the first message by
// an agent. It is set once: reopening never changes it. Resolution: from the
// start to the latest close; closing again replaces the value in the
// aggregates. "Office" values count only time inside the shop's office hours
// (rules::OfficeHours::OpenMicrosBetween) as configured when the value is
// computed; they are null when the shop has no office hours.
//
// conv and day values are hand-packed (MetricsConvData, MetricsDayData in
// view_codec.h) and shown as the JSON above; hours is MessagePack.
#include <algorithm>
#include <chrono>
#include <map>
#include <memory>

#include <date/tz.h>

#include "engine/rules/office_hours.h"
#include "projections/view_codec.h"

namespace palaver::projections::internal {
namespace {

class MetricsProjection final : public Projection {
 public:
  std::string_view name() const override { return "metrics"; }

  Status Apply(const Event& event, const LogRecord&, ViewWriter& view) override {
    const Envelope& env = event.envelope;
    const std::string& shop = env.tenant;

    if (const auto* settings = std::get_if<SettingsChanged>(&event.body)) {
      if (const auto* hours = std::get_if<OfficeHoursSetting>(&settings->aspect)) {
        Json ranges = Json::array();
        for (const auto& r : hours->ranges)
          ranges.push_back(
              Json::array({static_cast<int>(r.weekday), r.start_minute, r.end_minute}));
        PutJson(view, Key({"hours", shop}),
                Json{{"time_zone", hours->time_zone}, {"ranges", ranges}});
      }
      return Status::Ok();
    }
    if (env.conversation_id.empty()) return Status::Ok();
    const std::string conv_key = Key({"conv", shop, env.conversation_id});

    if (const auto* started = std::get_if<ConversationStarted>(&event.body)) {
      auto local_day = ShopDay(view, shop, env.occurred_at_us);
      if (!local_day.ok()) return local_day.status();
      MetricsConvData conv;
      conv.channel = static_cast<uint8_t>(started->channel);
      conv.started_at = env.occurred_at_us;
      conv.day = std::move(local_day).value();
      view.Put(conv_key, EncodeMetricsConv(conv));
      return UpdateDay(view, shop, conv.day, [&](MetricsDayData& d) {
        d.started = d.started.value_or(0) + 1;
        Bump(d.by_channel, EnumName(started->channel));
      });
    }

    const bool wanted = std::holds_alternative<MessagePosted>(event.body) ||
                        std::holds_alternative<ConversationStatusChanged>(event.body) ||
                        std::holds_alternative<CsatSubmitted>(event.body) ||
                        std::holds_alternative<TopicsClassified>(event.body);
    if (!wanted) return Status::Ok();
    auto loaded = view.Get(conv_key);
    if (!loaded.ok()) return loaded.status();
    MetricsConvData conv;
    if (!loaded->has_value() || !DecodeMetricsConv(**loaded, &conv)) return Status::Ok();
    const int64_t started_at = conv.started_at;

    if (const auto* message = std::get_if<MessagePosted>(&event.body)) {
      if (env.actor_kind != ActorKind::kAgent) return Status::Ok();
      auto day = ShopDay(view, shop, env.occurred_at_us);
      if (!day.ok()) return day.status();
      PALAVER_RETURN_IF_ERROR(
          UpdateDay(view, shop, *day, [&](MetricsDayData& d) { Bump(d.by_agent, env.actor_id); }));
      if (conv.frt_wall_us || message->kind == MessageKind::kAutomaticReply ||
          message->kind == MessageKind::kSystem)
        return Status::Ok();
      auto office = OfficeMicros(view, shop, started_at, env.occurred_at_us);
      if (!office.ok()) return office.status();
      conv.frt_wall_us = env.occurred_at_us - started_at;
      conv.frt_office_us = *office;
      view.Put(conv_key, EncodeMetricsConv(conv));
      return UpdateDay(view, shop, conv.day, [&](MetricsDayData& d) {
        AddDuration(d.frt, *conv.frt_wall_us, conv.frt_office_us, 1);
      });
    }
    if (const auto* status = std::get_if<ConversationStatusChanged>(&event.body)) {
      if (status->to != ConversationStatus::kClosed) return Status::Ok();
      auto office = OfficeMicros(view, shop, started_at, env.occurred_at_us);
      if (!office.ok()) return office.status();
      const std::optional<int64_t> old_wall = conv.res_wall_us;
      const std::optional<int64_t> old_office = conv.res_office_us;
      conv.res_wall_us = env.occurred_at_us - started_at;
      conv.res_office_us = *office;
      view.Put(conv_key, EncodeMetricsConv(conv));
      return UpdateDay(view, shop, conv.day, [&](MetricsDayData& d) {
        if (old_wall) AddDuration(d.res, *old_wall, old_office, -1);
        AddDuration(d.res, *conv.res_wall_us, conv.res_office_us, 1);
      });
    }
    if (const auto* csat = std::get_if<CsatSubmitted>(&event.body)) {
      const std::optional<int64_t> old = conv.csat;
      conv.csat = csat->rating;
      view.Put(conv_key, EncodeMetricsConv(conv));
      return UpdateDay(view, shop, conv.day, [&](MetricsDayData& d) {
        auto& c = d.csat ? *d.csat : d.csat.emplace();
        if (old) {
          c.count -= 1;
          c.sum -= *old;
        }
        c.count += 1;
        c.sum += csat->rating;
      });
    }
    if (const auto* topics = std::get_if<TopicsClassified>(&event.body)) {
      std::vector<uint8_t> fresh;
      for (const TopicScore& score : topics->topics) {
        if (score.confidence < 0.9) continue;
        const auto topic = static_cast<uint8_t>(score.topic);
        if (std::find(conv.topics.begin(), conv.topics.end(), topic) != conv.topics.end()) continue;
        conv.topics.push_back(topic);
        fresh.push_back(topic);
      }
      if (fresh.empty()) return Status::Ok();
      view.Put(conv_key, EncodeMetricsConv(conv));
      auto day = ShopDay(view, shop, env.occurred_at_us);
      if (!day.ok()) return day.status();
      return UpdateDay(view, shop, *day, [&](MetricsDayData& d) {
        for (uint8_t t : fresh) Bump(d.by_topic, EnumName(static_cast<Topic>(t)));
      });
    }
    return Status::Ok();
  }

 private:
  static void Bump(MetricsDayData::Counters& counters, std::string_view name) {
    auto it = std::lower_bound(counters.begin(), counters.end(), name,
                               [](const auto& c, std::string_view n) { return c.first < n; });
    if (it == counters.end() || it->first != name) it = counters.emplace(it, name, 0);
    ++it->second;
  }

  static void AddDuration(std::optional<MetricsDayData::Durations>& agg, int64_t wall,
                          const std::optional<int64_t>& office, int64_t sign) {
    auto& a = agg ? *agg : agg.emplace();
    a.count += sign;
    a.wall_sum_us += sign * wall;
    if (office) {
      a.has_office = true;
      a.office_count += sign;
      a.office_sum_us += sign * *office;
    }
  }

  template <class F>
  static Status UpdateDay(ViewWriter& view, const std::string& shop, const std::string& day,
                          F&& change) {
    const std::string key = Key({"day", shop, day});
    auto current = view.Get(key);
    if (!current.ok()) return current.status();
    MetricsDayData d;
    if (current->has_value() && !DecodeMetricsDay(**current, &d)) d = MetricsDayData();
    change(d);
    view.Put(key, EncodeMetricsDay(d));
    return Status::Ok();
  }

  // The shop's office hours and time zone as stored now, resolved once per
  // distinct stored value and thread. Only a cache of a pure function, so it
  // cannot make two runs differ; one per thread, because partitions are
  // applied on several threads at once and a shared one behind a lock made
  // them wait for each other on almost every event. The result is valid
  // until the thread's next call.
  struct ShopHours {
    std::optional<rules::OfficeHours> hours;  // nullopt: none, or they do not validate
    const date::time_zone* zone = nullptr;    // nullptr: UTC
  };
  static Result<const ShopHours*> Hours(ViewWriter& view, const std::string& shop) {
    static const ShopHours kNone;
    thread_local std::map<std::string, ShopHours, std::less<>> cache;
    auto stored = view.Get(Key({"hours", shop}));
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) return &kNone;
    auto it = cache.find(**stored);
    if (it != cache.end()) return &it->second;
    Json spec_json = Unpack(**stored);
    ShopHours entry;
    rules::OfficeHoursSpec spec;
    spec.time_zone = spec_json.value("time_zone", std::string());
    if (spec_json.contains("ranges"))
      for (const Json& r : spec_json["ranges"]) {
        const int weekday = r[0].get<int>() - 1;
        if (weekday < 0 || weekday >= rules::kDaysPerWeek) continue;
        spec.weekly[static_cast<size_t>(weekday)].push_back(
            rules::MinuteRange{r[1].get<int>(), r[2].get<int>()});
      }
    if (!spec.time_zone.empty()) {
      try {
        entry.zone = date::locate_zone(spec.time_zone);
      } catch (const std::exception&) {
        entry.zone = nullptr;  // unknown zone: UTC days
      }
    }
    auto created = rules::OfficeHours::Create(std::move(spec));
    if (created.ok() && created->has_hours()) entry.hours = std::move(created).value();
    if (cache.size() > 1024) cache.clear();  // bound memory
    return &cache.emplace(**stored, std::move(entry)).first->second;
  }

  // Office-hours time in [from, to) under the shop's current hours; null
  // when the shop has none (or they do not validate).
  Result<std::optional<int64_t>> OfficeMicros(ViewWriter& view, const std::string& shop,
                                              int64_t from, int64_t to) {
    auto hours = Hours(view, shop);
    if (!hours.ok()) return hours.status();
    if (!(*hours)->hours) return std::optional<int64_t>();
    return std::optional<int64_t>((*hours)->hours->OpenMicrosBetween(from, to));
  }

  // "YYYY-MM-DD" of `at_us` in the shop's time zone (UTC without one).
  Result<std::string> ShopDay(ViewWriter& view, const std::string& shop, int64_t at_us) {
    auto hours = Hours(view, shop);
    if (!hours.ok()) return hours.status();
    const date::time_zone* zone = (*hours)->zone;  // zones live for the whole process
    if (zone == nullptr) return UtcDay(at_us);
    const auto local = zone->to_local(
        std::chrono::sys_time<std::chrono::microseconds>(std::chrono::microseconds(at_us)));
    // The local wall-clock time, read as if it were UTC, falls on the local day.
    return UtcDay(local.time_since_epoch().count());
  }
};

}  // namespace

std::unique_ptr<Projection> NewMetricsProjection() { return std::make_unique<MetricsProjection>(); }

}  // namespace palaver::projections::internal
