// One first start of a server by the local runtime, in a process of its own, so that a test can
// SIGKILL it in the middle (as a power cut of the worker would). KM_LOCAL_START holds the runtime
// options and the server spec as JSON (in the environment: it carries the test's password).
import { createLocalRuntime, type LocalRuntimeOptions } from '../../src/runtime/local.js';
import type { ServerSpec } from '../../src/runtime/port.js';

const { options, spec } = JSON.parse(process.env.KM_LOCAL_START!) as { options: LocalRuntimeOptions; spec: ServerSpec };
await createLocalRuntime(options).start(spec, 120_000);
