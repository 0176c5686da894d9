-- Titanicarus schema, migration 0007: FTP virtual users (ProFTPd with contrib/proftpd
-- mod_titan, served by titan-authd). A mailbox logs in over FTP when mailboxes.ftp = 1;
-- its FTP home, uid/gid and transfer limits come from ftp_accounts. A mailbox without
-- an ftp_accounts row uses titan-authd's `ftp:` defaults (home template, uid, gid) and
-- has no limits.

CREATE TABLE IF NOT EXISTS ftp_accounts (
  mailbox_id        INT UNSIGNED NOT NULL PRIMARY KEY,
  home              VARCHAR(1024) NULL,     -- absolute; NULL = authd's ftp.home template
  uid               INT UNSIGNED NULL,      -- NULL = authd's ftp.default_uid
  gid               INT UNSIGNED NULL,      -- NULL = authd's ftp.default_gid
  -- Transfer limits with the meaning of a mod_quotatab limit record of type 'user'.
  -- "in" = uploads, "out" = downloads, "xfer" = both; 0 = unlimited.
  per_session       TINYINT(1) NOT NULL DEFAULT 0,   -- 1: limits count per session, not in total
  limit_type        ENUM('soft', 'hard') NOT NULL DEFAULT 'hard',
  bytes_in_avail    BIGINT UNSIGNED NOT NULL DEFAULT 0,
  bytes_out_avail   BIGINT UNSIGNED NOT NULL DEFAULT 0,
  bytes_xfer_avail  BIGINT UNSIGNED NOT NULL DEFAULT 0,
  files_in_avail    INT UNSIGNED NOT NULL DEFAULT 0,
  files_out_avail   INT UNSIGNED NOT NULL DEFAULT 0,
  files_xfer_avail  INT UNSIGNED NOT NULL DEFAULT 0,
  created_at        TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at        TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  CONSTRAINT fk_ftp_accounts_mailbox FOREIGN KEY (mailbox_id) REFERENCES mailboxes (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Usage counted against the limits above, shared by every FTP server: the module
-- sends deltas after each transfer and authd adds them (col = col + delta).
CREATE TABLE IF NOT EXISTS ftp_quota_tallies (
  username          VARCHAR(320) NOT NULL PRIMARY KEY,  -- canonical, as mailboxes.username
  bytes_in_used     BIGINT NOT NULL DEFAULT 0,
  bytes_out_used    BIGINT NOT NULL DEFAULT 0,
  bytes_xfer_used   BIGINT NOT NULL DEFAULT 0,
  files_in_used     BIGINT NOT NULL DEFAULT 0,
  files_out_used    BIGINT NOT NULL DEFAULT 0,
  files_xfer_used   BIGINT NOT NULL DEFAULT 0,
  updated_at        TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A changed FTP home, uid or limit reaches every titan-authd node's cache like any
-- other mailbox change (see 0006: auth_changes).
CREATE TRIGGER IF NOT EXISTS trg_ftp_accounts_insert AFTER INSERT ON ftp_accounts FOR EACH ROW
  INSERT INTO auth_changes (username) SELECT username FROM mailboxes WHERE id = NEW.mailbox_id;
CREATE TRIGGER IF NOT EXISTS trg_ftp_accounts_update AFTER UPDATE ON ftp_accounts FOR EACH ROW
  INSERT INTO auth_changes (username) SELECT username FROM mailboxes WHERE id IN (OLD.mailbox_id, NEW.mailbox_id);
CREATE TRIGGER IF NOT EXISTS trg_ftp_accounts_delete AFTER DELETE ON ftp_accounts FOR EACH ROW
  INSERT INTO auth_changes (username) SELECT username FROM mailboxes WHERE id = OLD.mailbox_id;
