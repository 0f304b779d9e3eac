// The streams that cereal's portable binary archives read from and write to
// when palaver encodes and decodes events.
//
// Each is taken from a small pool of the calling thread's own and given back
// on destruction, because constructing a std::istream or std::ostream copies
// the global std::locale: an atomic update of one counter that every thread
// shares. Three streams per event (frame, body, personal part) made
// concurrent decoding threads contend for that counter. Nested streams on one
// thread each get their own. Not copyable; use on the creating thread only.
#pragma once

#include <istream>
#include <memory>
#include <ostream>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

#include <cereal/details/helpers.hpp>

namespace palaver {
namespace archive_streams_internal {

// This thread's idle `Slot`s.
template <class Slot>
class Pool {
 public:
  static std::unique_ptr<Slot> Acquire() {
    std::vector<std::unique_ptr<Slot>>& idle = Idle();
    if (idle.empty()) return std::make_unique<Slot>();
    std::unique_ptr<Slot> slot = std::move(idle.back());
    idle.pop_back();
    return slot;
  }
  static void Release(std::unique_ptr<Slot> slot) { Idle().push_back(std::move(slot)); }

 private:
  static std::vector<std::unique_ptr<Slot>>& Idle() {
    thread_local std::vector<std::unique_ptr<Slot>> idle;
    return idle;
  }
};

}  // namespace archive_streams_internal

// A std::istream over bytes the caller keeps alive: decoding never copies them.
class ViewStream {
 public:
  explicit ViewStream(std::string_view bytes) : slot_(Pool::Acquire()) {
    char* begin = const_cast<char*>(bytes.data());
    slot_->buffer.setg(begin, begin, begin + bytes.size());
    slot_->in.clear();
  }
  ~ViewStream() { Pool::Release(std::move(slot_)); }
  ViewStream(const ViewStream&) = delete;
  ViewStream& operator=(const ViewStream&) = delete;

  std::istream& in() { return slot_->in; }
  // The next `n` bytes, consumed, as a view into the caller's bytes; throws
  // cereal::Exception when fewer are left.
  std::string_view Take(size_t n) { return slot_->buffer.Take(n); }
  // True when every byte has been read.
  bool AtEnd() const { return slot_->buffer.Left() == 0; }

 private:
  struct Buffer : std::streambuf {
    using std::streambuf::setg;
    size_t Left() const { return static_cast<size_t>(egptr() - gptr()); }
    std::string_view Take(size_t n) {
      if (Left() < n)
        throw cereal::Exception("a length of " + std::to_string(n) + " runs past the end");
      const std::string_view bytes(gptr(), n);
      gbump(static_cast<int>(n));
      return bytes;
    }
  };
  struct Slot {
    Buffer buffer;
    std::istream in{&buffer};
  };
  using Pool = archive_streams_internal::Pool<Slot>;

  std::unique_ptr<Slot> slot_;
};

// A std::ostream that appends to a string, taken with Take().
class StringStream {
 public:
  StringStream() : slot_(Pool::Acquire()) {
    slot_->buffer.bytes.clear();
    slot_->out.clear();
  }
  ~StringStream() { Pool::Release(std::move(slot_)); }
  StringStream(const StringStream&) = delete;
  StringStream& operator=(const StringStream&) = delete;

  std::ostream& out() { return slot_->out; }
  // What was written so far; the stream is empty afterwards.
  std::string Take() { return std::move(slot_->buffer.bytes); }

 private:
  struct Buffer : std::streambuf {
    std::string bytes;
    int_type overflow(int_type c) override {
      if (!traits_type::eq_int_type(c, traits_type::eof()))
        bytes.push_back(traits_type::to_char_type(c));
      return traits_type::not_eof(c);
    }
    std::streamsize xsputn(const char* s, std::streamsize n) override {
      bytes.append(s, static_cast<size_t>(n));
      return n;
    }
  };
  struct Slot {
    Buffer buffer;
    std::ostream out{&buffer};
  };
  using Pool = archive_streams_internal::Pool<Slot>;

  std::unique_ptr<Slot> slot_;
};

}  // namespace palaver
