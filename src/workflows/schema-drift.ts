// Step schemaDrift: the migrated schema against a fresh one of the new image, every difference
// classified; an unexpected one fails the step, and the report shows the drift either way.
import type { DriftReport } from '../verification/drift.js';
import { run } from './activities.js';
import { failureDetails } from './failures.js';
import type { Migration } from './migration.js';

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
