ALTER TABLE golive_acceptances DROP COLUMN broadcaster_id;
