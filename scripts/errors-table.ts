/** Prints the README's error table from src/errors.ts: `npx tsx scripts/errors-table.ts`. */
import { ERRORS } from '../src/errors.ts';

console.log('| code | HTTP | what it means / what to do |');
console.log('|---|---|---|');
for (const [code, e] of Object.entries(ERRORS)) console.log(`| \`${code}\` | ${e.status} | ${e.hint.replace(/\|/g, '\\|')} |`);
