// The dev server moved to src/ (the demo runs one too); tests keep importing it from here.
export { startDevServer, temporalBinary, type DevServer, type DevServerOptions } from '../../src/temporal/dev-server.js';
