-- Miniature of dcm4chee-arc-light update-5.30-psql.sql (5.29 -> 5.30): worklist items are
-- separated by Worklist Label instead of by the archive AE title.

-- part 1: may run while archive 5.29 is still up
alter table mwl_item add worklist_label varchar(255);
update mwl_item set worklist_label = local_aet;
create index UK_88bqeff7thxsmgcmtrg5l3td on mwl_item (worklist_label);

-- part 2: with the archive stopped, before 5.30 starts
update mwl_item set worklist_label = local_aet where worklist_label is null;
alter table mwl_item alter local_aet drop not null;

-- part 3: may run while 5.30 is up (dropping the column also drops its index)
alter table mwl_item alter worklist_label set not null;
alter table mwl_item drop local_aet;
