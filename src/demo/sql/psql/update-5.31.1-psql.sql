-- Miniature of dcm4chee-arc-light update-5.31.1-psql.sql: one index for looking up export tasks.
create index IDXe6odcfrgswxke8wtlj8bdehet on task (exporter_id);
