-- Kill that removes risk (issue 17 parts 5 and 7).
-- A KILLED bot that still holds a position or a working order is a SEV-1 blocker until it is
-- flat or an admin acknowledges the exposure (POST /api/bots/{id}/acknowledge-exposure): then
-- it stays visible as SEV-2. A new kill and a re-arm clear the acknowledgement.
ALTER TABLE bots
    ADD COLUMN exposure_acknowledged_at timestamptz,
    ADD COLUMN exposure_acknowledged_by text;

-- The stage of the fills a position was built from (PAPER simulated, SHADOW hypothetical,
-- LIVE real), so the SHADOW book is never mistaken for PAPER. NULL for rows written before.
ALTER TABLE positions
    ADD COLUMN stage text CHECK (stage IN ('LAB', 'PAPER', 'SHADOW', 'LIVE'));
