// A reproducible synthetic PACS for a dcm4chee 5.26 schema (the miniature in sql/old-init or the
// vendor's own): patients, studies, series, instances with their storage locations, plus worklist
// items and tasks. Every row is generated server-side from generate_series and a pure hash of
// (row number, seed, salt), so the same seed gives byte-identical tables and a million instances
// load in seconds. Runs on PostgreSQL 9.6 and 15.

/** A NOT NULL column without a default: every insert into its table must give it a value. */
export interface RequiredColumn {
  table: string;
  column: string;
  type: string;
}

/**
 * The schema's required columns (as RequiredColumn rows). The vendor's 5.26 schema has NOT NULL
 * columns the miniature leaves out (pat_custom2, study_custom3, …): the seeder fills those it does
 * not name itself with a neutral value instead of knowing every schema.
 */
export const REQUIRED_COLUMNS_SQL = `select table_name as "table", column_name as "column", data_type as "type"
  from information_schema.columns
  where table_schema = current_schema() and is_nullable = 'NO' and column_default is null
  order by table_name, ordinal_position`;

export interface SeedOptions {
  instances: number;
  seed: number;
  /** The target schema's required columns; those the seeder does not name get a neutral value. */
  required?: readonly RequiredColumn[];
}

const MASK32 = 4294967295n;
const UID_ROOT = '1.2.826.0.1.3680043.8.498'; // a root meant for generated test data
const BASE_TIME = `timestamp '2023-01-02 07:00:00'`;
const SPAN_SECONDS = 2 * 365 * 86400; // studies spread over two years
const DEVICE = 'dcm4chee-arc';

// SOP classes matched by index with the modality they belong to; repeats set the mix.
const MODALITIES = ['CT', 'CT', 'CT', 'MR', 'MR', 'CR', 'US', 'SEG'];
const SOP_CLASSES = [
  '1.2.840.10008.5.1.4.1.1.2',
  '1.2.840.10008.5.1.4.1.1.2',
  '1.2.840.10008.5.1.4.1.1.2',
  '1.2.840.10008.5.1.4.1.1.4',
  '1.2.840.10008.5.1.4.1.1.4',
  '1.2.840.10008.5.1.4.1.1.1',
  '1.2.840.10008.5.1.4.1.1.6.1',
  '1.2.840.10008.5.1.4.1.1.66.4',
];
const BODY_PARTS = ['CHEST', 'HEAD', 'ABDOMEN', 'PELVIS', 'KNEE', 'SPINE'];
const SERIES_DESCS = ['AXIAL 1.0', 'AXIAL 5.0', 'CORONAL', 'SAGITTAL', 'T1 MPRAGE', 'T2 FLAIR', 'LOCALIZER', 'nnUNet segmentation'];
const STUDY_DESCS = ['CT THORAX', 'CT ABDOMEN', 'MR BRAIN', 'MR KNEE', 'XR CHEST', 'US ABDOMEN', 'CT HEAD', 'MR SPINE'];
const FAMILY = ['Miller', 'Schmidt', 'Garcia', 'Nguyen', 'Kowalski', 'Rossi', 'Jensen', 'Tanaka', 'Okafor', 'Dubois', 'Novak', 'Silva', 'Fischer', 'Larsen', 'Moreau', 'Weber', 'Costa', 'Horvat', 'Yilmaz', 'Becker'];
const GIVEN = ['Anna', 'Ben', 'Clara', 'David', 'Emma', 'Felix', 'Greta', 'Hugo', 'Ida', 'Jonas', 'Kira', 'Leon', 'Mia', 'Noah', 'Olga', 'Paul', 'Rosa', 'Sven', 'Tara', 'Uwe'];

const sqlArray = (values: readonly string[]): string => `array[${values.map((v) => `'${v}'`).join(', ')}]`;
/** Element of a constant array chosen by a non-negative bigint expression. */
const pick = (values: readonly string[], index: string): string =>
  `(${sqlArray(values)})[1 + (${index}) % ${values.length}]`;
const hex8 = (hash: string): string => `upper(lpad(to_hex(${hash}), 8, '0'))`;
const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * What a required column the seeder knows nothing about gets: '*' is what dcm4chee itself stores
 * for an absent attribute in a NOT NULL text column, zero and false mean "none" in its counters
 * and flags.
 */
function neutralValue(c: RequiredColumn): string {
  switch (c.type) {
    case 'character varying':
    case 'character':
    case 'text':
      return `'*'`;
    case 'smallint':
    case 'integer':
    case 'bigint':
    case 'numeric':
    case 'real':
    case 'double precision':
      return '0';
    case 'boolean':
      return 'false';
    case 'timestamp without time zone':
    case 'timestamp with time zone':
      return BASE_TIME;
    case 'bytea':
      return `''::bytea`;
    default:
      throw new Error(`${c.table}.${c.column} is NOT NULL without a default, and the seeder has no neutral value for its type ${c.type}`);
  }
}

export function seedStatements(opts: SeedOptions): string[] {
  const { instances, seed, required = [] } = opts;
  if (!Number.isSafeInteger(instances) || instances < 1) throw new RangeError(`instances must be a positive integer, got ${instances}`);
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 2147483647) throw new RangeError(`seed must be an integer in [0, 2^31), got ${seed}`);

  // Shape of the archive: ~100 instances per series, ~3 series per study, ~2 studies per patient.
  const I = instances;
  const S = Math.ceil(I / 100);
  const ST = Math.ceil(S / 3);
  const P = Math.ceil(ST / 2);
  const ORPHANS = 2 + Math.floor(P / 500); // patient ids no patient references (5.31 leaves patient_fk NULL)
  const W = 3 + Math.floor(ST / 10); // worklist items
  const H = 1 + Math.floor(ST / 50); // HL7 procedure-step-update tasks
  const T = 2 + Math.floor(ST / 5); // export / retrieve / storage-verification tasks

  // One dicomattrs row per patient, study, series, instance and worklist item, in consecutive ranges.
  const ATTRS_STUDY = P;
  const ATTRS_SERIES = ATTRS_STUDY + ST;
  const ATTRS_INSTANCE = ATTRS_SERIES + S;
  const ATTRS_MWL = ATTRS_INSTANCE + I;
  const ATTRS_TOTAL = ATTRS_MWL + W;

  /**
   * Deterministic 32-bit hash of a bigint expression: multiplicative hashing, then one xor-shift-
   * multiply round. Multipliers stay below 2^31 so nothing overflows bigint.
   */
  const hash = (expr: string, salt: number): string => {
    const k = (BigInt(seed) * 1000003n + BigInt(salt) * 7919n) & MASK32;
    const x0 = `(((${expr}) * 2654435761 + ${k}) & ${MASK32})`;
    const x1 = `(((${x0} # (${x0} >> 16)) * 73244475) & ${MASK32})`;
    return `(${x1} # (${x1} >> 15))`;
  };
  const rows = (count: number, name: string): string => `generate_series(1::bigint, ${count}::bigint) g(${name})`;
  // Parent of a child when `children` are spread evenly over `parents` (both numbered from 1) ...
  const parentOf = (child: string, children: number, parents: number): string => `(1 + ((${child}) - 1) * ${parents} / ${children})`;
  // ... and the child's 1-based position among its siblings.
  const positionIn = (child: string, parent: string, children: number, parents: number): string =>
    `((${child}) - (((${parent}) - 1) * ${children} + ${parents} - 1) / ${parents})`;
  const studyCreated = (t: string, ht: string): string =>
    `(${BASE_TIME} + (((${t}) - 1) * ${SPAN_SECONDS} / ${ST} + (${ht}) % 36000) * interval '1 second')`;
  const seriesCreated = (s: string, t: string, ht: string): string =>
    `(${studyCreated(t, ht)} + ${positionIn(s, t, S, ST)} * interval '2 minutes')`;
  // Fixed-width numbers keep the UIDs' text order equal to insertion order (index inserts append).
  const uid = (kind: number, n: string): string => `'${UID_ROOT}.${seed}.${kind}.' || (1000000000 + (${n}))`;
  const studyUid = (t: string): string => uid(1, t);
  const seriesUid = (s: string): string => uid(2, s);
  const sopUid = (n: string): string => uid(3, n);
  // About one series in 32 was retrieved from another archive; everything else has no external AET.
  const extRetrieveAet = (hs: string): string => `case when (${hs}) % 32 = 0 then 'EXT_PACS' end`;

  // Per-instance numbers, the hash computed once per row (OFFSET 0 keeps the planner from inlining
  // it into every expression that uses it). What an instance shares with its series (SOP class,
  // external AET, time) is read from the series row instead of being recomputed a million times.
  const instanceRows = `(
    select n, s, ${positionIn('n', 's', I, S)} as inst_no, r
    from (select n, s, ${hash('n', 11)} as r from (select n, ${parentOf('n', I, S)} as s from ${rows(I, 'n')}) a offset 0) b) x`;
  const instanceCreated = `se.created_time + (x.inst_no - 1) * interval '200 milliseconds'`;

  // Keys are consistent by construction, so a superuser (pacs is one in the Kaapana images) skips
  // the per-row foreign-key triggers, which take half the time; anyone else just loads slower.
  const asSuperuser = (role: string): string =>
    `select set_config('session_replication_role', '${role}', false) from pg_roles where rolname = current_user and rolsuper`;

  /**
   * `insert into table (columns) select …`, with the table's other required columns put in front
   * of both lists (in front, since the select list's end is not known without parsing it).
   */
  const insert = (table: string, columns: string, select: string): string => {
    if (!select.startsWith('select ')) throw new Error(`seed insert into ${table}: the rows must come from a plain select`);
    const named = new Set(columns.split(',').map((c) => c.trim()));
    const extra = required.filter((c) => c.table === table && !named.has(c.column));
    const head = (list: string[]): string => list.map((x) => `${x}, `).join('');
    return `insert into ${table} (${head(extra.map((c) => ident(c.column)))}${columns})
     select ${head(extra.map(neutralValue))}${select.slice('select '.length)}`;
  };

  return [
    asSuperuser('replica'),

    insert('dicomattrs', `pk, attrs`,
      `select n, decode(repeat(md5('${seed}:' || n), 4), 'hex') from ${rows(ATTRS_TOTAL, 'n')}`),

    insert('person_name', `pk, alphabetic_name, ideographic_name, phonetic_name`,
      `select p, ${pick(FAMILY, 'hp')} || '^' || ${pick(GIVEN, 'hp >> 8')}, '*', '*'
     from (select p, ${hash('p', 41)} as hp from ${rows(P, 'p')} offset 0) x`),

    insert('patient_id', `pk, pat_id, pat_id_type_code, entity_id, entity_uid, entity_uid_type, version`,
      `select i, 'KP' || lpad(i::text, 8, '0'), null, 'KAAPANA', null, null, 0 from ${rows(P + ORPHANS, 'i')}`),

    insert('patient', `pk, created_time, updated_time, failed_verifications, num_studies, pat_birthdate, pat_sex,
       pat_custom1, verification_status, verification_time, version, dicomattrs_fk, merge_fk, patient_id_fk, pat_name_fk, resp_person_fk`,
      `select p, created, created, 0, 0, to_char(date '1930-01-01' + (hp % 32000)::int, 'YYYYMMDD'),
       ${pick(['F', 'M', 'F', 'M', 'O'], 'hp >> 12')}, '*', 0, null, 0, p, null, p, p, null
     from (select p, ${hash('p', 41)} as hp, ${BASE_TIME} + ((p - 1) * ${SPAN_SECONDS} / ${P}) * interval '1 second' as created
           from ${rows(P, 'p')} offset 0) x`),

    insert('study', `pk, study_iuid, study_id, study_date, study_time, study_desc, accession_no, admission_id,
       access_control_id, access_time, completeness, rejection_state, expiration_state, expiration_date, failed_retrieves,
       ext_retrieve_aet, study_size, storage_ids, study_custom1, created_time, updated_time, modified_time, version,
       dicomattrs_fk, patient_fk, ref_phys_name_fk`,
      `select t, ${studyUid('t')}, t::text, to_char(created, 'YYYYMMDD'), to_char(created, 'HH24MISS'), ${pick(STUDY_DESCS, 'ht >> 4')},
       'ACC' || lpad(t::text, 8, '0'), '*', '*', created + interval '1 hour', 0, 0, 0, null, 0,
       '*', -1, 'fs1', '*', created, created + interval '1 hour', created + interval '1 hour', 0,
       ${ATTRS_STUDY} + t, ${parentOf('t', ST, P)}, null
     from (select t, ht, ${studyCreated('t', 'ht')} as created from (select t, ${hash('t', 31)} as ht from ${rows(ST, 't')} offset 0) a) x`),

    `update patient set num_studies = c.n
     from (select patient_fk, count(*) as n from study group by patient_fk) c
     where c.patient_fk = patient.pk`,

    insert('series', `pk, series_iuid, series_no, modality, body_part, laterality, series_desc, institution, department,
       station_name, sop_cuid, tsuid, pps_cuid, pps_iuid, pps_start_date, pps_start_time, series_custom1, completeness,
       rejection_state, expiration_state, expiration_date, failed_retrieves, inst_purge_state, inst_purge_time,
       metadata_update_time, metadata_update_failures, stgver_failures, compress_failures, ext_retrieve_aet, sending_aet,
       receiving_aet, series_size, created_time, updated_time, version, dicomattrs_fk, metadata_fk, perf_phys_name_fk, study_fk`,
      `select s, ${seriesUid('s')}, ${positionIn('s', 't', S, ST)}, ${pick(MODALITIES, 'hs')}, ${pick(BODY_PARTS, 'hs >> 8')}, '*',
       ${pick(SERIES_DESCS, 'hs >> 12')}, 'Kaapana Demo Hospital', '*', '*', ${pick(SOP_CLASSES, 'hs')}, '1.2.840.10008.1.2.1',
       '*', '*', '*', '*', '*', 0, 0, 0, null, 0, 0, null, null, 0, 0, 0, ${extRetrieveAet('hs')}, 'CTP', 'KAAPANA',
       -1, created, created + interval '10 minutes', 0, ${ATTRS_SERIES} + s, null, null, t
     from (select s, t, hs, ${seriesCreated('s', 't', 'ht')} as created
           from (select s, t, ${hash('s', 21)} as hs, ${hash('t', 31)} as ht
                 from (select s, ${parentOf('s', S, ST)} as t from ${rows(S, 's')}) a offset 0) b) x`),

    insert('instance', `pk, sop_iuid, sop_cuid, inst_no, num_frames, content_date, content_time, sr_complete, sr_verified,
       inst_custom1, availability, retrieve_aets, ext_retrieve_aet, created_time, updated_time, version, dicomattrs_fk,
       srcode_fk, series_fk`,
      `select n, ${sopUid('n')}, sop_cuid, inst_no, case when r % 50 = 0 then 1 + (r >> 8) % 300 else 1 end,
       to_char(created, 'YYYYMMDD'), to_char(created, 'HH24MISS.MS'), '*', '*', '*', 0, 'KAAPANA', ext_retrieve_aet,
       created, created, 0, ${ATTRS_INSTANCE} + n, null, s
     from (select x.*, se.sop_cuid, se.ext_retrieve_aet, ${instanceCreated} as created
           from ${instanceRows} join series se on se.pk = x.s) y`),

    // dcm4chee's default storage path: {receive date}/{study UID hash}/{series UID hash}/{SOP UID hash}.
    insert('location', `pk, created_time, digest, multi_ref, object_type, object_size, status, storage_id, storage_path,
       tsuid, instance_fk, uidmap_fk`,
      `select n, created, md5(${sopUid('n')}), null, 0, 100000 + (r >> 4) % 500000, 0, 'fs1',
       to_char(created, 'YYYY/MM/DD') || '/' || dirs || '/' || ${hex8('r')}, '1.2.840.10008.1.2.1', n, null
     from (select x.*, ${instanceCreated} as created, dirs
           from ${instanceRows}
           join (select se.pk, se.created_time, ${hex8(hash('se.study_fk', 51))} || '/' || ${hex8(hash('se.pk', 52))} as dirs
                 from series se offset 0) se on se.pk = x.s) y`),

    insert('mwl_item', `pk, study_iuid, sps_id, req_proc_id, accession_no, admission_id, institution, department, modality,
       local_aet, sps_start_date, sps_start_time, sps_status, created_time, updated_time, version, dicomattrs_fk,
       inst_code_fk, dept_code_fk, patient_fk, perf_phys_name_fk`,
      `select w, ${uid(4, 'w')}, 'SPS' || w, 'RP' || w, 'MWL' || lpad(w::text, 8, '0'), '*', 'Kaapana Demo Hospital', '*',
       ${pick(MODALITIES, 'hw')}, ${pick(['KAAPANA', 'KAAPANA', 'KAAPANA_MWL'], 'hw >> 8')},
       to_char(start, 'YYYYMMDD'), to_char(start, 'HH24MISS'), 0, start - interval '2 days', start - interval '2 days', 0,
       ${ATTRS_MWL} + w, null, null, 1 + (w - 1) % ${P}, null
     from (select w, hw, ${BASE_TIME} + interval '730 days' + (hw % 864000) * interval '1 second' as start
           from (select w, ${hash('w', 61)} as hw from ${rows(W, 'w')} offset 0) a) x`),

    insert('hl7psu_task', `pk, aet, created_time, device_name, pps_status, scheduled_time, series_iuid, study_iuid, mpps_fk`,
      `select k, 'KAAPANA', created, '${DEVICE}', 0, created + interval '5 minutes', null, ${studyUid('k')}, null
     from (select k, ${studyCreated('k', hash('k', 31))} as created from ${rows(H, 'k')}) x`),

    // Task.Type EXPORT=0, RETRIEVE=1, STGVER=6; Task.Status COMPLETED=2, FAILED=4.
    insert('task', `pk, batch_id, created_time, updated_time, scheduled_time, proc_start_time, proc_end_time, device_name,
       queue_name, task_type, task_status, exporter_id, local_aet, remote_aet, destination_aet, study_iuid, series_iuid,
       sop_iuid, num_failures, num_instances, different, matches, missing, warning, failed, error_msg, outcome_msg,
       payload, version`,
      `select k, case when kind = 1 then 'retrieve-' || (k % 7) end, created, created + interval '1 minute', created,
       created + interval '10 seconds', created + interval '1 minute', '${DEVICE}',
       (array['Export1', 'Retrieve1', 'StgVerTasks'])[1 + kind], (array[0, 1, 6])[1 + kind], failed * 2 + 2,
       case when kind = 0 then 'KAAPANA_EXPORT' end, 'KAAPANA', case when kind = 1 then 'EXT_PACS' end,
       case when kind < 2 then 'KAAPANA' end, ${studyUid(`1 + (k - 1) % ${ST}`)}, null, null, failed, 300, 0, 0, 0, 0,
       case when kind = 1 then failed * 300 end, case when failed = 1 then 'Connection refused' end,
       case when failed = 0 then 'completed' end, null, 0
     from (select k, hk % 3 as kind, case when hk % 17 = 0 then 1 else 0 end as failed,
             ${BASE_TIME} + ((k - 1) * ${SPAN_SECONDS} / ${T}) * interval '1 second' as created
           from (select k, ${hash('k', 71)} as hk from ${rows(T, 'k')} offset 0) a) x`),

    // Sequences continue after the generated keys, as if the archive had inserted the rows itself.
    `select ${['code', 'dicomattrs', 'hl7psu_task', 'instance', 'location', 'metadata', 'mpps', 'mwl_item', 'patient_id', 'patient', 'person_name', 'series', 'study', 'task', 'uidmap']
      .map((t) => `setval('${t}_pk_seq', coalesce((select max(pk) from ${t}), 0) + 1, false)`)
      .join(',\n       ')}`,

    asSuperuser('origin'),
    'analyze',
  ];
}
