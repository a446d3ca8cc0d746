-- Reads behind the Observatory web app.

-- GET /api/usage-events: newest first by (created_at, id), unfiltered or by status; the bot
-- filter's index gains `id` so the keyset order is read straight from it (provider filters use
-- usage_events_provider_idx).
CREATE INDEX usage_events_created_idx ON integration_usage_events (created_at DESC, id DESC);
CREATE INDEX usage_events_status_idx  ON integration_usage_events (status, created_at DESC, id DESC);
CREATE INDEX usage_events_bot_page_idx ON integration_usage_events (bot_id, created_at DESC, id DESC)
    WHERE bot_id IS NOT NULL;
DROP INDEX usage_events_bot_idx;

-- GET /api/bots: each bot's round trips closed since the trade date began (today's realized PnL).
CREATE INDEX trades_closed_idx ON trades (bot_id, closed_at) WHERE closed_at IS NOT NULL;

-- The latest bar of a symbol (the mark of open PnL in GET /api/bots and /position): the primary
-- key leads with provider_id, so without this every mark read scans the cache.
CREATE INDEX market_bars_symbol_ts_idx ON market_bars (symbol, ts DESC);
