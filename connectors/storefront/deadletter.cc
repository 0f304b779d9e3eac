#include "connectors/storefront/deadletter.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "engine/kafka_client.h"

namespace palaver::storefront {
namespace {

// Room for a dead letter carrying a 1 MiB original in base64 plus its JSON.
constexpr int kMaxDeadletterMessageBytes = 4 * 1024 * 1024;
constexpr char kContentType[] = "application/json";

std::vector<std::pair<std::string, std::string>> HeadersOf(const DeadLetter& letter) {
  return {{"palaver-deadletter-reason", letter.rejection.reason},
          {"palaver-source-topic", letter.source_topic},
          {"palaver-source-partition", std::to_string(letter.source_partition)},
          {"palaver-source-offset", std::to_string(letter.source_offset)},
          {"content-type", kContentType}};
}

// ---- Kafka ------------------------------------------------------------------

// The delivery report of one dead letter; the writer's stack frame owns it
// and waits for `done`, which any thread polling the producer may set.
struct DeliveryReport {
  std::atomic<bool> done{false};
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;  // written before done
  int32_t partition = 0;
  int64_t offset = -1;
};

void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* /*opaque*/) {
  auto* report = static_cast<DeliveryReport*>(msg->_private);
  if (report == nullptr) return;
  report->err = msg->err;
  report->partition = msg->partition;
  report->offset = msg->offset;
  report->done.store(true, std::memory_order_release);
}

class KafkaDeadLetterWriter final : public DeadLetterWriter {
 public:
  KafkaDeadLetterWriter(KafkaDeadLetterOptions options, KafkaHandle producer)
      : options_(std::move(options)), producer_(std::move(producer)) {}

  ~KafkaDeadLetterWriter() override {
    rd_kafka_flush(producer_.get(), KafkaTimeoutMs(options_.kafka_timeout));
  }

  Result<DeadLetterPosition> Write(const DeadLetter& letter) override {
    const std::string payload = EncodeDeadLetter(letter, options_.max_original_bytes);
    const auto headers = HeadersOf(letter);
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(headers.size());
    for (const auto& [name, value] : headers) {
      rd_kafka_header_add(hdrs, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
    DeliveryReport report;
    rd_kafka_vu_t vus[6];
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = options_.topic.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[1].u.i = RD_KAFKA_MSG_F_COPY;
    vus[2].vtype = RD_KAFKA_VTYPE_KEY;
    vus[2].u.mem.ptr = const_cast<char*>(letter.source_key.data());
    vus[2].u.mem.size = letter.source_key.size();
    vus[3].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[3].u.mem.ptr = const_cast<char*>(payload.data());
    vus[3].u.mem.size = payload.size();
    vus[4].vtype = RD_KAFKA_VTYPE_HEADERS;
    vus[4].u.headers = hdrs;
    vus[5].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vus[5].u.ptr = &report;
    if (rd_kafka_error_t* error = rd_kafka_produceva(producer_.get(), vus, 6); error != nullptr) {
      const rd_kafka_resp_err_t err = rd_kafka_error_code(error);
      rd_kafka_error_destroy(error);
      rd_kafka_headers_destroy(hdrs);  // not taken over on failure
      return DeliveryError(err);
    }
    // The report lives on this frame: wait for it whatever happens
    // (message.timeout.ms bounds the wait).
    while (!report.done.load(std::memory_order_acquire)) rd_kafka_poll(producer_.get(), 50);
    if (report.err != RD_KAFKA_RESP_ERR_NO_ERROR) return DeliveryError(report.err);
    return DeadLetterPosition{report.partition, report.offset};
  }

  std::string Describe() const override {
    return "Kafka topic " + options_.topic + " at " + options_.kafka_brokers;
  }

 private:
  Status DeliveryError(rd_kafka_resp_err_t err) const {
    const ErrorCode code =
        (err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT || err == RD_KAFKA_RESP_ERR__TIMED_OUT)
            ? ErrorCode::kTimeout
            : ErrorCode::kUnavailable;
    return Status::Error(code, "the dead letter was not stored in Kafka topic " + options_.topic +
                                   " (" + rd_kafka_err2name(err) + ": " + rd_kafka_err2str(err) +
                                   ")");
  }

  const KafkaDeadLetterOptions options_;
  const KafkaHandle producer_;
};

// ---- embedded ---------------------------------------------------------------

Status IoError(const std::string& what, const std::string& path) {
  return Status::Error(ErrorCode::kIoError, what + " " + path + ": " + std::strerror(errno));
}

Result<StoredDeadLetter> ParseLine(const std::string& line) {
  nlohmann::json doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("offset") ||
      !doc["offset"].is_number_integer() || !doc.contains("value") || !doc["value"].is_object()) {
    return Status::Error(ErrorCode::kCorruption, "a dead-letter line is not a record");
  }
  StoredDeadLetter out;
  out.offset = doc["offset"].get<int64_t>();
  out.timestamp_ms = doc.value("timestamp_ms", int64_t{0});
  out.value = doc["value"].dump();
  const std::string key_base64 = doc.value("key_base64", std::string());
  // Keys are decoded with the same alphabet Base64Encode writes.
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : key_base64) {
    const size_t v = kAlphabet.find(c);
    if (c == '=' || v == std::string::npos) break;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.key += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  if (doc.contains("headers") && doc["headers"].is_object()) {
    for (const auto& [name, value] : doc["headers"].items()) {
      if (value.is_string()) out.headers.emplace_back(name, value.get<std::string>());
    }
  }
  return out;
}

class EmbeddedDeadLetterWriter final : public DeadLetterWriter {
 public:
  EmbeddedDeadLetterWriter(EmbeddedDeadLetterOptions options, std::string path, int fd,
                           int64_t next_offset)
      : options_(std::move(options)), path_(std::move(path)), fd_(fd), next_offset_(next_offset) {}

  ~EmbeddedDeadLetterWriter() override { ::close(fd_); }  // releases the flock too

  Result<DeadLetterPosition> Write(const DeadLetter& letter) override {
    const std::string value = EncodeDeadLetter(letter, options_.max_original_bytes);
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [name, v] : HeadersOf(letter)) headers[name] = v;
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    std::lock_guard lock(mu_);
    nlohmann::json record = {{"offset", next_offset_},
                             {"timestamp_ms", now_ms},
                             {"key_base64", Base64Encode(letter.source_key)},
                             {"headers", std::move(headers)},
                             {"value", nlohmann::json::parse(value)}};
    const std::string line =
        record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    size_t written = 0;
    while (written < line.size()) {
      const ssize_t n = ::write(fd_, line.data() + written, line.size() - written);
      if (n < 0) {
        if (errno == EINTR) continue;
        const Status error = IoError("cannot append a dead letter to", path_);
        // Cut what a partial write left so the file stays whole lines.
        if (written > 0) (void)::ftruncate(fd_, ::lseek(fd_, 0, SEEK_END) - written);
        return error;
      }
      written += static_cast<size_t>(n);
    }
    if (options_.sync_writes && ::fdatasync(fd_) != 0) {
      return IoError("cannot sync the dead letters in", path_);
    }
    return DeadLetterPosition{0, next_offset_++};
  }

  std::string Describe() const override { return "embedded file " + path_; }

 private:
  const EmbeddedDeadLetterOptions options_;
  const std::string path_;
  const int fd_;
  std::mutex mu_;
  int64_t next_offset_;  // guarded by mu_
};

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = (uint32_t{static_cast<uint8_t>(bytes[i])} << 16) |
                       (uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8) |
                       uint32_t{static_cast<uint8_t>(bytes[i + 2])};
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
    if (rest == 2) n |= uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string EncodeDeadLetter(const DeadLetter& letter, size_t max_original_bytes) {
  const bool truncated = letter.original.size() > max_original_bytes;
  nlohmann::json value = {
      {"reason", letter.rejection.reason},
      {"message", letter.rejection.message},
      {"field", letter.rejection.field},
      {"source_topic", letter.source_topic},
      {"source_partition", letter.source_partition},
      {"source_offset", letter.source_offset},
      // The key is arbitrary bytes: base64 too.
      {"source_key_base64", Base64Encode(letter.source_key)},
      {"original_bytes", letter.original.size()},
      {"original_truncated", truncated},
      {"original_base64",
       Base64Encode(truncated ? letter.original.substr(0, max_original_bytes) : letter.original)},
  };
  if (!letter.source_attributes.empty()) {
    nlohmann::json attributes = nlohmann::json::object();
    for (const auto& [name, v] : letter.source_attributes) attributes[name] = v;
    value["source_attributes"] = std::move(attributes);
  }
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::unique_ptr<DeadLetterWriter>> OpenKafkaDeadLetterWriter(
    const KafkaDeadLetterOptions& options) {
  if (options.kafka_brokers.empty()) {
    return Status::Error(ErrorCode::kInvalidArgument, "no Kafka brokers given", "kafka_brokers");
  }
  if (options.topic.empty()) {
    return Status::Error(ErrorCode::kInvalidArgument, "the dead-letter topic must not be empty",
                         "topic");
  }
  const std::string max_message = std::to_string(kMaxDeadletterMessageBytes);
  Result<KafkaConfHandle> conf =
      MakeKafkaConf(options.kafka_brokers,
                    {{"client.id", "palaver-deadletter"},
                     {"enable.idempotence", "true"},
                     {"acks", "all"},
                     {"message.max.bytes", max_message},
                     {"message.timeout.ms",
                      std::to_string(std::max<int>(1, KafkaTimeoutMs(options.kafka_timeout)))},
                     {"linger.ms", "0"}},
                    options.kafka_properties);
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_dr_msg_cb(conf->get(), OnDelivery);
  Result<KafkaHandle> producer = NewKafkaClient(RD_KAFKA_PRODUCER, std::move(conf).value());
  if (!producer.ok()) return producer.status();
  PALAVER_RETURN_IF_ERROR(EnsureKafkaTopics(
      producer->get(), options.kafka_brokers,
      // Dead letters are kept until someone looks at them.
      {KafkaTopicSpec{
          options.topic,
          options.partitions,
          options.replication_factor,
          {{"retention.ms", "-1"}, {"retention.bytes", "-1"}, {"max.message.bytes", max_message}}}},
      options.kafka_timeout));
  spdlog::info("deadletter.opened topic={} brokers=\"{}\"", options.topic, options.kafka_brokers);
  return std::unique_ptr<DeadLetterWriter>(
      std::make_unique<KafkaDeadLetterWriter>(options, std::move(producer).value()));
}

std::string EmbeddedDeadLetterFile(std::string_view dir) {
  return (std::filesystem::path(dir) / "deadletters.jsonl").string();
}

Result<std::unique_ptr<DeadLetterWriter>> OpenEmbeddedDeadLetterWriter(
    const EmbeddedDeadLetterOptions& options) {
  if (options.dir.empty()) {
    return Status::Error(ErrorCode::kInvalidArgument, "no dead-letter directory given", "dir");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    return Status::Error(ErrorCode::kIoError, "cannot create " + options.dir + ": " + ec.message());
  }
  const std::string path = EmbeddedDeadLetterFile(options.dir);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot open", path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    Status error = IoError("another process holds", path);
    ::close(fd);
    return error;
  }
  // Count the whole lines; cut a torn last line.
  std::ifstream in(path, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t last_newline = content.rfind('\n');
  const size_t whole = last_newline == std::string::npos ? 0 : last_newline + 1;
  if (whole != content.size()) {
    spdlog::warn("deadletter.torn_record file={} bytes={} (cut)", path, content.size() - whole);
    if (::ftruncate(fd, static_cast<off_t>(whole)) != 0) {
      Status error = IoError("cannot repair", path);
      ::close(fd);
      return error;
    }
  }
  int64_t lines = 0;
  for (size_t i = 0; i < whole; ++i) lines += content[i] == '\n' ? 1 : 0;
  spdlog::info("deadletter.opened file={} records={}", path, lines);
  return std::unique_ptr<DeadLetterWriter>(
      std::make_unique<EmbeddedDeadLetterWriter>(options, path, fd, lines));
}

Result<std::unique_ptr<DeadLetterWriter>> OpenDeadLetterWriter(std::string_view kafka_brokers,
                                                               std::string_view data_dir) {
  if (!kafka_brokers.empty()) {
    KafkaDeadLetterOptions options;
    options.kafka_brokers = std::string(kafka_brokers);
    return OpenKafkaDeadLetterWriter(options);
  }
  EmbeddedDeadLetterOptions options;
  options.dir = (std::filesystem::path(data_dir) / "deadletter").string();
  return OpenEmbeddedDeadLetterWriter(options);
}

Result<std::vector<StoredDeadLetter>> ReadEmbeddedDeadLetters(std::string_view dir) {
  const std::string path = EmbeddedDeadLetterFile(dir);
  std::vector<StoredDeadLetter> out;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!std::filesystem::exists(path)) return out;
    return IoError("cannot read", path);
  }
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t start = 0;
  while (true) {
    const size_t end = content.find('\n', start);
    if (end == std::string::npos) break;  // a torn last line is not a record
    Result<StoredDeadLetter> record = ParseLine(content.substr(start, end - start));
    if (!record.ok()) {
      return Status::Error(ErrorCode::kCorruption, record.status().message() + " in " + path +
                                                       " at byte " + std::to_string(start));
    }
    out.push_back(std::move(record).value());
    start = end + 1;
  }
  return out;
}

}  // namespace palaver::storefront
