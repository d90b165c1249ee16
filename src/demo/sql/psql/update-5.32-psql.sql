-- Miniature of dcm4chee-arc-light update-5.32-psql.sql (5.31 -> 5.32).
-- The slow one: ext_retrieve_aet is NULL on almost every instance and series, so the first UPDATE
-- writes a new version of (nearly) every instance row, and each SET NOT NULL scans the table again.

-- part 1: may run while archive 5.31 is still up
update instance set ext_retrieve_aet = '*' where ext_retrieve_aet is null;
update series set ext_retrieve_aet = '*' where ext_retrieve_aet is null;
alter table study add study_deleting boolean;
update study set study_deleting = false;

-- part 2: with the archive stopped, before 5.32 starts (catches rows written meanwhile)
update instance set ext_retrieve_aet = '*' where ext_retrieve_aet is null;
update series set ext_retrieve_aet = '*' where ext_retrieve_aet is null;
update study set study_deleting = false where study_deleting is null;

-- part 3: may run while 5.32 is up
alter table instance alter ext_retrieve_aet set not null;
alter table series alter ext_retrieve_aet set not null;
alter table study alter study_deleting set not null;
