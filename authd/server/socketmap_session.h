// One Postfix socketmap connection to authd (socketmap:unix:PATH:NAME or
// socketmap:inet:HOST:PORT:NAME tables): netstring-framed requests `<map> <key>`, each
// answered OK / NOTFOUND / TEMP / PERM (common/proto/socketmap). Postfix sends one
// request at a time, but pipelined requests are answered too, in request order.
// NOTFOUND for unknown keys, TEMP only when the database cannot answer, PERM for a
// malformed request or an unknown map name. Loop thread only. Layer: authd/server.
#pragma once

#include <array>
#include <deque>
#include <memory>
#include <string>

#include "authd/core/maps.h"
#include "authd/service/map_lookup.h"
#include "common/event/line_server.h"
#include "common/metrics/metrics.h"
#include "common/proto/socketmap/socketmap.h"

namespace titan::authd {

struct SocketmapSettings {
    proto::socketmap::Limits limits;
    // The name Postfix sends for each map (the part after the last ':' of the table),
    // indexed by core::maps::MapKind.
    std::array<std::string, core::maps::kMapKindCount> map_names{"domains", "mailboxes", "aliases", "senders"};
    // Detail handling; the identity rule is taken from the `identity` section.
    core::maps::Settings maps;
};

// Counters by map and result, registered once (no per-request label formatting).
struct SocketmapMetrics {
    explicit SocketmapMetrics(metrics::Registry& r);
    enum Result { Found, FoundStale, NotFound, Temp, Perm, kResultCount };
    // [map][result]; map index kMapKindCount counts requests naming no known map.
    std::array<std::array<metrics::Counter*, kResultCount>, core::maps::kMapKindCount + 1> requests{};
    metrics::Counter& protocol_errors;
    metrics::Histogram& lookup_seconds;
};

// The netstring framing for event::LineServer: max_line_bytes bounds the request payload.
event::Framer socketmapFramer();

class SocketmapSession : public event::LineHandler {
public:
    SocketmapSession(event::LineConnection& conn, MapLookup& lookup, std::shared_ptr<const SocketmapSettings> settings,
                     SocketmapMetrics& metrics);

    void onLine(std::string_view payload) override;
    size_t pending() const override { return slots_.size(); }
    void onClose(event::DisconnectReason reason) override;

private:
    struct Slot {
        bool ready = false;
        std::string reply;
    };
    // Answers are kept in request order; a request is named by its sequence number.
    void answer(uint64_t seq, std::string reply);
    void flush();
    void perm(uint64_t seq, const char* reason);

    event::LineConnection& conn_;
    MapLookup& lookup_;
    std::shared_ptr<const SocketmapSettings> settings_;
    SocketmapMetrics& metrics_;
    std::deque<Slot> slots_;
    uint64_t first_seq_ = 0;  // sequence number of slots_.front()
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    bool flushing_ = false;
    bool warned_ = false;  // one warning per connection for bad requests
};

}  // namespace titan::authd
