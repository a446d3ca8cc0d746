-- Bars are cached as the decoder made them: exact prices on the instrument's tick grid
-- (`numeric` ↔ `Decimal`, no float round trip) and volume as a whole count. Rows cached as
-- floats keep their value (float8 → numeric keeps 15 significant digits, ample for prices).
ALTER TABLE market_bars
    ALTER COLUMN open   TYPE numeric USING open::numeric,
    ALTER COLUMN high   TYPE numeric USING high::numeric,
    ALTER COLUMN low    TYPE numeric USING low::numeric,
    ALTER COLUMN close  TYPE numeric USING close::numeric,
    ALTER COLUMN volume TYPE numeric USING trunc(greatest(volume, 0))::numeric;
