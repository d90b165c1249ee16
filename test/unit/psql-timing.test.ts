// psql's statement timings read from its stdout, and each statement's class. The samples in
// test/fixtures/psql-timing/ are psql 15's stdout for script.sql fed as applyUpdate feeds a script
// (BEGIN, the SET LOCALs, TIMING_ON, the script, TIMING_OFF, COMMIT; LC_ALL=C), against a 15 and a
// 9.6.24 server. psql 9.6 itself is not at hand (the 9.6 binaries here are the server's); the
// images' 9.6 client writes the same but for two things its source shows, so its sample is the
// 9.6.24 one with them applied: it drops `--` comments inside a statement (keeping the line
// break), and prints "Time: N ms" without the "(mm:ss.fff)" that 10 added from one second on.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { statementTimes } from '../../src/postgres/psql-timing.js';
import { describeStatement } from '../../src/postgres/statement-class.js';

const FIXTURES = new URL('../fixtures/psql-timing/', import.meta.url);
const sample = (name: string) => readFileSync(new URL(name, FIXTURES));

/** What a stream of psql output yields, written in pieces of `size` bytes (cutting lines and characters). */
function parse(output: Buffer, size = output.length) {
  const t = statementTimes();
  for (let i = 0; i < output.length; i += size) t.stream.write(output.subarray(i, i + size));
  return t.statements();
}

/** script.sql's statements as the report lists them. */
const EXPECTED: [string, string][] = [
  ['create table code ( pk int8 not null, code_value varchar(255), primary key (pk)…', 'create table'],
  ["insert into code select g, 'v' || g from generate_series(1, 20000) g;", 'insert'],
  ['alter table code add code_meaning varchar(255);', 'alter table add/drop column'],
  ["update code set code_meaning = 'not -- a comment; nor /* this */ – ü' where cod…", 'update'],
  ['select count(*) from code;', 'other'],
  ['alter table code alter code_meaning set not null;', 'alter table … set not null'],
  ['alter table code add constraint UK_code_value unique (code_value);', 'alter table … add constraint'],
  ['create index IDX_code_meaning on code (code_meaning);', 'create index'],
  ['alter table code alter code_value type varchar(300);', 'alter table … type'],
  ['delete from code where pk > 10000;', 'delete'],
  ['do $$ begin perform pg_sleep(1.01); end $$;', 'other'],
  ['alter table code rename constraint UK_code_value to UK_code;', 'alter table (other)'],
  ['alter table code drop code_meaning;', 'alter table add/drop column'],
  ['drop table code;', 'drop'],
];

for (const [file, slept] of [
  ['psql15-server15.out', 1014.953],
  ['psql15-server9.6.out', 1017.761],
  ['psql9.6-server9.6.out', 1017.761],
] as const) {
  test(`${file}: every statement of the script in order, with its class and psql's time`, () => {
    const output = sample(file);
    const statements = parse(output);
    assert.deepEqual(
      statements.map((s) => [s.sql, s.class]),
      EXPECTED,
    );
    assert.ok(statements.every((s) => s.ms >= 0 && s.count === undefined));
    // The pg_sleep of a little over a second, as psql timed it (with or without "(00:01.0…)").
    assert.equal(statements[10]!.ms, slept);
    assert.ok(statements.every((s, i) => i === 10 || s.ms < slept));
    // However psql's writes are cut, line and character breaks included.
    assert.deepEqual(parse(output, 7), statements);
    assert.deepEqual(parse(output, 1), statements);
  });
}

test('what is held stays bounded: 200 statements listed, the rest summed per class; an endless line is cut', () => {
  const t = statementTimes();
  // A megabyte on one line, then its time: only the start of it is read.
  for (let i = 0; i < 1024; i++) t.stream.write(`${'x'.repeat(1023)} `);
  t.stream.write('\nTime: 2.000 ms\n');
  for (let i = 0; i < 230; i++) t.stream.write(`${i % 3 === 0 ? `update t${i} set a = 1;` : `create index i${i} on t (a);`}\nTime: 1.500 ms\n`);
  const statements = t.statements();
  assert.deepEqual(statements[0], { sql: `${'x'.repeat(79)}…`, class: 'other', ms: 2 });
  assert.equal(statements.length, 200 + 2);
  assert.deepEqual(statements.slice(200), [
    { sql: '(21 more create index statements)', class: 'create index', ms: 31.5, count: 21 },
    { sql: '(10 more update statements)', class: 'update', ms: 15, count: 10 },
  ]);
  assert.equal(statements.slice(0, 200).reduce((n, s) => n + (s.class === 'update' ? 1 : 0), 0), 67);
});

test("a statement's line that only starts or ends like psql's time line stays its text", () => {
  const statements = parse(Buffer.from("insert into notes values ('Time: 1.000 ms\nTime: 2.000 ms, said the log');\nTime: 0.250 ms\n"));
  assert.equal(statements.length, 1);
  assert.equal(statements[0]!.ms, 0.25);
  assert.equal(statements[0]!.class, 'insert');
});

test('psql 10 and later mark long times with (mm:ss.fff), (hh:mm:ss.fff) or (d hh:mm:ss.fff)', () => {
  const out = ['select 1;', 'Time: 61234.500 ms (01:01.235)', 'select 2;', 'Time: 3723000.000 ms (01:02:03.000)', 'select 3;', 'Time: 90000000.000 ms (1 d 01:00:00.000)', ''].join('\n');
  assert.deepEqual(
    parse(Buffer.from(out)).map((s) => s.ms),
    [61234.5, 3723000, 90000000],
  );
});

test("the vendor's statements fall into the classes that tell what they cost", () => {
  // As the dcm4chee-arc-light update scripts write them: ADD and DROP without COLUMN.
  const cases: [string, string][] = [
    ['alter table patient_id\n    add patient_fk int8;', 'alter table add/drop column'],
    ['alter table patient drop patient_id_fk;', 'alter table add/drop column'],
    ['alter table patient drop column patient_id_fk;', 'alter table add/drop column'],
    ['alter table instance_req\n    add constraint FK_cqmmps9maltjybl44t4cck404 foreign key (req_phys_name_fk) references person_name;', 'alter table … add constraint'],
    ['alter table series alter modified_time set not null;', 'alter table … set not null'],
    ['alter table series alter column modified_time set not null, alter column updated_time set not null;', 'alter table … set not null'],
    ['alter table series alter modified_time drop not null;', 'alter table (other)'],
    ['alter table study drop constraint UK_pt8;', 'alter table (other)'],
    ['alter table series alter column modified_time set data type timestamp(6);', 'alter table … type'],
    ['update patient_id set patient_fk = (\n    select patient.pk from patient where patient_id_fk = patient_id.pk );', 'update'],
    ['create sequence instance_req_pk_seq;', 'other'],
    ['create unique index UK_x on study (study_iuid);', 'create index'],
    ['drop index IDX_old;', 'drop'],
    // Words in a literal or a comment decide nothing.
    ["update study set note = 'alter table x alter y type int' where pk = 1;", 'update'],
    ["insert into note values (E'it\\'s -- not a comment', 'set not null');", 'insert'],
    ['-- alter table study alter a type int\nselect 1;', 'other'],
    ["alter table study add study_deleting boolean default 'add constraint';", 'alter table add/drop column'],
    ['alter table code rename to code_old;', 'alter table (other)'],
  ];
  for (const [sql, cls] of cases) assert.equal(describeStatement(sql).class, cls, sql);
});

test("a statement's summary: comments out, whitespace collapsed, literals kept, about 80 characters", () => {
  assert.equal(describeStatement('/* one */ update a\n  -- two\n  set b = 1;').sql, 'update a set b = 1;');
  assert.equal(describeStatement("insert into n values ('a -- b', $$ /* c */ $$);").sql, "insert into n values ('a -- b', $$ /* c */ $$);");
  const long = describeStatement(`update instance set ext_retrieve_aet = '*' where ext_retrieve_aet is null and pk in (${'1, '.repeat(50)}1);`).sql;
  assert.equal(long, "update instance set ext_retrieve_aet = '*' where ext_retrieve_aet is null and p…");
  assert.equal(long.length, 80);
});
