// Creating the database a restore loads into.
import type { DatabaseCredentials, ServerEndpoint } from '../runtime/port.js';
import pg from 'pg';
import { endStraySessions, queryRows, withClient } from './client.js';
import { readDatabaseLocale, type DatabaseLocale } from './inventory.js';

/** The server refused a locale (unknown to its C library, or not matching the encoding). */
const LOCALE_REFUSED = new Set(['42809', '22023']);

/**
 * The images create the dcm4chee schema on first start: a load needs an empty database. With
 * `requested` (the original's), it gets that encoding and, where this server has them, that
 * LC_COLLATE and LC_CTYPE; where not (a glibc locale name on a musl image), this server's default
 * locale and else C, saying so in `fallback`. Without, the server's defaults, as dumps recorded
 * before these facts were read expect.
 */
export async function recreateDatabase(
  endpoint: ServerEndpoint,
  credentials: DatabaseCredentials,
  requested?: DatabaseLocale,
): Promise<{ used: DatabaseLocale; fallback?: string }> {
  return withClient(
    endpoint,
    credentials,
    async (client) => {
      const db = pg.escapeIdentifier(credentials.name);
      await endStraySessions(client, credentials.name, '');
      await client.query(`DROP DATABASE IF EXISTS ${db}`);
      const create = `CREATE DATABASE ${db} OWNER ${pg.escapeIdentifier(credentials.user)}`;
      const refused: string[] = [];
      if (!requested) await client.query(create);
      else {
        const [serverDefault] = await queryRows<{ collate: string; ctype: string }>(client, `SELECT datcollate AS collate, datctype AS ctype FROM pg_database WHERE datname = 'template0'`);
        const candidates = [requested, serverDefault!, { collate: 'C', ctype: 'C' }].filter(
          (c, i, all) => all.findIndex((o) => o.collate === c.collate && o.ctype === c.ctype) === i,
        );
        for (const [i, c] of candidates.entries()) {
          try {
            // template0: template1 may carry another locale (and objects) than the original.
            await client.query(`${create} TEMPLATE template0 ENCODING ${pg.escapeLiteral(requested.encoding)} LC_COLLATE ${pg.escapeLiteral(c.collate)} LC_CTYPE ${pg.escapeLiteral(c.ctype)}`);
            break;
          } catch (err) {
            const code = (err as { code?: string }).code ?? '';
            if (!LOCALE_REFUSED.has(code) || i === candidates.length - 1) throw err;
            refused.push(`${c.collate}/${c.ctype}: ${(err as Error).message}`);
          }
        }
      }
      const used = await readDatabaseLocale(client, credentials.name);
      const fallback =
        refused.length > 0 ? `LC_COLLATE/LC_CTYPE ${requested!.collate}/${requested!.ctype} of the original refused by this server (${refused.join('; ')}); created with ${used.collate}/${used.ctype}` : undefined;
      return { used, ...(fallback ? { fallback } : {}) };
    },
    { database: 'postgres' },
  );
}
