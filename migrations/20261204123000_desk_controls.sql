-- Desk controls (issue 20 part 3): archived bots (history kept, hidden from the default bot
-- list) and the alert routing (which system-event severities are posted to Discord).

ALTER TABLE bots
    ADD COLUMN archived_at timestamptz,
    ADD COLUMN archived_by text;

ALTER TABLE settings
    -- Severities posted to Discord. The default is the behaviour before routing existed.
    ADD COLUMN alert_severities text[] NOT NULL DEFAULT ARRAY['SEV-1']::text[]
        CHECK (alert_severities <@ ARRAY['SEV-1', 'SEV-2', 'SEV-3', 'INFO']::text[]),
    -- Kills (BOT_KILLED, RISK_KILL_TRIGGER, …) are posted whatever their severity.
    ADD COLUMN alert_kills boolean NOT NULL DEFAULT true,
    ADD COLUMN alerts_updated_at timestamptz,
    ADD COLUMN alerts_updated_by text;
