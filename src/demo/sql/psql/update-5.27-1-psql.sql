-- Decoy: the database images carry the updates split into parts (update-<version>-<part>-psql.sql,
-- part 1 runnable while the old archive is up). It is not an update script of its own and must
-- never be selected; running it does nothing here.
select 'update-5.27-1-psql.sql is a split part, not an update' as decoy;
