-- Decoy: the vendor directory also holds a script that drops every table. It is not an update and
-- must never be selected; running it does nothing here.
select 'drop-psql.sql is not an update' as decoy;
