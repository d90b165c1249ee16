// Module hooks for test/cli/startup.test.ts: appends every module URL the process resolves to the
// file named by KM_MODULE_TRACE, so a test can see what a CLI command loads.
import { appendFileSync } from 'node:fs';

export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (process.env.KM_MODULE_TRACE) appendFileSync(process.env.KM_MODULE_TRACE, `${result.url}\n`);
  return result;
}
