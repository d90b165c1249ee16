-- Miniature of dcm4chee-arc-light update-5.31-psql.sql (5.30 -> 5.31): several patient ids per
-- patient, so the link moves from patient.patient_id_fk to patient_id.patient_fk.
-- patient_id rows that no patient references keep a NULL patient_fk: the column stays nullable
-- here, while a fresh 5.32 schema declares it NOT NULL.

-- part 1: may run while archive 5.30 is still up
alter table patient_id add patient_fk int8;
alter table patient_id add constraint FK_hba9466n4re9re8id3c8abmnv foreign key (patient_fk) references patient;
update patient_id set patient_fk =
    (select patient.pk from patient where patient.patient_id_fk = patient_id.pk);
create index FK_hba9466n4re9re8id3c8abmnv on patient_id (patient_fk);

-- part 2: with the archive stopped, before 5.31 starts
update patient_id set patient_fk =
    (select patient.pk from patient where patient.patient_id_fk = patient_id.pk)
    where patient_fk is null;

-- part 3: may run while 5.31 is up (dropping the column also drops its FK, unique and index)
alter table patient drop patient_id_fk;
