// Structured JSON logs on stderr; anything named like a secret is redacted on the way out.
import { pino, destination, type Logger } from 'pino';

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino(
    { name, level, redact: { paths: ['password', '*.password', '*.*.password', 'PGPASSWORD', '*.PGPASSWORD', 'apiKey', '*.apiKey'], censor: '[redacted]' } },
    destination(2),
  );
}
