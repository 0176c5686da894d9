#include "replicator/server/notify_session.h"

#include "common/log/log.h"

namespace titan::replicator::server {

NotifySession::NotifySession(event::LineConnection& conn, const NotifyTarget& target) : conn_(conn), target_(target) {}

NotifySession::~NotifySession() { *alive_ = false; }

void NotifySession::onLine(std::string_view line) {
    auto parsed = proto::parseNotifyLine(line);
    if (const auto* err = std::get_if<proto::NotifyError>(&parsed)) {
        if (target_.bad_line) target_.bad_line(err->reason);
        log::warning("notify socket: malformed line, closing", {{"conn.id", conn_.id()}, {"error", err->reason}});
        conn_.close(event::DisconnectReason::ProtocolError);
        return;
    }
    const auto& n = std::get<proto::Notification>(parsed);
    if (n.priority != proto::NotifyPriority::Sync) {
        if (target_.notification) target_.notification(n);
        return;
    }
    replies_.emplace_back();
    std::size_t index = replies_.size() - 1;
    std::uint64_t base = popped_;
    std::weak_ptr<bool> alive = alive_;
    auto conn = conn_.weak();
    target_.sync(n.user, [this, alive, conn, index, base](bool ok) {
        if (alive.expired() || conn.expired()) return;
        std::uint64_t absolute = base + index;
        if (absolute < popped_ || absolute - popped_ >= replies_.size()) return;
        replies_[static_cast<std::size_t>(absolute - popped_)] = ok;
        flush();
    });
}

void NotifySession::flush() {
    bool wrote = false;
    while (!replies_.empty() && replies_.front().has_value()) {
        conn_.write(*replies_.front() ? proto::kSyncOk : proto::kSyncFail);
        replies_.pop_front();
        ++popped_;
        wrote = true;
    }
    if (wrote) conn_.resume();
}

}  // namespace titan::replicator::server
