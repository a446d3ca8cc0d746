-- Exact reads behind deep links: GET /api/bots/{id}/decision-traces/{trace_id} and
-- /no-trade-traces/{trace_id} find a trace by its W3C trace id within one bot (by row id the
-- primary key serves).
CREATE INDEX decision_traces_bot_trace_idx ON decision_traces (bot_id, trace_id);
CREATE INDEX no_trade_traces_bot_trace_idx ON no_trade_traces (bot_id, trace_id);
