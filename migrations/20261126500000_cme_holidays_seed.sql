-- CME Globex equity-index (ES, NQ, ...) holidays for 2026 and 2027: the table the session gate
-- reads. Keyed by CME trade date, times America/Chicago. Source: CME Group holiday calendar and
-- per-holiday Globex notices (https://www.cmegroup.com/tools-information/holiday-calendar.html);
-- rules in shared/reference/providers.md §11:
--   * closed all day: New Year's Day, Christmas (2027: observed Friday 2027-12-24);
--   * 12:00 CT early halt, reopening 17:00 CT for the next trade date: MLK Day, Presidents' Day,
--     Memorial Day, Juneteenth, Independence Day (observed), Labor Day, Thanksgiving;
--   * 12:15 CT early close: the day after Thanksgiving, Christmas Eve.
-- Good Friday is listed as closed: CME sometimes opens an abbreviated session (halting 08:15 CT)
-- when the jobs report falls on it, and treating it closed fails safe (a missed session, never a
-- trade in a closed market). Confirm each year against CME's notice.
-- ON CONFLICT DO NOTHING: rows an operator already corrected are kept. Add later years in a new
-- migration (or by hand) from CME's notice.
INSERT INTO cme_holidays (date, kind, early_close_time, name) VALUES
    ('2026-01-01', 'CLOSED',      NULL,    'New Year''s Day'),
    ('2026-01-19', 'EARLY_CLOSE', '12:00', 'Martin Luther King Jr. Day'),
    ('2026-02-16', 'EARLY_CLOSE', '12:00', 'Presidents'' Day'),
    ('2026-04-03', 'CLOSED',      NULL,    'Good Friday'),
    ('2026-05-25', 'EARLY_CLOSE', '12:00', 'Memorial Day'),
    ('2026-06-19', 'EARLY_CLOSE', '12:00', 'Juneteenth'),
    ('2026-07-03', 'EARLY_CLOSE', '12:00', 'Independence Day (observed)'),
    ('2026-09-07', 'EARLY_CLOSE', '12:00', 'Labor Day'),
    ('2026-11-26', 'EARLY_CLOSE', '12:00', 'Thanksgiving Day'),
    ('2026-11-27', 'EARLY_CLOSE', '12:15', 'Day after Thanksgiving'),
    ('2026-12-24', 'EARLY_CLOSE', '12:15', 'Christmas Eve'),
    ('2026-12-25', 'CLOSED',      NULL,    'Christmas Day'),
    ('2027-01-01', 'CLOSED',      NULL,    'New Year''s Day'),
    ('2027-01-18', 'EARLY_CLOSE', '12:00', 'Martin Luther King Jr. Day'),
    ('2027-02-15', 'EARLY_CLOSE', '12:00', 'Presidents'' Day'),
    ('2027-03-26', 'CLOSED',      NULL,    'Good Friday'),
    ('2027-05-31', 'EARLY_CLOSE', '12:00', 'Memorial Day'),
    ('2027-06-18', 'EARLY_CLOSE', '12:00', 'Juneteenth (observed)'),
    ('2027-07-05', 'EARLY_CLOSE', '12:00', 'Independence Day (observed)'),
    ('2027-09-06', 'EARLY_CLOSE', '12:00', 'Labor Day'),
    ('2027-11-25', 'EARLY_CLOSE', '12:00', 'Thanksgiving Day'),
    ('2027-11-26', 'EARLY_CLOSE', '12:15', 'Day after Thanksgiving'),
    ('2027-12-24', 'CLOSED',      NULL,    'Christmas Day (observed)')
ON CONFLICT (date) DO NOTHING;
