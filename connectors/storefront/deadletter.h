// DeadLetterWriter: where storefront input that cannot become events is
// parked, with the reason and the original bytes, so nothing is dropped.
//
// One record format for every source (the Kafka consumer of
// palaver.storefront, the signed HTTP endpoint, gateways):
//
//   key   = the source record's key (Kafka key; the shop for HTTP)
//   value = JSON {"reason", "message", "field", "source_topic",
//                 "source_partition", "source_offset", "source_key_base64",
//                 "original_base64", "original_bytes", "original_truncated"}
//           plus, when the source has them, "source_attributes" (an object of
//           strings, e.g. the HTTP path and remote address)
//   headers "palaver-deadletter-reason", "palaver-source-topic",
//           "palaver-source-partition", "palaver-source-offset",
//           "content-type: application/json"
//
// source_topic is the Kafka topic, or "http" for the HTTP endpoint;
// source_partition and source_offset are -1 when the source is not Kafka.
// original_base64 is standard base64 (with padding) of the original bytes,
// cut at max_original_bytes (original_truncated then says so).
//
// Two writers: Kafka (the palaver.deadletter topic, idempotent producer,
// acks=all) and embedded (an append-only JSON Lines file under the data
// directory, fsynced per record), so the HTTP endpoint dead-letters in both
// log modes. Write() returns only once the record is durable.
//
// Thread safety: Write() may be called from any number of threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/storefront/storefront_mapper.h"
#include "schemas/status.h"

namespace palaver::storefront {

// One dead letter before encoding.
struct DeadLetter {
  Rejection rejection;
  std::string source_topic;       // Kafka topic, or "http"
  int32_t source_partition = -1;  // -1 when not from Kafka
  int64_t source_offset = -1;     // -1 when not from Kafka
  std::string source_key;         // arbitrary bytes; may be empty
  std::string_view original;      // the bytes as received; not owned
  // Extra context, e.g. {"path", "/v1/shops/s/storefront/events"}.
  std::vector<std::pair<std::string, std::string>> source_attributes;
};

// Where a dead letter landed.
struct DeadLetterPosition {
  int32_t partition = 0;  // 0 for the embedded writer
  int64_t offset = 0;
};

// The JSON value of `letter` (see the format above), originals cut at
// `max_original_bytes`. Never throws; invalid UTF-8 in strings is replaced.
std::string EncodeDeadLetter(const DeadLetter& letter, size_t max_original_bytes);

// Standard base64 with padding (the format's *_base64 fields).
std::string Base64Encode(std::string_view bytes);

class DeadLetterWriter {
 public:
  virtual ~DeadLetterWriter() = default;
  DeadLetterWriter(const DeadLetterWriter&) = delete;
  DeadLetterWriter& operator=(const DeadLetterWriter&) = delete;

  // Writes one dead letter and returns where it landed, once durable.
  // Errors: kUnavailable / kTimeout when durability could not be confirmed
  // (retrying may write it twice, never zero times); kIoError for the
  // embedded file.
  virtual Result<DeadLetterPosition> Write(const DeadLetter& letter) = 0;

  // "Kafka topic T at BROKERS" or "embedded file PATH", for logs.
  virtual std::string Describe() const = 0;

 protected:
  DeadLetterWriter() = default;
};

struct KafkaDeadLetterOptions {
  std::string kafka_brokers;  // required
  std::string topic = "palaver.deadletter";
  // Used when the topic is missing and created (retention: forever).
  int32_t partitions = 8;
  int16_t replication_factor = 1;
  // Bound on creating the topic and on one delivery.
  std::chrono::milliseconds kafka_timeout{30000};
  std::vector<std::pair<std::string, std::string>> kafka_properties;  // win over palaver's
  size_t max_original_bytes = 1024 * 1024;
};

// Connects and creates the topic when missing.
// Errors: kInvalidArgument for bad options; kUnavailable / kTimeout when the
// broker does not answer or the topic cannot be created.
Result<std::unique_ptr<DeadLetterWriter>> OpenKafkaDeadLetterWriter(
    const KafkaDeadLetterOptions& options);

struct EmbeddedDeadLetterOptions {
  std::string dir;          // e.g. DATA_DIR/deadletter; created when missing
  bool sync_writes = true;  // fdatasync after each record
  size_t max_original_bytes = 1024 * 1024;
};

// The file the embedded writer appends to: DIR/deadletters.jsonl. One line
// per record: {"offset": N, "timestamp_ms": T, "key_base64": "...",
// "headers": {...}, "value": <the dead-letter JSON>}; `jq` reads it.
std::string EmbeddedDeadLetterFile(std::string_view dir);

// Opens (creating) the file, locked against a second writer process. A torn
// last line (a crash mid-write) is cut off. Errors: kIoError.
Result<std::unique_ptr<DeadLetterWriter>> OpenEmbeddedDeadLetterWriter(
    const EmbeddedDeadLetterOptions& options);

// The writer `palaver serve` uses: Kafka (topic palaver.deadletter) when
// `kafka_brokers` is set, else the embedded file in DATA_DIR/deadletter.
// Errors: those of the two Open functions.
Result<std::unique_ptr<DeadLetterWriter>> OpenDeadLetterWriter(std::string_view kafka_brokers,
                                                               std::string_view data_dir);

// One stored embedded dead letter.
struct StoredDeadLetter {
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  std::string key;
  std::string value;  // the dead-letter JSON
  std::vector<std::pair<std::string, std::string>> headers;
};

// Every complete record of the embedded file in `dir`, in offset order (an
// absent file reads as none). Errors: kIoError; kCorruption for a complete
// line that is not a record.
Result<std::vector<StoredDeadLetter>> ReadEmbeddedDeadLetters(std::string_view dir);

}  // namespace palaver::storefront
