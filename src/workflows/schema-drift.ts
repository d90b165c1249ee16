// Step schemaDrift: the migrated schema against a fresh one of the new image, every difference
// classified; an unexpected one fails the step, and the report shows the drift either way.
import type { DriftReport } from '../verification/drift.js';
import { run } from './activities.js';
import { failureDetails } from './failures.js';
import type { Migrated, Migration } from './migration.js';
import { together } from './together.js';

export async function schemaDrift(m: Migration): Promise<DriftReport> {
  return m.rec.step(
    'schemaDrift',
    'the migrated schema against a fresh 5.32 schema made by the new image',
    () =>
      run(m.acts.control.schemaDrift, 'compare the schema with a fresh one', m.ctx).catch((err: unknown) => {
        m.rec.report.schemaDrift = failureDetails<DriftReport>(err);
        throw err;
      }),
    (d) => `${d.expected} expected differences (the update chain's), ${d.unexpected} unexpected; ${d.file}`,
  );
}

/** The path's last check; with overlapped steps, step schemaDrift beside it (both read the new database only). */
export async function finalCheck(m: Migration, check: () => Promise<Migrated>): Promise<Migrated> {
  if (!m.overlapped) return check();
  const [migrated, drift] = await together(check, () => schemaDrift(m));
  m.rec.report.schemaDrift = drift;
  return migrated;
}
