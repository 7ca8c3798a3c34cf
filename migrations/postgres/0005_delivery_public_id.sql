-- Receivers and travel units know a delivery by a random id: the row number counts every
-- organisation's deliveries, and a sequential id would be guessable.
ALTER TABLE webhook_deliveries ADD COLUMN public_id UUID;
UPDATE webhook_deliveries SET public_id = gen_random_uuid() WHERE public_id IS NULL;
ALTER TABLE webhook_deliveries ALTER COLUMN public_id SET DEFAULT gen_random_uuid();
ALTER TABLE webhook_deliveries ALTER COLUMN public_id SET NOT NULL;
