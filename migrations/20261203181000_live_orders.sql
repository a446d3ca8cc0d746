-- LIVE execution (issue 17): an order sent to a broker is written ahead in `SENDING` (with the
-- broker and account it goes to) before the request leaves, and carries the broker's order id
-- once acknowledged. A crash between send and ack is resolved by reading the broker's orders,
-- never by sending again.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN
    ('NEW', 'RECORDED', 'SENDING', 'WORKING', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'REJECTED'));
ALTER TABLE orders
    ADD COLUMN broker text,
    ADD COLUMN broker_account text,
    ADD COLUMN broker_order_id text,
    ADD COLUMN sent_at timestamptz;
CREATE UNIQUE INDEX orders_broker_order_uniq ON orders (broker, broker_account, broker_order_id)
    WHERE broker_order_id IS NOT NULL;
-- The runner resolves its bot's unacknowledged sends first.
CREATE INDEX orders_sending_idx ON orders (bot_id) WHERE status = 'SENDING';

-- A broker fill is booked once per broker fill id; an order may have several (partial fills).
-- A simulated fill still fills its order once, whole.
ALTER TABLE fills ADD COLUMN broker_fill_id text;
DROP INDEX fills_one_per_order;
CREATE UNIQUE INDEX fills_one_simulated_per_order ON fills (order_id) WHERE broker_fill_id IS NULL;
CREATE UNIQUE INDEX fills_one_per_broker_fill ON fills (order_id, broker_fill_id)
    WHERE broker_fill_id IS NOT NULL;
