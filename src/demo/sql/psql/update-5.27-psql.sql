-- Miniature of dcm4chee-arc-light update-5.27-psql.sql (archive 5.26 -> 5.27).
-- Like the vendor's script it has three parts, no transaction of its own and cannot be run twice
-- (the first ALTER fails once the column exists).

-- part 1: may run while archive 5.26 is still up
alter table hl7psu_task add accession_no varchar(255);

create table instance_req (
    pk int8 not null,
    accession_no varchar(255) not null,
    accno_entity_id varchar(255),
    accno_entity_uid varchar(255),
    accno_entity_uid_type varchar(255),
    req_proc_id varchar(255) not null,
    req_service varchar(255) not null,
    sps_id varchar(255) not null,
    study_iuid varchar(255) not null,
    req_phys_name_fk int8,
    instance_fk int8,
    primary key (pk));
alter table instance_req add constraint FK_cqmmps9maltjybl44t4cck404 foreign key (req_phys_name_fk) references person_name;
alter table instance_req add constraint FK_47n586hkafgp9m1etqohgfybl foreign key (instance_fk) references instance;

-- Rewrites every series row.
alter table series add modified_time timestamp;
update series set modified_time = updated_time;

create index UK_cqpv94ky100d0eguhrxpyplmv on instance_req (accession_no);
create index UK_n32ktg5h9xc1ex9x8g69w1s10 on instance_req (req_service);
create index UK_7pudwdgrg9wwc73wo65hpg517 on instance_req (req_proc_id);
create index UK_43h9ogidkcnex0e14q6u0c3jn on instance_req (sps_id);
create index UK_1typgaxhn4d0pt1f0vlp18wvb on instance_req (study_iuid);
create index FK_cqmmps9maltjybl44t4cck404 on instance_req (req_phys_name_fk);
create index FK_47n586hkafgp9m1etqohgfybl on instance_req (instance_fk);
create sequence instance_req_pk_seq;

-- part 2: with the archive stopped, before 5.27 starts (catches series stored meanwhile)
update series set modified_time = updated_time where modified_time is null;

-- part 3: may run while 5.27 is up
alter table series alter modified_time set not null;
