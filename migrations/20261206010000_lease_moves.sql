-- The Nodes view's recent moves read the newest lease epochs: by the time each began.
CREATE INDEX bot_lease_epochs_began_idx ON bot_lease_epochs (began_at DESC);
