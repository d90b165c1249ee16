-- Miniature of the dcm4chee-arc 5.32 schema as the Kaapana 0.3.x database image creates it on the
-- first start of an empty data directory (init scripts equal to arc-light 5.32.0 create-psql.sql,
-- create-fk-index.sql and create-case-insensitive-index.sql, folded into one file here).
-- Same 17 tables and sequences as the 5.26 miniature after the updates 5.27 ... 5.32, but written
-- the way the 5.32 DDL generator does it, which is why restoring a dump of the updated database
-- into this schema fails in several places:
--   * constraint and index names differ (FK..., IDX..., unnamed inline uniques instead of FK_/UK_),
--     so a restore adds most foreign keys and indexes a second time;
--   * enum-like columns are smallint with CHECK constraints instead of int4;
--   * patient_id.patient_fk is NOT NULL, so the COPY of patient_id rows no patient references fails
--     and leaves the table empty;
--   * the same-named objects (tables, sequences, upper() indexes) fail with "already exists".
-- The 0.3.0 image differs once more: its study column is named "deleting"; this file follows 0.3.1+.

create sequence code_pk_seq start with 1 increment by 1;
create sequence dicomattrs_pk_seq start with 1 increment by 1;
create sequence hl7psu_task_pk_seq start with 1 increment by 1;
create sequence instance_pk_seq start with 1 increment by 1;
create sequence instance_req_pk_seq start with 1 increment by 1;
create sequence key_value2_pk_seq start with 1 increment by 1;
create sequence location_pk_seq start with 1 increment by 1;
create sequence metadata_pk_seq start with 1 increment by 1;
create sequence mpps_pk_seq start with 1 increment by 1;
create sequence mwl_item_pk_seq start with 1 increment by 1;
create sequence patient_id_pk_seq start with 1 increment by 1;
create sequence patient_pk_seq start with 1 increment by 1;
create sequence person_name_pk_seq start with 1 increment by 1;
create sequence series_pk_seq start with 1 increment by 1;
create sequence study_pk_seq start with 1 increment by 1;
create sequence task_pk_seq start with 1 increment by 1;
create sequence uidmap_pk_seq start with 1 increment by 1;

create table code (
    pk bigint not null,
    code_value varchar(255) not null,
    code_designator varchar(255) not null,
    code_version varchar(255) not null,
    code_meaning varchar(255) not null,
    primary key (pk),
    unique (code_value, code_designator, code_version));

create table dicomattrs (
    pk bigint not null,
    attrs bytea not null,
    primary key (pk));

create table person_name (
    pk bigint not null,
    alphabetic_name varchar(255) not null,
    ideographic_name varchar(255) not null,
    phonetic_name varchar(255) not null,
    primary key (pk));

create table metadata (
    pk bigint not null,
    created_time timestamp(6) not null,
    digest varchar(255),
    object_size bigint not null,
    status smallint not null check (status between 0 and 9),
    storage_id varchar(255) not null,
    storage_path varchar(255) not null,
    primary key (pk));

create table uidmap (
    pk bigint not null,
    uidmap bytea not null,
    primary key (pk));

create table key_value2 (
    pk bigint not null,
    content_type varchar(255) not null,
    created_time timestamp(6) not null,
    key_name varchar(255) not null,
    updated_time timestamp(6) not null,
    username varchar(255),
    key_value varchar(4000) not null,
    primary key (pk),
    unique (key_name));

-- Since 5.31 the patient id points to its patient, and a fresh schema requires that it does.
create table patient_id (
    pk bigint not null,
    pat_id varchar(255) not null,
    pat_id_type_code varchar(255),
    entity_id varchar(255),
    entity_uid varchar(255),
    entity_uid_type varchar(255),
    version bigint,
    patient_fk bigint not null,
    primary key (pk));

create table patient (
    pk bigint not null,
    created_time timestamp(6) not null,
    updated_time timestamp(6) not null,
    failed_verifications integer not null,
    num_studies integer not null,
    pat_birthdate varchar(255) not null,
    pat_sex varchar(255) not null,
    pat_custom1 varchar(255) not null,
    verification_status smallint not null check (verification_status between 0 and 4),
    verification_time timestamp(6),
    version bigint,
    dicomattrs_fk bigint not null unique,
    merge_fk bigint,
    pat_name_fk bigint unique,
    resp_person_fk bigint unique,
    primary key (pk));

create table study (
    pk bigint not null,
    study_iuid varchar(255) not null,
    study_id varchar(255) not null,
    study_date varchar(255) not null,
    study_time varchar(255) not null,
    study_desc varchar(255) not null,
    accession_no varchar(255) not null,
    admission_id varchar(255) not null,
    access_control_id varchar(255) not null,
    access_time timestamp(6) not null,
    completeness smallint not null check (completeness between 0 and 2),
    study_deleting boolean not null,
    rejection_state smallint not null check (rejection_state between 0 and 3),
    expiration_state smallint not null check (expiration_state between 0 and 5),
    expiration_date varchar(255),
    failed_retrieves integer not null,
    ext_retrieve_aet varchar(255) not null,
    study_size bigint not null,
    storage_ids varchar(255),
    study_custom1 varchar(255) not null,
    created_time timestamp(6) not null,
    updated_time timestamp(6) not null,
    modified_time timestamp(6) not null,
    version bigint,
    dicomattrs_fk bigint not null unique,
    patient_fk bigint not null,
    ref_phys_name_fk bigint unique,
    primary key (pk),
    unique (study_iuid));

create table series (
    pk bigint not null,
    series_iuid varchar(255) not null,
    series_no integer,
    modality varchar(255) not null,
    body_part varchar(255) not null,
    laterality varchar(255) not null,
    series_desc varchar(255) not null,
    institution varchar(255) not null,
    department varchar(255) not null,
    station_name varchar(255) not null,
    sop_cuid varchar(255) not null,
    tsuid varchar(255) not null,
    pps_cuid varchar(255) not null,
    pps_iuid varchar(255) not null,
    pps_start_date varchar(255) not null,
    pps_start_time varchar(255) not null,
    series_custom1 varchar(255) not null,
    completeness smallint not null check (completeness between 0 and 2),
    rejection_state smallint not null check (rejection_state between 0 and 3),
    expiration_state smallint not null check (expiration_state between 0 and 5),
    expiration_date varchar(255),
    failed_retrieves integer not null,
    inst_purge_state smallint not null check (inst_purge_state between 0 and 2),
    inst_purge_time timestamp(6),
    metadata_update_time timestamp(6),
    metadata_update_failures integer not null,
    stgver_failures integer not null,
    compress_failures integer not null,
    ext_retrieve_aet varchar(255) not null,
    sending_aet varchar(255),
    receiving_aet varchar(255),
    series_size bigint not null,
    created_time timestamp(6) not null,
    updated_time timestamp(6) not null,
    modified_time timestamp(6) not null,
    version bigint,
    dicomattrs_fk bigint not null unique,
    metadata_fk bigint unique,
    perf_phys_name_fk bigint unique,
    study_fk bigint not null,
    primary key (pk),
    unique (study_fk, series_iuid));

create table instance (
    pk bigint not null,
    sop_iuid varchar(255) not null,
    sop_cuid varchar(255) not null,
    inst_no integer,
    num_frames integer,
    content_date varchar(255) not null,
    content_time varchar(255) not null,
    sr_complete varchar(255) not null,
    sr_verified varchar(255) not null,
    inst_custom1 varchar(255) not null,
    availability smallint not null check (availability between 0 and 3),
    retrieve_aets varchar(255),
    ext_retrieve_aet varchar(255) not null,
    created_time timestamp(6) not null,
    updated_time timestamp(6) not null,
    version bigint,
    dicomattrs_fk bigint not null unique,
    srcode_fk bigint,
    series_fk bigint not null,
    primary key (pk),
    unique (series_fk, sop_iuid));

create table instance_req (
    pk bigint not null,
    accession_no varchar(255) not null,
    accno_entity_id varchar(255),
    accno_entity_uid varchar(255),
    accno_entity_uid_type varchar(255),
    req_proc_id varchar(255) not null,
    req_service varchar(255) not null,
    sps_id varchar(255) not null,
    study_iuid varchar(255) not null,
    req_phys_name_fk bigint unique,
    instance_fk bigint,
    primary key (pk));

create table location (
    pk bigint not null,
    created_time timestamp(6) not null,
    digest varchar(255),
    multi_ref integer,
    object_type smallint not null check (object_type between 0 and 1),
    object_size bigint not null,
    status smallint not null check (status between 0 and 17),
    storage_id varchar(255) not null,
    storage_path varchar(255) not null,
    tsuid varchar(255),
    uidmap_fk bigint,
    instance_fk bigint,
    primary key (pk));

create table mpps (
    pk bigint not null,
    sop_iuid varchar(255) not null,
    study_iuid varchar(255) not null,
    accession_no varchar(255) not null,
    pps_start_date varchar(255) not null,
    pps_start_time varchar(255) not null,
    pps_status smallint not null check (pps_status between 0 and 2),
    created_time timestamp(6) not null,
    updated_time timestamp(6) not null,
    version bigint,
    dicomattrs_fk bigint not null unique,
    discreason_code_fk bigint,
    patient_fk bigint not null,
    primary key (pk),
    unique (sop_iuid));

create table mwl_item (
    pk bigint not null,
    study_iuid varchar(255) not null,
    sps_id varchar(255) not null,
    req_proc_id varchar(255) not null,
    accession_no varchar(255) not null,
    admission_id varchar(255) not null,
    institution varchar(255) not null,
    department varchar(255) not null,
    modality varchar(255) not null,
    sps_start_date varchar(255) not null,
    sps_start_time varchar(255) not null,
    sps_status smallint not null check (sps_status between 0 and 7),
    created_time timestamp(6) not null,
    updated_time timestamp(6) not null,
    version bigint,
    worklist_label varchar(255) not null,
    dicomattrs_fk bigint not null unique,
    inst_code_fk bigint,
    dept_code_fk bigint,
    patient_fk bigint not null,
    perf_phys_name_fk bigint unique,
    primary key (pk),
    unique (study_iuid, sps_id));

create table hl7psu_task (
    pk bigint not null,
    accession_no varchar(255),
    aet varchar(255) not null,
    created_time timestamp(6) not null,
    device_name varchar(255) not null,
    pps_status smallint check (pps_status between 0 and 2),
    scheduled_time timestamp(6),
    series_iuid varchar(255),
    study_iuid varchar(255),
    mpps_fk bigint unique,
    primary key (pk),
    unique (study_iuid, pps_status));

create table task (
    pk bigint not null,
    batch_id varchar(255),
    created_time timestamp(6) not null,
    updated_time timestamp(6) not null,
    scheduled_time timestamp(6) not null,
    proc_start_time timestamp(6),
    proc_end_time timestamp(6),
    device_name varchar(255) not null,
    queue_name varchar(255) not null,
    task_type smallint not null check (task_type between 0 and 10),
    task_status smallint not null check (task_status between 0 and 6),
    exporter_id varchar(255),
    local_aet varchar(255),
    remote_aet varchar(255),
    destination_aet varchar(255),
    study_iuid varchar(255),
    series_iuid varchar(255),
    sop_iuid varchar(255),
    num_failures integer not null,
    num_instances integer,
    different integer not null,
    matches integer not null,
    missing integer not null,
    warning integer not null,
    failed integer,
    error_msg varchar(255),
    outcome_msg varchar(255),
    payload bytea,
    version bigint,
    primary key (pk));

create index IDXgs2yshbwu0gkd33yxyv13keoh on person_name (alphabetic_name);
create index IDXf7c9hmq8pfypohkgkp5vkbhxp on metadata (storage_id, status);
create index IDXhy6xxbt6wi79kbxt6wsqhv77p on key_value2 (username);
create index IDX5gcbr7nnck6dxrmml1s3arpna on key_value2 (updated_time);
create index IDXtkyjkkxxhnr0fem7m0h3844jk on patient_id (pat_id);
create index IDXd1sdyupb0vwvx23jownjnyy72 on patient_id (entity_id);
create index IDXm2jq6xe87vegohf6g10t5ptew on patient_id (entity_uid, entity_uid_type);
create index IDXe7rsyrt9n2mccyv1fcd2s6ikv on patient (verification_status);
create index IDX296rccryifu6d8byisl2f4dvq on patient (num_studies);
create index IDX1ho1jyofty54ip8aqpuhi4mu1 on patient (pat_birthdate);
create index IDX545wp9un24fhgcy2lcfu1o04y on patient (pat_sex);
create index IDXq8k2sl3kjl18qg1nr19l47tl1 on study (access_time);
create index IDX6ry2squ4qcv129lxpae1oy93m on study (created_time);
create index IDXa1rewlmf8uxfgshk25f6uawx2 on study (study_date);
create index IDX2ofn5q0fdfc6941e5j34bplmv on study (accession_no);
create index IDXj3q7fkhhiu4bolglyve3lv385 on study (study_desc);
create index IDXcl9dmi0kb97ov1cjh7rn3dhve on study (ext_retrieve_aet);
create index IDX9fi64g5jjycg9dp24jjk5txg1 on series (series_iuid);
create index IDXb126hub0dc1o9dqp6awoispx2 on series (modality);
create index IDXachxn1rtfm3fbkkswlsyr75t0 on series (series_desc);
create index IDXhwkcpd7yv0nca7o918wm4bn69 on series (metadata_update_time);
create index IDXeg0khesxr81gdimwhjiyrylw7 on instance (sop_iuid);
create index IDXdglm8ndp9y9i0uo6fgaa5rhbb on instance (sop_cuid);
create index IDXcqpv94ky100d0eguhrxpyplmv on instance_req (accession_no);
create index IDXn32ktg5h9xc1ex9x8g69w1s10 on instance_req (req_service);
create index IDX7pudwdgrg9wwc73wo65hpg517 on instance_req (req_proc_id);
create index IDX43h9ogidkcnex0e14q6u0c3jn on instance_req (sps_id);
create index IDX1typgaxhn4d0pt1f0vlp18wvb on instance_req (study_iuid);
create index IDXr3oh859i9osv3aluoc8dcx9wk on location (storage_id, status);
create index IDXi1lnahmehau3r3j9pdyxg3p3y on location (multi_ref);
create index IDXd0v5hjn1crha2nqbws4wj0yoj on mwl_item (updated_time);
create index IDX88bqeff7thxsmgcmtrg5l3td on mwl_item (worklist_label);
create index IDX2odo3oah39o400thy9bf0rgv0 on mwl_item (sps_id);
create index IDXfpfq8q514gsime2dl8oo773d4 on mwl_item (study_iuid);
create index IDX3oigo76r1a7et491bkci96km8 on mwl_item (sps_status);
create index IDXt0y05h07d9dagn9a4a9s4a5a4 on hl7psu_task (device_name);
create index IDXm47ruxpag7pq4gtn12lc63yfe on task (device_name);
create index IDXr2bcfyreh4n9h392iik1aa6sh on task (queue_name);
create index IDXa582by7kuyuhk8hi41tkelhrw on task (task_type);
create index IDX7y5ucdiygunyg2nh7qrs70e7k on task (task_status);
create index IDXxwqht1afwe7k27iulvggnwwl on task (scheduled_time);
create index IDXk6dxmm1gu6u23xq03hbk80m4r on task (batch_id);
create index IDXf7c43c242ybnvcn3o50lrcpkh on task (destination_aet);
create index IDXe6odcfrgswxke8wtlj8bdehet on task (exporter_id);
create index IDX6a0y0rsssms4mtm9bpkw8vgl6 on task (study_iuid, series_iuid, sop_iuid);

alter table if exists patient_id add constraint FKih8d22x50j7orytfmigrnssea foreign key (patient_fk) references patient;
alter table if exists patient add constraint FKe8j5c2rhq67rt3opqfggoplt2 foreign key (dicomattrs_fk) references dicomattrs;
alter table if exists patient add constraint FKc66cfkdwiu7eq65kgmxilrocw foreign key (merge_fk) references patient;
alter table if exists patient add constraint FKig1mwm5jpkyq6733t0hrf56g foreign key (pat_name_fk) references person_name;
alter table if exists patient add constraint FKjh4miooi709vj5l6xi8h95f3e foreign key (resp_person_fk) references person_name;
alter table if exists study add constraint FK2ktu3hbxxalrngfhyp4j6pf70 foreign key (dicomattrs_fk) references dicomattrs;
alter table if exists study add constraint FKocnq3so9ej7h0mnd6a6arjf6c foreign key (patient_fk) references patient;
alter table if exists study add constraint FKndwmntu3lsjd78erctnbposyr foreign key (ref_phys_name_fk) references person_name;
alter table if exists series add constraint FKtih7mdqwcklym58jd9wn3itjq foreign key (dicomattrs_fk) references dicomattrs;
alter table if exists series add constraint FK84fpblugeadm5u6dw1idi80a0 foreign key (metadata_fk) references metadata;
alter table if exists series add constraint FK5p2gub2u40fyh2ch6bp6nan4l foreign key (perf_phys_name_fk) references person_name;
alter table if exists series add constraint FK3196nws7ngapmsmtoafb4e88j foreign key (study_fk) references study;
alter table if exists instance add constraint FKokrgkyvch35m6iwr309mawsna foreign key (dicomattrs_fk) references dicomattrs;
alter table if exists instance add constraint FKqmk050ojwer9ujsbl74d4kf6e foreign key (srcode_fk) references code;
alter table if exists instance add constraint FKe92yganh695k2y4hxfqxtesg1 foreign key (series_fk) references series;
alter table if exists instance_req add constraint FK8leut3c0gfxcg6y3lbjlpt2bt foreign key (req_phys_name_fk) references person_name;
alter table if exists instance_req add constraint FKmbg8j00cvubj76doba8funq8j foreign key (instance_fk) references instance;
alter table if exists location add constraint FKpp9xjy946uspo3piayc6ofels foreign key (instance_fk) references instance;
alter table if exists location add constraint FKendncyyv928u41dfo1x09s644 foreign key (uidmap_fk) references uidmap;
alter table if exists mpps add constraint FKnhstgtx2w1xd61u4iqbn731pu foreign key (dicomattrs_fk) references dicomattrs;
alter table if exists mpps add constraint FK2m3l9bh173bmq88ukf81yd9ow foreign key (discreason_code_fk) references code;
alter table if exists mpps add constraint FKs7mb8qsr1mjijnw9bvx0dhqab foreign key (patient_fk) references patient;
alter table if exists mwl_item add constraint FK9vjk41q61e9x9n4qfve6jud8s foreign key (dicomattrs_fk) references dicomattrs;
alter table if exists mwl_item add constraint FKqui6rvqyg1qfujae4mw3o0nbm foreign key (inst_code_fk) references code;
alter table if exists mwl_item add constraint FKpl6u7oyyp6o3ca8r9jbxv5oge foreign key (dept_code_fk) references code;
alter table if exists mwl_item add constraint FKeursgxiy2u6ws39cgn1b25e6k foreign key (patient_fk) references patient;
alter table if exists mwl_item add constraint FKf5l3x4bfqn3jv8mhj617kidx7 foreign key (perf_phys_name_fk) references person_name;
alter table if exists hl7psu_task add constraint FKlvjl0o0sdhht440wccag722e4 foreign key (mpps_fk) references mpps;

-- create-fk-index.sql
create index FKih8d22x50j7orytfmigrnssea on patient_id (patient_fk);
create index FKc66cfkdwiu7eq65kgmxilrocw on patient (merge_fk);
create index FKig1mwm5jpkyq6733t0hrf56g on patient (pat_name_fk);
create index FKjh4miooi709vj5l6xi8h95f3e on patient (resp_person_fk);
create index FKocnq3so9ej7h0mnd6a6arjf6c on study (patient_fk);
create index FKndwmntu3lsjd78erctnbposyr on study (ref_phys_name_fk);
create index FK84fpblugeadm5u6dw1idi80a0 on series (metadata_fk);
create index FK5p2gub2u40fyh2ch6bp6nan4l on series (perf_phys_name_fk);
create index FK3196nws7ngapmsmtoafb4e88j on series (study_fk);
create index FKqmk050ojwer9ujsbl74d4kf6e on instance (srcode_fk);
create index FKe92yganh695k2y4hxfqxtesg1 on instance (series_fk);
create index FK8leut3c0gfxcg6y3lbjlpt2bt on instance_req (req_phys_name_fk);
create index FKmbg8j00cvubj76doba8funq8j on instance_req (instance_fk);
create index FKpp9xjy946uspo3piayc6ofels on location (instance_fk);
create index FKendncyyv928u41dfo1x09s644 on location (uidmap_fk);
create index FK2m3l9bh173bmq88ukf81yd9ow on mpps (discreason_code_fk);
create index FKs7mb8qsr1mjijnw9bvx0dhqab on mpps (patient_fk);
create index FKqui6rvqyg1qfujae4mw3o0nbm on mwl_item (inst_code_fk);
create index FKpl6u7oyyp6o3ca8r9jbxv5oge on mwl_item (dept_code_fk);
create index FKeursgxiy2u6ws39cgn1b25e6k on mwl_item (patient_fk);
create index FKf5l3x4bfqn3jv8mhj617kidx7 on mwl_item (perf_phys_name_fk);
create index FKlvjl0o0sdhht440wccag722e4 on hl7psu_task (mpps_fk);

-- create-case-insensitive-index.sql
create index alphabetic_name_upper_idx on person_name (upper(alphabetic_name));
create index series_desc_upper_idx on series (upper(series_desc));
create index study_desc_upper_idx on study (upper(study_desc));
