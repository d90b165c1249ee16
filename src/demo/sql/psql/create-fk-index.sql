-- Decoy: the vendor directory also holds the foreign-key indexes of a fresh create. It is not an
-- update and must never be selected; running it does nothing here.
select 'create-fk-index.sql is not an update' as decoy;
