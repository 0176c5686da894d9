-- titan-auth.lua: Dovecot 2.4 passdb and userdb through titan-authd.
--
-- Dovecot 2.4 removed the passdb/userdb `dict` driver that Dovecot 2.3 used to reach
-- titan-authd. This script (passdb `lua` and userdb `lua`, package dovecot-auth-lua,
-- JSON from lua-cjson) calls authd's HTTP API on loopback instead. Passwords are
-- verified inside authd (auth_password_verify), so hashes never leave authd, and
-- IMAP/POP3/submission logins get the same per-service switches, canonical names,
-- app passwords, brute-force budget and audit as every other authd front end.
--
-- authd unreachable, or its database down with the user not cached: the login gets a
-- temporary failure ("[UNAVAILABLE]"), never "wrong password".
--
-- Settings (lua_settings in the passdb and userdb blocks, see 10-titan-auth.conf):
--   titan_url       authd's http.listen as a URL      (default http://127.0.0.1:9151)
--   titan_timeout   per request, 2.4 duration syntax  (default 5s)
--   titan_page      users per request for `doveadm user '*'` (default 1000)
--   titan_key       the secret in authd's http.dovecot_key_file, when set there; sent
--                   as "Authorization: Bearer <key>" (keep this file's config 0640)
--
-- Dovecot 2.4.1's dovecot.http.client takes the http_client_* setting names without
-- the prefix (request_timeout, request_max_attempts, ...); the 2.3-era `timeout` key
-- makes script_init fail and the auth process die.

local json = require "cjson"

local client = nil
local base_url = "http://127.0.0.1:9151"
local page_size = 1000
local auth_header = nil

local function urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~@]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

local function form(fields)
  local parts = {}
  for k, v in pairs(fields) do
    parts[#parts + 1] = urlencode(k) .. "=" .. urlencode(v)
  end
  return table.concat(parts, "&")
end

function script_init(settings)
  settings = settings or {}
  if settings.titan_url ~= nil and settings.titan_url ~= "" then
    base_url = settings.titan_url:gsub("/+$", "")
  end
  local timeout = settings.titan_timeout
  if timeout == nil or timeout == "" then timeout = "5s" end
  if tonumber(settings.titan_page) ~= nil then page_size = math.floor(tonumber(settings.titan_page)) end
  if settings.titan_key ~= nil and settings.titan_key ~= "" then auth_header = "Bearer " .. settings.titan_key end
  client = dovecot.http.client({
    request_timeout = timeout,
    request_absolute_timeout = timeout,
    connect_timeout = timeout,
    request_max_attempts = 1,
    user_agent = "dovecot-titan-auth",
  })
  return 0
end

-- One request to authd: status, decoded JSON object (or nil), error text.
-- A connection failure has a status >= 9000 (Dovecot's internal pseudo-status).
local function call(method, path, body)
  local req = client:request({ url = base_url .. path, method = method })
  if auth_header ~= nil then req:add_header("Authorization", auth_header) end
  if body ~= nil then
    req:add_header("Content-Type", "application/x-www-form-urlencoded")
    req:set_payload(body)
  end
  local resp = req:submit()
  local status = resp:status()
  local obj = nil
  local payload = resp:payload()
  if payload ~= nil and payload ~= "" then
    local ok, decoded = pcall(json.decode, payload)
    if ok and type(decoded) == "table" then obj = decoded end
  end
  if status >= 9000 then
    return status, nil, "titan-authd unreachable (" .. tostring(resp:reason()) .. ")"
  end
  return status, obj, nil
end

local function describe(status, obj, err)
  if err ~= nil then return err end
  local text = obj and (obj.reason or obj.error) or nil
  return "titan-authd HTTP " .. tostring(status) .. (text and (": " .. tostring(text)) or "")
end

local function field_table(obj)
  -- Dovecot takes every key/value of the returned table as an extra field.
  local out = {}
  for k, v in pairs(obj) do
    if type(v) == "string" or type(v) == "number" then out[k] = v end
  end
  return out
end

-- Plain text logins (PLAIN, LOGIN): authd checks the password.
function auth_password_verify(req, password)
  local status, obj, err = call("POST", "/dovecot/verify", form({
    user = req.user, password = password, protocol = req.protocol or "",
    remote_ip = req.remote_ip or "", local_ip = req.local_ip or "",
  }))
  if status ~= 200 or obj == nil then
    return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, describe(status, obj, err)
  end
  if obj.result == "ok" then
    return dovecot.auth.PASSDB_RESULT_OK, { user = obj.user }
  elseif obj.result == "fail" then
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, "password mismatch"
  elseif obj.result == "disabled" or obj.result == "throttled" then
    -- As on 2.3: the login is refused and the client is told why.
    local fields = { nologin = "y", reason = obj.reason }
    if obj.user ~= nil then fields.user = obj.user end
    return dovecot.auth.PASSDB_RESULT_OK, fields
  end
  return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, describe(status, obj, err)
end

-- Lookups without a password (doveadm auth lookup, master-user logins). No hash is
-- returned, so a mechanism that needs one (CRAM-MD5, SCRAM) fails safely.
function auth_passdb_lookup(req)
  local status, obj, err = call("GET", "/dovecot/passdb?user=" .. urlencode(req.user) ..
                                "&protocol=" .. urlencode(req.protocol or ""))
  if status == 404 then return dovecot.auth.PASSDB_RESULT_USER_UNKNOWN, "no such user" end
  if status ~= 200 or obj == nil then
    return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, describe(status, obj, err)
  end
  -- No hash leaves authd: "nopassword" lets a pure lookup succeed, while a mechanism
  -- that needs credentials still fails ("we have a NULL password").
  local fields = field_table(obj)
  fields.nopassword = "y"
  return dovecot.auth.PASSDB_RESULT_OK, fields
end

function auth_userdb_lookup(req)
  local status, obj, err = call("GET", "/dovecot/userdb?user=" .. urlencode(req.user))
  if status == 404 then return dovecot.auth.USERDB_RESULT_USER_UNKNOWN, "no such user" end
  if status ~= 200 or obj == nil then
    return dovecot.auth.USERDB_RESULT_INTERNAL_FAILURE, describe(status, obj, err)
  end
  return dovecot.auth.USERDB_RESULT_OK, field_table(obj)
end

-- doveadm ... -A / doveadm user '*': every mailbox, fetched page by page. A failed
-- page fails the whole iteration (doveadm reports an error) instead of a short list.
function auth_userdb_iterate()
  local users = {}
  local after = ""
  for _ = 1, 100000 do
    local status, obj, err = call("GET", "/dovecot/users?limit=" .. page_size .. "&after=" .. urlencode(after))
    if status ~= 200 or obj == nil or type(obj.users) ~= "table" then
      error(describe(status, obj, err))
    end
    for _, name in ipairs(obj.users) do
      users[#users + 1] = name
      after = name
    end
    if not obj.more or #obj.users == 0 then return users end
  end
  error("titan-authd user listing did not end")
end
