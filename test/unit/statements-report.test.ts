// The report's account of where the update scripts' time went, and the benchmark's line of it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderStatementClasses } from '../../bench/table.js';
import type { StatementTime } from '../../src/postgres/psql-timing.js';
import { renderMarkdown } from '../../src/report/render.js';
import { classTotals } from '../../src/report/statements.js';
import type { MigrationReport } from '../../src/report/types.js';

const report = (scripts: MigrationReport['scripts']): MigrationReport => ({
  node: 'n', workflowId: 'wf', runId: 'r', runTag: 't', startedAt: '2025-01-01T09:00:00.000Z', outcome: 'completed',
  versions: { from: '5.26', to: '5.32', alreadyPresent: [], applied: scripts.map((s) => s.version) }, steps: [], dumps: [], ldap: [], scripts,
});

const s531: StatementTime[] = [
  { sql: 'alter table patient_id add patient_fk int8;', class: 'alter table add/drop column', ms: 0.4 },
  { sql: 'update patient_id set patient_fk = ( select patient.pk from patient where patient_id_fk = patient_i…', class: 'update', ms: 2200 },
  { sql: 'create index FK_hba9466n4re9re8id3c8abmnv on patient_id (patient_fk) ;', class: 'create index', ms: 310.2 },
  { sql: 'alter table patient drop patient_id_fk;', class: 'alter table add/drop column', ms: 1.1 },
];
const s532: StatementTime[] = [
  { sql: "update instance set ext_retrieve_aet = '*' where ext_retrieve_aet is null;", class: 'update', ms: 5100 },
  { sql: 'alter table instance alter ext_retrieve_aet set not null;', class: 'alter table … set not null', ms: 800 },
  { sql: '(3 more update statements)', class: 'update', ms: 12, count: 3 },
];

test('class totals over all scripts, costliest first; a summed entry counts as its statements', () => {
  assert.deepEqual(classTotals([{ version: '5.31', statements: s531 }, { version: '5.32', statements: s532 }, { version: '5.30' }]), [
    { class: 'update', statements: 5, ms: 7312 },
    { class: 'alter table … set not null', statements: 1, ms: 800 },
    { class: 'create index', statements: 1, ms: 310.2 },
    { class: 'alter table add/drop column', statements: 2, ms: 1.5 },
  ]);
});

test("the report shows the classes' share and each script's slowest statements", () => {
  const md = renderMarkdown(
    report([
      { version: '5.31', sha256: 'aa', ms: 2600, outcome: 'applied', statements: s531 },
      { version: '5.32', sha256: 'bb', ms: 6000, outcome: 'applied', statements: s532 },
    ]),
  );
  assert.match(md, /## Where the scripts' time went/);
  assert.match(md, /\| update \| 5 \| 7\.3 s \| 87% \|\n\| alter table … set not null \| 1 \| 800 ms \| 9% \|\n\| create index \| 1 \| 310 ms \| 4% \|\n\| alter table add\/drop column \| 2 \| 2 ms \| 0% \|/);
  // At most three per script, slowest first: 5.31's add-column statement of 0.4 ms is left out.
  assert.match(md, /\| 5\.31 \| `update patient_id set patient_fk = .*` \| update \| 2\.2 s \|\n\| 5\.31 \| `create index .*` \| create index \| 310 ms \|\n\| 5\.31 \| `alter table patient drop patient_id_fk;` \| alter table add\/drop column \| 1 ms \|\n\| 5\.32 \| `update instance/);
  assert.doesNotMatch(md, /add patient_fk int8/);
});

test('scripts recorded before statements were timed, or found committed, leave the section out', () => {
  const md = renderMarkdown(report([{ version: '5.31', sha256: 'aa', ms: 2600, outcome: 'applied' }]));
  assert.match(md, /## Update scripts/);
  assert.doesNotMatch(md, /time went/);
});

test('the benchmark writes one line per mode and size, classes costliest first', () => {
  const statementClasses = classTotals([{ version: '5.32', statements: s532 }]);
  const line = renderStatementClasses([
    { mode: 'baseline', instances: 1000, phases: [], totalMs: 1, dumpBytes: [] },
    { mode: 'guide', instances: 1000, phases: [{ name: 'restoreWork', ms: 9000 }, { name: 'applyUpdates', ms: 6500 }], totalMs: 1, dumpBytes: [], statementClasses },
  ]);
  assert.equal(line, '- 1000 guide: update 5.1 s (4), alter table … set not null 800 ms (1); statements 5.9 s of updates 6.5 s');
});
