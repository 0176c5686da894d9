// titan-replicator's view of the shared database: the sites, each user's placement
// (home site + replica sites), the last outcome per (user, source, peer) and the
// users of a site for the periodic full sync. Asynchronous: every completion runs on
// the loop thread, never inside the call (STYLE 3.3). "No such user" is an empty
// optional; a failure is an Error (Unavailable when the database cannot answer).
// Implementations: MysqlStore (production), MemoryStore (tests). Layer: replicator/store.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "replicator/queue/queue.h"

namespace titan::replicator::store {

using queue::Time;

struct SiteRow {
    std::string name;
    std::string endpoint;  // host:port, as stored (validated by the caller)
    bool tls = false;
    bool active = true;
    std::string password_file;  // empty: none
    std::string password;       // the file's first line, read by the store
    std::string password_error; // why the file could not be read ("" = fine)
};

struct PeerStatus {
    std::string peer;
    bool ever_synced = false;  // a success was recorded
    std::string dsync_state;   // "" when none
};

struct Placement {
    std::string user;
    std::string home_site;              // "" when NULL
    std::vector<std::string> replicas;  // sorted
    std::vector<PeerStatus> status;     // rows for source = the asking site
};

struct SyncRecord {
    std::string user;
    std::string source;
    std::string peer;
    bool success = false;
    bool full = false;
    Time at{};
    std::string error;                 // failures only
    std::optional<std::string> state;  // successes: the new dsync state
};

class Store {
public:
    virtual ~Store() = default;

    using SitesDone = std::function<void(Result<std::vector<SiteRow>>)>;
    virtual void fetchSites(SitesDone done) = 0;

    using PlacementDone = std::function<void(Result<std::optional<Placement>>)>;
    // `user` is canonical; status rows are those with source_site = `source`.
    virtual void fetchPlacement(const std::string& user, const std::string& source, PlacementDone done) = 0;

    using StatusDone = std::function<void(Status)>;
    virtual void storeSyncResult(const SyncRecord& record, StatusDone done) = 0;

    using PageDone = std::function<void(Result<std::vector<std::string>>)>;
    // Up to `limit` users placed at `site` (home or replica) with a name greater than
    // `after`, ascending.
    virtual void fetchSiteUsers(const std::string& site, const std::string& after, std::size_t limit, PageDone done) = 0;
};

}  // namespace titan::replicator::store
