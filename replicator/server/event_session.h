// One connection from Dovecot 2.4's stats process (event_exporter driver `unix`): one
// JSON event per line, no replies (replicator/proto/dovecot_event.h). Each line is
// handed to the target as a parsed event; a malformed line is skipped, logged and
// counted, and the connection stays open (closing it would lose the events the stats
// process has queued behind it). Layer: replicator/server.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/event/line_server.h"
#include "replicator/proto/dovecot_event.h"

namespace titan::replicator::server {

struct EventTarget {
    std::function<void(const proto::ChangeEvent&)> event;
    std::function<void(const std::string& reason)> bad_line;
};

class EventSession : public event::LineHandler {
public:
    explicit EventSession(const EventTarget& target) : target_(target) {}
    void onLine(std::string_view line) override;

private:
    const EventTarget& target_;
};

}  // namespace titan::replicator::server
