#include "replicator/server/event_session.h"

namespace titan::replicator::server {

void EventSession::onLine(std::string_view line) {
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;  // keep-alive blank lines
    auto parsed = proto::parseEventLine(line);
    if (const auto* err = std::get_if<proto::EventError>(&parsed)) {
        if (target_.bad_line) target_.bad_line(err->reason);
        return;
    }
    if (target_.event) target_.event(std::get<proto::ChangeEvent>(parsed));
}

}  // namespace titan::replicator::server
