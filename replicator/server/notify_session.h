// One connection on the replication-notify socket (protocols.md 6.3): the Dovecot
// replication plugin sends "<user>\tsync" and blocks for "+" or "-"; "low"/"high"
// lines are accepted without a reply, as the aggregator does. Replies leave in
// request order. A malformed line closes the connection with a logged reason (what
// the aggregator does too). Layer: replicator/server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/event/line_server.h"
#include "replicator/proto/notify.h"

namespace titan::replicator::server {

// What a session needs from the service.
struct NotifyTarget {
    std::function<void(const proto::Notification&)> notification;                      // low / high
    std::function<void(const std::string& user, std::function<void(bool)> reply)> sync;  // sync
    std::function<void(const std::string& reason)> bad_line;
};

class NotifySession : public event::LineHandler {
public:
    NotifySession(event::LineConnection& conn, const NotifyTarget& target);
    ~NotifySession() override;

    void onLine(std::string_view line) override;
    std::size_t pending() const override { return replies_.size(); }

private:
    void flush();

    event::LineConnection& conn_;
    const NotifyTarget& target_;
    std::deque<std::optional<bool>> replies_;  // one slot per sync request, in order
    std::uint64_t popped_ = 0;                 // slots already answered and removed
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace titan::replicator::server
