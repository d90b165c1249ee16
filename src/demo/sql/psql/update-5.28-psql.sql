-- Miniature of dcm4chee-arc-light update-5.28-psql.sql (5.27 -> 5.28): the key/value store.
-- Not re-runnable while key_value exists; note that 5.29 drops key_value again, after which this
-- script would run a second time without error.

-- part 1: may run while archive 5.27 is still up
create table key_value (
    pk int8 not null,
    content_type varchar(255) not null,
    created_time timestamp not null,
    key varchar(255) not null,
    updated_time timestamp not null,
    username varchar(255),
    value varchar(4000) not null,
    primary key (pk));
alter table key_value add constraint UK_gvyp924rq0a5y8u3emjs35g2q unique (key);
create index UK_o92kvbnsf2cnttpubgfpd6p01 on key_value (username);
create index UK_51ia14mc4pabswlvaqnt43clb on key_value (updated_time);
create sequence key_value_pk_seq;

-- part 2: with the archive stopped, before 5.28 starts (nothing to do)

-- part 3: may run while 5.28 is up (nothing to do)
