#include "replicator/proto/notify.h"

#include "common/proto/dovecot_dict/dict.h"

namespace titan::replicator::proto {

const char* notifyPriorityName(NotifyPriority p) noexcept {
    switch (p) {
        case NotifyPriority::Low: return "low";
        case NotifyPriority::High: return "high";
        case NotifyPriority::Sync: return "sync";
    }
    return "low";
}

NotifyParse parseNotifyLine(std::string_view line) {
    // Dovecot's tab-escaping is the same in every protocol; the dict codec owns it.
    auto fields = titan::proto::dict::splitFields(line);
    if (fields.size() < 2) return NotifyError{"missing priority"};
    if (fields[0].empty()) return NotifyError{"empty user"};
    if (fields[0].find('\0') != std::string::npos) return NotifyError{"NUL in user"};
    Notification n;
    n.user = std::move(fields[0]);
    const std::string& p = fields[1];
    if (p == "low") {
        n.priority = NotifyPriority::Low;
    } else if (p == "high") {
        n.priority = NotifyPriority::High;
    } else if (p == "sync") {
        n.priority = NotifyPriority::Sync;
    } else {
        return NotifyError{"unknown priority"};
    }
    return n;
}

std::string encodeNotifyLine(const Notification& n) {
    return titan::proto::dict::escape(n.user) + "\t" + notifyPriorityName(n.priority);
}

}  // namespace titan::replicator::proto
