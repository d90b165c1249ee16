-- Decoy: the vendor directory also holds the full create script of the new version. It is not an
-- update and must never be selected; running it does nothing here.
select 'create-psql.sql is not an update' as decoy;
