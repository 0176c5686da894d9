-- Titanicarus schema, migration 0003: titan-policyd's shared state (rate counters,
-- greylisting, allow/deny lists, account-guard activity, holds and their audit trail)
-- and the sender_logins table (extra addresses an authenticated user may send as).
-- Times are milliseconds since the epoch (BIGINT), the clock every policyd node decides on.

-- Extra addresses a SASL login may send as. 0002_authd_maps.sql declares the same table
-- with IF NOT EXISTS (titan-authd serves it to Postfix as smtpd_sender_login_maps); keep
-- both identical. `address` may be '@domain' for every address of that domain.
CREATE TABLE IF NOT EXISTS sender_logins (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  address     VARCHAR(320) NOT NULL,   -- canonical address, or '@domain'
  login       VARCHAR(320) NOT NULL,   -- canonical SASL login (a mailbox user name)
  active      TINYINT(1) NOT NULL DEFAULT 1,
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY uq_sender_logins_pair (address, login),
  KEY ix_sender_logins_login (login)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per (rule, window, subject); values in milli-units (see policyd/core/counter.h).
CREATE TABLE IF NOT EXISTS policy_counters (
  rule          VARCHAR(64) NOT NULL,
  win           TINYINT UNSIGNED NOT NULL,
  subject       VARBINARY(512) NOT NULL,          -- SASL login, sender, domain, client:<net>, network
  window_start  BIGINT NOT NULL DEFAULT 0,
  used          BIGINT UNSIGNED NOT NULL DEFAULT 0,
  previous      BIGINT UNSIGNED NOT NULL DEFAULT 0,
  updated_at    BIGINT NOT NULL DEFAULT 0,
  expires_at    BIGINT NOT NULL DEFAULT 0,        -- after this the row affects no decision
  PRIMARY KEY (rule, win, subject),
  KEY ix_policy_counters_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS policy_greylist (
  id          BINARY(32) NOT NULL PRIMARY KEY,    -- SHA-256 of rule, network, sender, recipient
  rule        VARCHAR(64) NOT NULL,
  client_net  VARCHAR(64) NOT NULL,
  sender      VARBINARY(512) NOT NULL,            -- normalised (BATV/SRS unwrapped, '<>' for null)
  recipient   VARBINARY(512) NOT NULL,
  first_seen  BIGINT NOT NULL,
  last_seen   BIGINT NOT NULL,
  passed_at   BIGINT NOT NULL DEFAULT 0,          -- 0: not passed yet
  attempts    INT UNSIGNED NOT NULL DEFAULT 0,
  expires_at  BIGINT NOT NULL,
  KEY ix_policy_greylist_expires (expires_at),
  KEY ix_policy_greylist_client (client_net)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS policy_greylist_clients (
  rule           VARCHAR(64) NOT NULL,
  client_net     VARCHAR(64) NOT NULL,
  passes         INT UNSIGNED NOT NULL DEFAULT 0,
  allowed_until  BIGINT NOT NULL DEFAULT 0,       -- auto-allow-listed until
  updated_at     BIGINT NOT NULL DEFAULT 0,
  expires_at     BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (rule, client_net),
  KEY ix_policy_greylist_clients_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS policy_lists (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  list        ENUM('allow', 'deny') NOT NULL,
  kind        ENUM('client', 'client_name', 'sender', 'recipient') NOT NULL,
  value       VARCHAR(320) NOT NULL,              -- CIDR, name/.suffix, address/@domain/.domain
  comment     VARCHAR(255) NULL,
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY uq_policy_lists (list, kind, value)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Account guard: distinct recipient domains (kind 1) and client networks (kind 2) seen
-- per SASL user.
CREATE TABLE IF NOT EXISTS policy_activity (
  rule       VARCHAR(64) NOT NULL,
  subject    VARBINARY(320) NOT NULL,
  kind       TINYINT UNSIGNED NOT NULL,
  value      VARBINARY(255) NOT NULL,
  last_seen  BIGINT NOT NULL,
  PRIMARY KEY (rule, subject, kind, value),
  KEY ix_policy_activity_seen (last_seen)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS policy_holds (
  user        VARCHAR(320) NOT NULL PRIMARY KEY,  -- canonical SASL login
  rule        VARCHAR(64) NOT NULL,
  reason      VARCHAR(255) NOT NULL,
  node        VARCHAR(255) NOT NULL DEFAULT '',
  created_at  BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS policy_audit (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  created_at  BIGINT NOT NULL,
  event       VARCHAR(32) NOT NULL,               -- hold, release, counter_reset, greylist_flush, ...
  subject     VARCHAR(320) NOT NULL,
  rule        VARCHAR(64) NOT NULL DEFAULT '',
  detail      VARCHAR(1024) NOT NULL DEFAULT '',
  actor       VARCHAR(255) NOT NULL DEFAULT '',   -- policyd node or 'titanctl'
  KEY ix_policy_audit_subject (subject, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
