-- Draining a node (issue 18 part 4): a draining node hands its bots to the others and claims
-- none; its capacity no longer counts in the fair share. A restart (new incarnation) clears it.
ALTER TABLE nodes ADD COLUMN draining_since timestamptz;
