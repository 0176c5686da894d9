-- Titanicarus schema, migration 0006: app passwords, change log for cache
-- invalidation, shared brute-force counters, login audit and last login.
--
-- The triggers record every change to mailboxes, domains and app passwords in
-- auth_changes, also changes made directly in SQL, so every titan-authd node drops
-- the user from its cache within its poll interval. With binary logging on (Galera),
-- creating triggers needs the TRIGGER privilege and SUPER or
-- log_bin_trust_function_creators = 1.

CREATE TABLE IF NOT EXISTS app_passwords (
  id               INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  mailbox_id       INT UNSIGNED NOT NULL,
  name             VARCHAR(64) NOT NULL,
  password_hash    VARCHAR(512) NOT NULL,
  services         VARCHAR(64) NOT NULL DEFAULT 'smtp',  -- comma list of imap,pop3,smtp,ftp
  allowed_networks VARCHAR(1024) NULL,                   -- comma list of CIDRs; NULL = anywhere
  expires_at       TIMESTAMP NULL,
  created_at       TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY uq_app_passwords_name (mailbox_id, name),
  CONSTRAINT fk_app_passwords_mailbox FOREIGN KEY (mailbox_id) REFERENCES mailboxes (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS auth_changes (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  username    VARCHAR(320) NOT NULL,   -- a canonical user, or '@domain' for a whole domain
  changed_at  TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_auth_changes_at (changed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TRIGGER IF NOT EXISTS trg_mailboxes_insert AFTER INSERT ON mailboxes FOR EACH ROW
  INSERT INTO auth_changes (username) VALUES (NEW.username);
CREATE TRIGGER IF NOT EXISTS trg_mailboxes_update AFTER UPDATE ON mailboxes FOR EACH ROW
  INSERT INTO auth_changes (username) VALUES (OLD.username), (NEW.username);
CREATE TRIGGER IF NOT EXISTS trg_mailboxes_delete AFTER DELETE ON mailboxes FOR EACH ROW
  INSERT INTO auth_changes (username) VALUES (OLD.username);
CREATE TRIGGER IF NOT EXISTS trg_domains_update AFTER UPDATE ON domains FOR EACH ROW
  INSERT INTO auth_changes (username) VALUES (CONCAT('@', OLD.name));
CREATE TRIGGER IF NOT EXISTS trg_app_passwords_insert AFTER INSERT ON app_passwords FOR EACH ROW
  INSERT INTO auth_changes (username) SELECT username FROM mailboxes WHERE id = NEW.mailbox_id;
CREATE TRIGGER IF NOT EXISTS trg_app_passwords_update AFTER UPDATE ON app_passwords FOR EACH ROW
  INSERT INTO auth_changes (username) SELECT username FROM mailboxes WHERE id IN (OLD.mailbox_id, NEW.mailbox_id);
CREATE TRIGGER IF NOT EXISTS trg_app_passwords_delete AFTER DELETE ON app_passwords FOR EACH ROW
  INSERT INTO auth_changes (username) SELECT username FROM mailboxes WHERE id = OLD.mailbox_id;

-- Failed logins per client address and per user, shared by every authd node and
-- every protocol (SMTP AUTH, IMAP, POP3, FTP). Written asynchronously.
CREATE TABLE IF NOT EXISTS auth_failures (
  scope         ENUM('ip', 'user') NOT NULL,
  subject       VARCHAR(320) NOT NULL,
  window_start  TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  failures      INT UNSIGNED NOT NULL DEFAULT 0,
  last_failure  TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (scope, subject),
  KEY ix_auth_failures_last (last_failure)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS auth_events (
  id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  at         TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  node       VARCHAR(64) NOT NULL DEFAULT '',
  service    VARCHAR(32) NOT NULL,
  username   VARCHAR(320) NOT NULL,
  remote_ip  VARCHAR(45) NOT NULL DEFAULT '',
  result     VARCHAR(32) NOT NULL,     -- ok, failed, disabled, service_disabled, throttled, tempfail
  reason     VARCHAR(255) NOT NULL DEFAULT '',
  KEY ix_auth_events_user (username, at),
  KEY ix_auth_events_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS last_logins (
  username   VARCHAR(320) NOT NULL,
  service    VARCHAR(32) NOT NULL,
  at         TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  remote_ip  VARCHAR(45) NOT NULL DEFAULT '',
  PRIMARY KEY (username, service)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
