-- Receivers and travel units know a delivery by a random id: the row number counts every
-- organisation's deliveries, and a sequential id would be guessable.
ALTER TABLE webhook_deliveries ADD COLUMN public_id TEXT;
UPDATE webhook_deliveries SET public_id =
    lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' ||
    substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + abs(random() % 4), 1) ||
    substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))
  WHERE public_id IS NULL;
