-- Miniature of the dcm4chee-arc 5.26 schema as the Kaapana 0.2.x database image
-- (dcm4che/postgres-dcm4chee 9.6.24-26) creates it on the first start of an empty data directory.
-- The image runs 10_create-psql.sql, 20_create-fk-index.sql and 30_create-case-insensitive-index.sql;
-- here they are folded into one file. Only 15 of the real tables are kept, but every table, column,
-- constraint and index name that the updates 5.27 ... 5.32 read or change is the real one, and the
-- types are those of the 5.26 DDL (int4 for enum columns, timestamp without precision).
-- Plain 9.6 syntax only: sequences, no identity columns, no "if not exists".

create table code (
    pk int8 not null,
    code_value varchar(255) not null,
    code_designator varchar(255) not null,
    code_version varchar(255) not null,
    code_meaning varchar(255) not null,
    primary key (pk));

create table dicomattrs (
    pk int8 not null,
    attrs bytea not null,
    primary key (pk));

create table person_name (
    pk int8 not null,
    alphabetic_name varchar(255) not null,
    ideographic_name varchar(255) not null,
    phonetic_name varchar(255) not null,
    primary key (pk));

create table metadata (
    pk int8 not null,
    created_time timestamp not null,
    digest varchar(255),
    object_size int8 not null,
    status int4 not null,
    storage_id varchar(255) not null,
    storage_path varchar(255) not null,
    primary key (pk));

create table uidmap (
    pk int8 not null,
    uidmap bytea not null,
    primary key (pk));

-- 5.26: patient -> patient_id (patient.patient_id_fk); 5.31 turns this round.
create table patient_id (
    pk int8 not null,
    pat_id varchar(255) not null,
    pat_id_type_code varchar(255),
    entity_id varchar(255),
    entity_uid varchar(255),
    entity_uid_type varchar(255),
    version int8,
    primary key (pk));

create table patient (
    pk int8 not null,
    created_time timestamp not null,
    updated_time timestamp not null,
    failed_verifications int4 not null,
    num_studies int4 not null,
    pat_birthdate varchar(255) not null,
    pat_sex varchar(255) not null,
    pat_custom1 varchar(255) not null,
    verification_status int4 not null,
    verification_time timestamp,
    version int8,
    dicomattrs_fk int8 not null,
    merge_fk int8,
    patient_id_fk int8,
    pat_name_fk int8,
    resp_person_fk int8,
    primary key (pk));

create table study (
    pk int8 not null,
    study_iuid varchar(255) not null,
    study_id varchar(255) not null,
    study_date varchar(255) not null,
    study_time varchar(255) not null,
    study_desc varchar(255) not null,
    accession_no varchar(255) not null,
    admission_id varchar(255) not null,
    access_control_id varchar(255) not null,
    access_time timestamp not null,
    completeness int4 not null,
    rejection_state int4 not null,
    expiration_state int4 not null,
    expiration_date varchar(255),
    failed_retrieves int4 not null,
    ext_retrieve_aet varchar(255) not null,
    study_size int8 not null,
    storage_ids varchar(255),
    study_custom1 varchar(255) not null,
    created_time timestamp not null,
    updated_time timestamp not null,
    modified_time timestamp not null,
    version int8,
    dicomattrs_fk int8 not null,
    patient_fk int8 not null,
    ref_phys_name_fk int8,
    primary key (pk));

-- No modified_time yet (5.27 adds it); ext_retrieve_aet still nullable (5.32 fills it).
create table series (
    pk int8 not null,
    series_iuid varchar(255) not null,
    series_no int4,
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
    completeness int4 not null,
    rejection_state int4 not null,
    expiration_state int4 not null,
    expiration_date varchar(255),
    failed_retrieves int4 not null,
    inst_purge_state int4 not null,
    inst_purge_time timestamp,
    metadata_update_time timestamp,
    metadata_update_failures int4 not null,
    stgver_failures int4 not null,
    compress_failures int4 not null,
    ext_retrieve_aet varchar(255),
    sending_aet varchar(255),
    receiving_aet varchar(255),
    series_size int8 not null,
    created_time timestamp not null,
    updated_time timestamp not null,
    version int8,
    dicomattrs_fk int8 not null,
    metadata_fk int8,
    perf_phys_name_fk int8,
    study_fk int8 not null,
    primary key (pk));

-- The largest table; 5.32 rewrites nearly every row of it (ext_retrieve_aet null -> '*').
create table instance (
    pk int8 not null,
    sop_iuid varchar(255) not null,
    sop_cuid varchar(255) not null,
    inst_no int4,
    num_frames int4,
    content_date varchar(255) not null,
    content_time varchar(255) not null,
    sr_complete varchar(255) not null,
    sr_verified varchar(255) not null,
    inst_custom1 varchar(255) not null,
    availability int4 not null,
    retrieve_aets varchar(255),
    ext_retrieve_aet varchar(255),
    created_time timestamp not null,
    updated_time timestamp not null,
    version int8,
    dicomattrs_fk int8 not null,
    srcode_fk int8,
    series_fk int8 not null,
    primary key (pk));

-- One row per stored object; no update touches it.
create table location (
    pk int8 not null,
    created_time timestamp not null,
    digest varchar(255),
    multi_ref int4,
    object_type int4 not null,
    object_size int8 not null,
    status int4 not null,
    storage_id varchar(255) not null,
    storage_path varchar(255) not null,
    tsuid varchar(255),
    instance_fk int8,
    uidmap_fk int8,
    primary key (pk));

create table mpps (
    pk int8 not null,
    sop_iuid varchar(255) not null,
    study_iuid varchar(255) not null,
    accession_no varchar(255) not null,
    pps_start_date varchar(255) not null,
    pps_start_time varchar(255) not null,
    pps_status int4 not null,
    created_time timestamp not null,
    updated_time timestamp not null,
    version int8,
    dicomattrs_fk int8 not null,
    discreason_code_fk int8,
    patient_fk int8 not null,
    primary key (pk));

-- local_aet is what 5.30 copies into worklist_label and then drops.
create table mwl_item (
    pk int8 not null,
    study_iuid varchar(255) not null,
    sps_id varchar(255) not null,
    req_proc_id varchar(255) not null,
    accession_no varchar(255) not null,
    admission_id varchar(255) not null,
    institution varchar(255) not null,
    department varchar(255) not null,
    modality varchar(255) not null,
    local_aet varchar(255) not null,
    sps_start_date varchar(255) not null,
    sps_start_time varchar(255) not null,
    sps_status int4 not null,
    created_time timestamp not null,
    updated_time timestamp not null,
    version int8,
    dicomattrs_fk int8 not null,
    inst_code_fk int8,
    dept_code_fk int8,
    patient_fk int8 not null,
    perf_phys_name_fk int8,
    primary key (pk));

create table hl7psu_task (
    pk int8 not null,
    aet varchar(255) not null,
    created_time timestamp not null,
    device_name varchar(255) not null,
    pps_status int4,
    scheduled_time timestamp,
    series_iuid varchar(255),
    study_iuid varchar(255),
    mpps_fk int8,
    primary key (pk));

create table task (
    pk int8 not null,
    batch_id varchar(255),
    created_time timestamp not null,
    updated_time timestamp not null,
    scheduled_time timestamp not null,
    proc_start_time timestamp,
    proc_end_time timestamp,
    device_name varchar(255) not null,
    queue_name varchar(255) not null,
    task_type int4 not null,
    task_status int4 not null,
    exporter_id varchar(255),
    local_aet varchar(255),
    remote_aet varchar(255),
    destination_aet varchar(255),
    study_iuid varchar(255),
    series_iuid varchar(255),
    sop_iuid varchar(255),
    num_failures int4 not null,
    num_instances int4,
    different int4 not null,
    matches int4 not null,
    missing int4 not null,
    warning int4 not null,
    failed int4,
    error_msg varchar(255),
    outcome_msg varchar(255),
    payload bytea,
    version int8,
    primary key (pk));

-- Unique constraints and plain indexes, with the names the 5.26 DDL generator gave them.
alter table code add constraint UK_sb4oc9lkns36wswku831c33w6 unique (code_value, code_designator, code_version);
create index UK_gs2yshbwu0gkd33yxyv13keoh on person_name (alphabetic_name);
create index UK_f7c9hmq8pfypohkgkp5vkbhxp on metadata (storage_id, status);
create index UK_tkyjkkxxhnr0fem7m0h3844jk on patient_id (pat_id);
create index UK_d1sdyupb0vwvx23jownjnyy72 on patient_id (entity_id);
create index UK_m2jq6xe87vegohf6g10t5ptew on patient_id (entity_uid, entity_uid_type);
alter table patient add constraint UK_5lgndn3gn7iug3kuewiy9q124 unique (dicomattrs_fk);
alter table patient add constraint UK_39gahcxyursxfxe2ucextr65s unique (patient_id_fk);
create index UK_e7rsyrt9n2mccyv1fcd2s6ikv on patient (verification_status);
create index UK_296rccryifu6d8byisl2f4dvq on patient (num_studies);
create index UK_1ho1jyofty54ip8aqpuhi4mu1 on patient (pat_birthdate);
create index UK_545wp9un24fhgcy2lcfu1o04y on patient (pat_sex);
alter table study add constraint UK_5w0oynbw061mwu1rr9mrb6kj4 unique (dicomattrs_fk);
alter table study add constraint UK_pt5qn20x278wb1f7p2t3lcxv unique (study_iuid);
create index UK_q8k2sl3kjl18qg1nr19l47tl1 on study (access_time);
create index UK_6ry2squ4qcv129lxpae1oy93m on study (created_time);
create index UK_a1rewlmf8uxfgshk25f6uawx2 on study (study_date);
create index UK_2ofn5q0fdfc6941e5j34bplmv on study (accession_no);
create index UK_j3q7fkhhiu4bolglyve3lv385 on study (study_desc);
create index UK_cl9dmi0kb97ov1cjh7rn3dhve on study (ext_retrieve_aet);
alter table series add constraint UK_bdj2kuutidekc2en6dckev7l6 unique (dicomattrs_fk);
alter table series add constraint UK_83y2fx8cou17h3xggxspgikna unique (study_fk, series_iuid);
create index UK_9fi64g5jjycg9dp24jjk5txg1 on series (series_iuid);
create index UK_b126hub0dc1o9dqp6awoispx2 on series (modality);
create index UK_achxn1rtfm3fbkkswlsyr75t0 on series (series_desc);
create index UK_hwkcpd7yv0nca7o918wm4bn69 on series (metadata_update_time);
alter table instance add constraint UK_jxfu47kwjk3kkkyrwewjw8a4n unique (dicomattrs_fk);
alter table instance add constraint UK_247lgirehl8i2vuanyfjnuyjb unique (series_fk, sop_iuid);
create index UK_eg0khesxr81gdimwhjiyrylw7 on instance (sop_iuid);
create index UK_dglm8ndp9y9i0uo6fgaa5rhbb on instance (sop_cuid);
create index UK_r3oh859i9osv3aluoc8dcx9wk on location (storage_id, status);
create index UK_i1lnahmehau3r3j9pdyxg3p3y on location (multi_ref);
alter table mpps add constraint UK_o49fec996jvdo31o7ysmsn9s2 unique (dicomattrs_fk);
alter table mpps add constraint UK_cyqglxijg7kebbj6oj821yx4d unique (sop_iuid);
alter table mwl_item add constraint UK_6qj8tkh6ib9w2pjqwvqe23ko unique (dicomattrs_fk);
alter table mwl_item add constraint UK_lerlqlaghhcs0oaj5irux4qig unique (study_iuid, sps_id);
create index UK_d0v5hjn1crha2nqbws4wj0yoj on mwl_item (updated_time);
create index UK_9ockpkbetj7a97for0s1jhasi on mwl_item (local_aet);
create index UK_2odo3oah39o400thy9bf0rgv0 on mwl_item (sps_id);
create index UK_fpfq8q514gsime2dl8oo773d4 on mwl_item (study_iuid);
create index UK_3oigo76r1a7et491bkci96km8 on mwl_item (sps_status);
alter table hl7psu_task add constraint UK_1t3jge4o2fl1byp3y8ljmkb3m unique (study_iuid, pps_status);
create index UK_t0y05h07d9dagn9a4a9s4a5a4 on hl7psu_task (device_name);
create index UK_m47ruxpag7pq4gtn12lc63yfe on task (device_name);
create index UK_r2bcfyreh4n9h392iik1aa6sh on task (queue_name);
create index UK_a582by7kuyuhk8hi41tkelhrw on task (task_type);
create index UK_7y5ucdiygunyg2nh7qrs70e7k on task (task_status);
create index UK_xwqht1afwe7k27iulvggnwwl on task (scheduled_time);
create index UK_k6dxmm1gu6u23xq03hbk80m4r on task (batch_id);
create index UK_f7c43c242ybnvcn3o50lrcpkh on task (destination_aet);
create index UK_6a0y0rsssms4mtm9bpkw8vgl6 on task (study_iuid, series_iuid, sop_iuid);

-- Foreign keys (names FK_<same hash as the unique constraint> where one exists).
alter table patient add constraint FK_5lgndn3gn7iug3kuewiy9q124 foreign key (dicomattrs_fk) references dicomattrs;
alter table patient add constraint FK_sk77bwjgaoetvy1pbcgqf08g foreign key (merge_fk) references patient;
alter table patient add constraint FK_39gahcxyursxfxe2ucextr65s foreign key (patient_id_fk) references patient_id;
alter table patient add constraint FK_rj42ffdtimnrcwmqqlvj24gi2 foreign key (pat_name_fk) references person_name;
alter table patient add constraint FK_56r2g5ggptqgcvb3hl11adke2 foreign key (resp_person_fk) references person_name;
alter table study add constraint FK_5w0oynbw061mwu1rr9mrb6kj4 foreign key (dicomattrs_fk) references dicomattrs;
alter table study add constraint FK_e3fdaqhw7u60trs5aspf4sna9 foreign key (patient_fk) references patient;
alter table study add constraint FK_49eet5qgcsb32ktsqrf1mj3x2 foreign key (ref_phys_name_fk) references person_name;
alter table series add constraint FK_bdj2kuutidekc2en6dckev7l6 foreign key (dicomattrs_fk) references dicomattrs;
alter table series add constraint FK_pu4p7k1o9hleuk9rmxvw2ybj6 foreign key (metadata_fk) references metadata;
alter table series add constraint FK_5n4bxxb2xa7bvvq26ao7wihky foreign key (perf_phys_name_fk) references person_name;
alter table series add constraint FK_1og1krtgxfh207rtqjg0r7pbd foreign key (study_fk) references study;
alter table instance add constraint FK_jxfu47kwjk3kkkyrwewjw8a4n foreign key (dicomattrs_fk) references dicomattrs;
alter table instance add constraint FK_7w6f9bi2w91qr2abl6ddxnrwq foreign key (srcode_fk) references code;
alter table instance add constraint FK_s4tgrew4sh4qxoupmk3gihtrk foreign key (series_fk) references series;
alter table location add constraint FK_hjtlcwsvwihs4khh961d423e7 foreign key (instance_fk) references instance;
alter table location add constraint FK_bfk5vl6eoxaf0hhwiu3rbgmkn foreign key (uidmap_fk) references uidmap;
alter table mpps add constraint FK_o49fec996jvdo31o7ysmsn9s2 foreign key (dicomattrs_fk) references dicomattrs;
alter table mpps add constraint FK_nrigpgue611m33rao03nnfe5l foreign key (discreason_code_fk) references code;
alter table mpps add constraint FK_ofg0lvfxad6r5oigw3y6da27u foreign key (patient_fk) references patient;
alter table mwl_item add constraint FK_6qj8tkh6ib9w2pjqwvqe23ko foreign key (dicomattrs_fk) references dicomattrs;
alter table mwl_item add constraint FK_t4vpsywvy0axeutmdgc0ye3nk foreign key (inst_code_fk) references code;
alter table mwl_item add constraint FK_hqecoo67sflk190dxyc0hnf0c foreign key (dept_code_fk) references code;
alter table mwl_item add constraint FK_vkxtls2wr17wgxnxj7b2fe32 foreign key (patient_fk) references patient;
alter table mwl_item add constraint FK_44qwwvs50lgpog2cqmicxgt1f foreign key (perf_phys_name_fk) references person_name;
alter table hl7psu_task add constraint FK_pev4urgkk7id2h1ijhv8domjx foreign key (mpps_fk) references mpps;

create sequence code_pk_seq;
create sequence dicomattrs_pk_seq;
create sequence hl7psu_task_pk_seq;
create sequence instance_pk_seq;
create sequence location_pk_seq;
create sequence metadata_pk_seq;
create sequence mpps_pk_seq;
create sequence mwl_item_pk_seq;
create sequence patient_id_pk_seq;
create sequence patient_pk_seq;
create sequence person_name_pk_seq;
create sequence series_pk_seq;
create sequence study_pk_seq;
create sequence task_pk_seq;
create sequence uidmap_pk_seq;

-- 20_create-fk-index.sql: PostgreSQL does not index foreign-key columns by itself.
create index FK_sk77bwjgaoetvy1pbcgqf08g on patient (merge_fk);
create index FK_39gahcxyursxfxe2ucextr65s on patient (patient_id_fk);
create index FK_rj42ffdtimnrcwmqqlvj24gi2 on patient (pat_name_fk);
create index FK_56r2g5ggptqgcvb3hl11adke2 on patient (resp_person_fk);
create index FK_e3fdaqhw7u60trs5aspf4sna9 on study (patient_fk);
create index FK_49eet5qgcsb32ktsqrf1mj3x2 on study (ref_phys_name_fk);
create index FK_pu4p7k1o9hleuk9rmxvw2ybj6 on series (metadata_fk);
create index FK_5n4bxxb2xa7bvvq26ao7wihky on series (perf_phys_name_fk);
create index FK_1og1krtgxfh207rtqjg0r7pbd on series (study_fk);
create index FK_7w6f9bi2w91qr2abl6ddxnrwq on instance (srcode_fk);
create index FK_s4tgrew4sh4qxoupmk3gihtrk on instance (series_fk);
create index FK_hjtlcwsvwihs4khh961d423e7 on location (instance_fk);
create index FK_bfk5vl6eoxaf0hhwiu3rbgmkn on location (uidmap_fk);
create index FK_nrigpgue611m33rao03nnfe5l on mpps (discreason_code_fk);
create index FK_ofg0lvfxad6r5oigw3y6da27u on mpps (patient_fk);
create index FK_t4vpsywvy0axeutmdgc0ye3nk on mwl_item (inst_code_fk);
create index FK_hqecoo67sflk190dxyc0hnf0c on mwl_item (dept_code_fk);
create index FK_vkxtls2wr17wgxnxj7b2fe32 on mwl_item (patient_fk);
create index FK_44qwwvs50lgpog2cqmicxgt1f on mwl_item (perf_phys_name_fk);
create index FK_pev4urgkk7id2h1ijhv8domjx on hl7psu_task (mpps_fk);

-- 30_create-case-insensitive-index.sql
create index alphabetic_name_upper_idx on person_name (upper(alphabetic_name));
create index series_desc_upper_idx on series (upper(series_desc));
create index study_desc_upper_idx on study (upper(study_desc));
