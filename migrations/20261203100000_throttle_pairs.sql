-- Throttling per (account, address) pair and a global failed-login budget (issue 21).
-- `window_start`: the start of the global key's counting window.
-- `last_success_at`: on a pair key, the last full sign-in from that address; such a "known"
-- pair is gated only by its own failures, never by the account's, the address's or the
-- global counters, so other people's failures cannot lock its owner out.
ALTER TABLE auth_throttle
    ADD COLUMN window_start    timestamptz,
    ADD COLUMN last_success_at timestamptz;
