#include "tests/connectors/inbound/inbound_kafka_test_util.h"

#include <cstdlib>

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

namespace palaver::inbound::testing {
namespace {
void OnTestDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* /*opaque*/) {
  auto* offset = static_cast<int64_t*>(msg->_private);
  *offset = msg->err == RD_KAFKA_RESP_ERR_NO_ERROR ? msg->offset : -2;
}
}  // namespace

std::string Brokers() {
  const char* brokers = std::getenv("PALAVER_KAFKA_BROKERS");
  return brokers == nullptr ? std::string() : std::string(brokers);
}

Publisher::Publisher(const std::string& brokers) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), errstr, sizeof(errstr));
  rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr));
  rd_kafka_conf_set_dr_msg_cb(conf, OnTestDelivery);
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
}

Publisher::~Publisher() {
  rd_kafka_flush(rk_, 10000);
  rd_kafka_destroy(rk_);
}

int64_t Publisher::Publish(const std::string& topic, const std::string& key,
                           const std::string& value) {
  int64_t offset = -1;
  const rd_kafka_resp_err_t err = rd_kafka_producev(
      rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_OPAQUE(&offset),
      RD_KAFKA_V_END);
  EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return -2;
  while (offset == -1) rd_kafka_poll(rk_, 100);
  EXPECT_GE(offset, 0) << "publishing to " << topic << " failed";
  return offset;
}

int64_t Publish(const std::string& brokers, const std::string& topic, const std::string& key,
                const std::string& value) {
  return Publisher(brokers).Publish(topic, key, value);
}

std::vector<Received> ReadTopic(const std::string& brokers, const std::string& topic, size_t count,
                                std::chrono::milliseconds timeout) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), errstr, sizeof(errstr));
  rd_kafka_conf_set(conf, "group.id", "palaver.test.reader", errstr, sizeof(errstr));
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::vector<Received> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk, 100);
    if (msg == nullptr) continue;
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Received r;
      r.offset = msg->offset;
      if (msg->key != nullptr) r.key.assign(static_cast<const char*>(msg->key), msg->key_len);
      r.value.assign(static_cast<const char*>(msg->payload), msg->len);
      rd_kafka_headers_t* headers = nullptr;
      if (rd_kafka_message_headers(msg, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                           RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          r.headers[name] = std::string(static_cast<const char*>(value), size);
        }
      }
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(msg);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

}  // namespace palaver::inbound::testing
