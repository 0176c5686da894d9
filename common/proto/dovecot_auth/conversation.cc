#include "common/proto/dovecot_auth/conversation.h"

#include <algorithm>
#include <utility>

namespace titan::proto::dovecot_auth {
namespace {

constexpr const char* kTooMany = "Too many concurrent authentication requests";
constexpr const char* kTooLong = "Credentials too long";
constexpr const char* kAuthzid = "Logging in as another user is not supported";
constexpr const char* kTimedOut = "Authentication request timed out";
constexpr const char* kUnexpected = "Unexpected continuation";
constexpr const char* kBadInitial = "Invalid base64 data in initial response";
constexpr const char* kBadCont = "Invalid base64 data in continued response";

Step immediateFail(Event event, std::uint32_t id, std::string user, std::string_view code, std::string_view reason) {
    Step s;
    s.event = event;
    s.reply = encodeFail(Fail{id, user, std::string(code), std::string(reason)});
    s.user = std::move(user);
    return s;
}

}  // namespace

const char* eventName(Event e) noexcept {
    switch (e) {
        case Event::None: return "none";
        case Event::Challenge: return "challenge";
        case Event::Verify: return "verify";
        case Event::MechanismFailed: return "mechanism_failed";
        case Event::CredentialsTooLong: return "credentials_too_long";
        case Event::InvalidBase64: return "invalid_base64";
        case Event::UnexpectedContinuation: return "unexpected_continuation";
        case Event::UnknownRequest: return "unknown_request";
        case Event::TooManyRequests: return "too_many_requests";
        case Event::Cancelled: return "cancelled";
        case Event::ProtocolError: return "protocol_error";
    }
    return "none";
}

Conversation::Conversation(ConversationOptions options) : options_(std::move(options)) {}

std::size_t Conversation::busy() const noexcept {
    return static_cast<std::size_t>(std::count_if(requests_.begin(), requests_.end(),
                                                  [](const Request& r) { return r.busy; }));
}

Conversation::Request* Conversation::find(std::uint32_t id) noexcept {
    for (auto& r : requests_) {
        if (r.id == id && !r.ended) return &r;
    }
    return nullptr;
}

void Conversation::erase(std::uint32_t id) noexcept {
    for (auto it = requests_.begin(); it != requests_.end(); ++it) {
        if (it->id == id && !it->ended) {
            wipe(it->mech.user);
            requests_.erase(it);
            return;
        }
    }
}

void Conversation::end(std::uint32_t id) noexcept {
    Request* r = find(id);
    if (r == nullptr) return;
    if (!r->busy) {
        erase(id);
        return;
    }
    wipe(r->mech.user);
    r->ended = true;
}

Step Conversation::fail(std::string reason) {
    stage_ = Stage::Dead;
    dead_reason_ = ProtocolError{reason};
    Step s;
    s.event = Event::ProtocolError;
    s.error = ProtocolError{std::move(reason)};
    return s;
}

Step Conversation::onLine(std::string_view line) {
    switch (stage_) {
        case Stage::Dead: {
            Step s;
            s.event = Event::ProtocolError;
            s.error = dead_reason_;
            return s;
        }
        case Stage::AwaitVersion: {
            auto v = parseVersion(line);
            if (auto* e = std::get_if<ProtocolError>(&v)) return fail(e->reason);
            client_minor_ = std::get<Version>(v).minor;
            stage_ = Stage::AwaitCpid;
            return Step{};
        }
        case Stage::AwaitCpid: {
            auto c = parseCpid(line);
            if (auto* e = std::get_if<ProtocolError>(&c)) return fail(e->reason);
            stage_ = Stage::Ready;
            return Step{};
        }
        case Stage::Ready: break;
    }
    auto parsed = parseCommand(line, client_minor_);
    if (auto* e = std::get_if<ProtocolError>(&parsed)) return fail(e->reason);
    auto& cmd = std::get<Command>(parsed);
    if (auto* a = std::get_if<Auth>(&cmd)) {
        Step s = handleAuth(*a);
        wipe(a->initial_response);
        return s;
    }
    if (auto* c = std::get_if<Cont>(&cmd)) {
        Step s = handleCont(*c);
        wipe(c->data);
        return s;
    }
    return handleCancel(std::get<Cancel>(cmd));
}

Step Conversation::handleAuth(Auth& auth) {
    if (find(auth.id) != nullptr) return fail("AUTH: duplicate request id " + std::to_string(auth.id));
    auto mech = parseMechanismName(auth.mechanism);
    if (!mech || std::find(options_.mechanisms.begin(), options_.mechanisms.end(), *mech) == options_.mechanisms.end()) {
        return fail("AUTH: mechanism not offered");
    }
    if (requests_.size() >= options_.limits.max_requests) {
        Step s = immediateFail(Event::TooManyRequests, auth.id, {}, kCodeTempFail, kTooMany);
        s.mechanism = mech;
        return s;
    }
    if (auth.response == Response::InvalidBase64) {
        Step s = immediateFail(Event::InvalidBase64, auth.id, {}, kCodeInvalidBase64, kBadInitial);
        s.mechanism = mech;
        return s;
    }
    Request r;
    r.id = auth.id;
    r.ticket = next_ticket_++;
    r.service = std::move(auth.service);
    r.remote_ip = std::move(auth.remote_ip);
    r.local_ip = std::move(auth.local_ip);
    r.secured = auth.secured;
    std::optional<std::string> initial;
    if (auth.response == Response::Present) initial = auth.initial_response;  // the caller wipes auth
    MechanismStep step = startMechanism(r.mech, *mech, initial, options_.limits);
    if (initial) wipe(*initial);
    requests_.push_back(std::move(r));
    return advance(requests_.back(), std::move(step));
}

Step Conversation::handleCont(Cont& cont) {
    Request* r = find(cont.id);
    if (r == nullptr) return immediateFail(Event::UnknownRequest, cont.id, {}, {}, kTimedOut);
    const Mechanism mech = r->mech.mechanism;
    if (r->busy) {
        Step s = immediateFail(Event::UnexpectedContinuation, cont.id, r->mech.user, {}, kUnexpected);
        s.mechanism = mech;
        end(cont.id);
        return s;
    }
    if (!cont.valid) {
        Step s = immediateFail(Event::InvalidBase64, cont.id, r->mech.user, kCodeInvalidBase64, kBadCont);
        s.mechanism = mech;
        erase(cont.id);
        return s;
    }
    MechanismStep step = continueMechanism(r->mech, cont.data, options_.limits);
    return advance(*r, std::move(step));
}

Step Conversation::handleCancel(const Cancel& cancel) {
    Step s;
    if (Request* r = find(cancel.id)) {
        s.event = Event::Cancelled;
        s.mechanism = r->mech.mechanism;
        end(cancel.id);
    }
    return s;
}

Step Conversation::advance(Request& request, MechanismStep step) {
    Step s;
    s.mechanism = request.mech.mechanism;
    const std::uint32_t id = request.id;
    if (auto* ch = std::get_if<Challenge>(&step)) {
        s.event = Event::Challenge;
        s.reply = encodeCont(id, ch->data);
        s.user = request.mech.user;
        return s;
    }
    if (auto* c = std::get_if<Credentials>(&step)) {
        request.busy = true;
        Verify v;
        v.ticket = request.ticket;
        v.id = id;
        v.mechanism = request.mech.mechanism;
        v.service = request.service;
        v.user = c->user;
        v.password = c->password;
        v.remote_ip = request.remote_ip;
        v.local_ip = request.local_ip;
        v.secured = request.secured;
        wipe(c->password);
        s.event = Event::Verify;
        s.user = c->user;
        s.verify = std::move(v);
        return s;
    }
    auto& f = std::get<MechanismFailure>(step);
    s.user = f.user;
    if (f.error == MechanismError::TooLong) {
        Step out = immediateFail(Event::CredentialsTooLong, id, f.user, {}, kTooLong);
        out.mechanism = s.mechanism;
        erase(id);
        return out;
    }
    request.busy = true;
    DelayedFail d;
    d.ticket = request.ticket;
    d.error = f.error;
    d.fail = Fail{id, f.user, {}, f.error == MechanismError::AuthzidMismatch ? std::string(kAuthzid) : std::string()};
    s.event = Event::MechanismFailed;
    s.delayed_fail = std::move(d);
    return s;
}

std::optional<std::uint32_t> Conversation::finish(std::uint64_t ticket) {
    for (auto it = requests_.begin(); it != requests_.end(); ++it) {
        if (it->ticket == ticket && it->busy) {
            const std::uint32_t id = it->id;
            const bool ended = it->ended;
            wipe(it->mech.user);
            requests_.erase(it);
            if (ended) return std::nullopt;  // cancelled: nobody waits for the answer
            return id;
        }
    }
    return std::nullopt;
}

}  // namespace titan::proto::dovecot_auth
