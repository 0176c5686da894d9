#include "authd/server/socketmap_session.h"

#include <chrono>

#include "common/log/log.h"

namespace titan::authd {

namespace sm = proto::socketmap;

namespace {
constexpr const char* kResultNames[] = {"found", "found_stale", "notfound", "temp", "perm"};
}  // namespace

SocketmapMetrics::SocketmapMetrics(metrics::Registry& r)
    : protocol_errors(r.counter("authd_socketmap_protocol_errors_total",
                                "Socketmap requests refused with PERM because they were malformed")),
      lookup_seconds(r.histogram("authd_socketmap_lookup_duration_seconds", "Socketmap lookup latency")) {
    for (int m = 0; m <= core::maps::kMapKindCount; ++m) {
        const char* map = m < core::maps::kMapKindCount ? core::maps::mapKindName(static_cast<core::maps::MapKind>(m))
                                                        : "other";
        for (int res = 0; res < kResultCount; ++res) {
            requests[static_cast<size_t>(m)][static_cast<size_t>(res)] =
                &r.counter("authd_socketmap_requests_total", "Socketmap requests by map and result",
                           std::string("map=\"") + map + "\",result=\"" + kResultNames[res] + "\"");
        }
    }
}

event::Framer socketmapFramer() {
    event::Framer framer;
    framer.overhead = sm::kMaxLengthDigits + 2;  // digits, ':' and ','
    framer.next = [](std::string_view buffered, size_t max_message_bytes) {
        event::Frame frame;
        auto r = sm::nextNetstring(buffered, max_message_bytes);
        if (const auto* n = std::get_if<sm::Netstring>(&r)) {
            frame.kind = event::Frame::Kind::Message;
            frame.text = n->payload;
            frame.consumed = n->consumed;
        } else if (std::holds_alternative<sm::NeedMore>(r)) {
            frame.kind = event::Frame::Kind::NeedMore;
        } else if (std::holds_alternative<sm::TooLong>(r)) {
            frame.kind = event::Frame::Kind::TooLong;
        } else {
            frame.kind = event::Frame::Kind::Malformed;
            frame.error = std::get<sm::Malformed>(r).reason;
        }
        return frame;
    };
    return framer;
}

SocketmapSession::SocketmapSession(event::LineConnection& conn, MapLookup& lookup,
                                   std::shared_ptr<const SocketmapSettings> settings, SocketmapMetrics& metrics)
    : conn_(conn), lookup_(lookup), settings_(std::move(settings)), metrics_(metrics) {}

void SocketmapSession::onClose(event::DisconnectReason /*reason*/) {
    *alive_ = false;
    slots_.clear();
}

void SocketmapSession::perm(uint64_t seq, const char* reason) {
    metrics_.protocol_errors.inc();
    metrics_.requests[core::maps::kMapKindCount][SocketmapMetrics::Perm]->inc();
    if (!warned_) {
        warned_ = true;
        log::warning("socketmap request refused (further ones on this connection are not logged)",
                     {{"conn.id", conn_.id()}, {"peer", conn_.peer()}, {"reason", reason}});
    }
    answer(seq, sm::encodePerm(reason));
}

void SocketmapSession::onLine(std::string_view payload) {
    const uint64_t seq = first_seq_ + slots_.size();
    slots_.emplace_back();
    auto parsed = sm::parseRequest(payload, settings_->limits);
    if (const auto* err = std::get_if<sm::ProtocolError>(&parsed)) {
        perm(seq, err->reason.c_str());
        return;
    }
    const auto& req = std::get<sm::Request>(parsed);
    int map = -1;
    for (int m = 0; m < core::maps::kMapKindCount; ++m) {
        if (req.name == settings_->map_names[static_cast<size_t>(m)]) map = m;
    }
    if (map < 0) {
        perm(seq, "unknown map name");
        return;
    }
    auto started = std::chrono::steady_clock::now();
    std::weak_ptr<bool> alive = alive_;
    lookup_.lookup(static_cast<core::maps::MapKind>(map), req.key,
                   [this, alive, seq, map, started](const MapLookup::Answer& a) {
                       if (alive.expired() || !*alive.lock()) return;
                       metrics_.lookup_seconds.observe(
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
                       auto& counters = metrics_.requests[static_cast<size_t>(map)];
                       switch (a.outcome) {
                           case MapLookup::Outcome::Found:
                               // Postfix refuses larger replies (and would log a
                               // configuration error for an empty value).
                               if (a.data.empty() || a.data.size() + 3 > sm::kPostfixMaxReplyBytes) {
                                   counters[SocketmapMetrics::Perm]->inc();
                                   log::error("map value too large for Postfix",
                                              {{"map", core::maps::mapKindName(static_cast<core::maps::MapKind>(map))},
                                               {"bytes", static_cast<unsigned long long>(a.data.size())}});
                                   answer(seq, sm::encodePerm("map value too large"));
                                   break;
                               }
                               counters[a.stale ? SocketmapMetrics::FoundStale : SocketmapMetrics::Found]->inc();
                               answer(seq, sm::encodeOk(a.data));
                               break;
                           case MapLookup::Outcome::NotFound:
                               counters[SocketmapMetrics::NotFound]->inc();
                               answer(seq, sm::encodeNotFound());
                               break;
                           case MapLookup::Outcome::Unavailable:
                               counters[SocketmapMetrics::Temp]->inc();
                               answer(seq, sm::encodeTemp("user database temporarily unavailable"));
                               break;
                       }
                   });
}

void SocketmapSession::answer(uint64_t seq, std::string reply) {
    if (seq < first_seq_ || seq - first_seq_ >= slots_.size()) return;  // connection closed meanwhile
    Slot& slot = slots_[seq - first_seq_];
    slot.reply = std::move(reply);
    slot.ready = true;
    flush();
}

void SocketmapSession::flush() {
    if (flushing_) return;
    flushing_ = true;
    bool popped = false;
    while (!slots_.empty() && !conn_.closing() && slots_.front().ready) {
        conn_.write(slots_.front().reply);
        slots_.pop_front();
        ++first_seq_;
        popped = true;
    }
    flushing_ = false;
    if (popped) conn_.resume();
}

}  // namespace titan::authd
