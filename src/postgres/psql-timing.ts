// psql's own time for each statement of a script it runs. With ECHO queries psql writes each
// statement to stdout just before sending it, and with \timing the time it took to come back right
// after; query results go to /dev/null so nothing else lands there. The script itself is sent as
// it is: these are psql settings, not SQL.
import { StringDecoder } from 'node:string_decoder';
import { Writable } from 'node:stream';
import { describeStatement, type StatementClass, type StatementKind } from './statement-class.js';

/** After the session's own settings, before the script: what follows is echoed and timed. */
export const TIMING_ON = ['\\timing on', '\\set ECHO queries', '\\o /dev/null'];
/** After the script, before COMMIT: the commit is not one of the script's statements. */
export const TIMING_OFF = ['\\set ECHO none', '\\timing off'];

export interface StatementTime extends StatementKind {
  ms: number;
  /** Past the statements listed one by one, an entry per class stands for this many. */
  count?: number;
}

/**
 * psql 9.6 prints "Time: 12.345 ms"; 10 and later add "(mm:ss.fff)" from one second on. The
 * runtimes run client tools under LC_ALL=C, so the word and the decimal point are these. A line of
 * a statement that read exactly so would end it early; the vendor's DDL has none.
 */
const TIME_LINE = /^Time: (\d+\.\d+) ms(?: \([\d:. d]+\))?$/;

/** Of a statement's echo, what is read: plenty for its summary and class, however long it is. */
const TEXT_CHARS = 8192;
/** Statements listed one by one; past them, one entry per class sums the rest. */
const LISTED = 200;

/**
 * A writable for psql's stdout under TIMING_ON, and the statements it saw, in order. Holds at most
 * TEXT_CHARS of text and LISTED statements (plus one sum per class), whatever psql writes.
 */
export function statementTimes(): { stream: Writable; statements: () => StatementTime[] } {
  const listed: StatementTime[] = [];
  const rest = new Map<StatementClass, { count: number; ms: number }>();
  const decoder = new StringDecoder('utf8');
  let text = '';
  let line = '';

  const endLine = () => {
    const time = TIME_LINE.exec(line);
    if (time && text.trim()) {
      const statement = { ...describeStatement(text), ms: Number(time[1]) };
      if (listed.length < LISTED) listed.push(statement);
      else {
        const sum = rest.get(statement.class) ?? { count: 0, ms: 0 };
        rest.set(statement.class, { count: sum.count + 1, ms: sum.ms + statement.ms });
      }
      text = '';
    } else if (!time) {
      text = `${text}${line}\n`.slice(0, TEXT_CHARS);
    }
    line = '';
  };

  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const lines = decoder.write(chunk).split('\n');
      for (const [i, part] of lines.entries()) {
        // A line longer than any statement's read text is not a time line: its tail can go.
        line = (line + part).slice(0, TEXT_CHARS);
        if (i < lines.length - 1) endLine();
      }
      done();
    },
  });
  const statements = () => [
    ...listed,
    ...[...rest].map(([cls, { count, ms }]) => ({ sql: `(${count} more ${cls} statements)`, class: cls, ms: Math.round(ms * 1000) / 1000, count })),
  ];
  return { stream, statements };
}
