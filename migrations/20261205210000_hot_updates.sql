-- Rows rewritten at every bar or lease round change no indexed column: a no-trade row's fold
-- (count, last_seen_at, lease_epoch, written_at), a lease's renewal (expires_at), a runner's
-- heartbeat (last_heartbeat_at). With room left on their page such an update is HOT: no new
-- index entries, and the old version is pruned on the page. At the default fillfactor (100),
-- 43 % of the folds of a 10,000-bot run were not HOT (docs/benchmarks.md, issue 15's fleet).
-- Applies to pages written from now on.
ALTER TABLE no_trade_traces SET (fillfactor = 50);
ALTER TABLE bot_leases SET (fillfactor = 50);
ALTER TABLE bot_instances SET (fillfactor = 50);
