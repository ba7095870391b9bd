// The CSV reader of admin imports (csv-parse): rows with the line each starts on, RFC 4180 quoting,
// BOM, CRLF and empty lines; an unterminated quote is IMPORT_INVALID naming its line.
import t from 'tap';
import { isTillsyncError } from '../../src/errors.ts';
import { parseCsv } from '../../src/server/import-rows.ts';

t.test('rows and the line each starts on', async (t) => {
  const text = '\ufeffid,name\r\nitm-a,"Apple, red"\r\n\r\nitm-b,"two\nlines"\nitm-c,say ""hi""\nitm-d,a"b\nitm-e';
  t.same(parseCsv(text), [
    { line: 1, fields: ['id', 'name'] },
    { line: 2, fields: ['itm-a', 'Apple, red'] },
    { line: 4, fields: ['itm-b', 'two\nlines'] },
    { line: 6, fields: ['itm-c', 'say ""hi""'] },
    { line: 7, fields: ['itm-d', 'a"b'] },
    { line: 8, fields: ['itm-e'] },
  ]);
  t.same(parseCsv(''), []);
});

t.test('an unterminated quoted field is IMPORT_INVALID with its line', async (t) => {
  let caught: unknown;
  try {
    parseCsv('id,name\nitm-a,"open\nitm-b,b\n');
  } catch (err) {
    caught = err;
  }
  t.ok(isTillsyncError(caught, 'IMPORT_INVALID'));
  t.match((caught as { details: unknown }).details, { rows: [{ code: 'VALIDATION_FAILED' }] });
});
