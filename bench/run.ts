/**
 * `npm run bench` (full) and `npm run bench -- --quick` (a smoke run in CI-sized time):
 * Tickler against graphile-worker, pg-boss and PostGraphile on the same PostgreSQL, one system at a
 * time, same item counts. Prints one Markdown table per scenario and writes them to BENCHMARKS.md.
 *
 *   npm run bench -- --quick --only lateness,burst
 */
import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createContext, type Mode } from './lib/context.js';
import { describeEnvironment, startBenchServer } from './lib/database.js';
import { renderTable, type Table } from './lib/report.js';
import { SCENARIOS } from './scenarios/all.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const mode: Mode = args.includes('--quick') ? 'quick' : 'full';
  const onlyIndex = args.indexOf('--only');
  const only = onlyIndex >= 0 ? new Set((args[onlyIndex + 1] ?? '').split(',')) : undefined;
  const output = args.includes('--no-write') ? undefined : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../BENCHMARKS.md');
  process.env.LOG_LEVEL ??= 'warn';

  const server = await startBenchServer();
  const context = createContext(mode, server);
  const sections: string[] = [];
  const loadAtStart = loadavg()[0] ?? NaN;
  const startedAt = Date.now();
  try {
    const environment = await describeEnvironment(server);
    console.log(environment.join('\n'), '\n');
    for (const scenario of SCENARIOS) {
      if (only && !only.has(scenario.key)) continue;
      console.log(`running ${scenario.key} (${mode})...`);
      const started = Date.now();
      let tables: Table[];
      try {
        tables = await scenario.run(context);
      } catch (error) {
        tables = [{ title: scenario.title, notes: [`FAILED: ${error instanceof Error ? error.stack ?? error.message : String(error)}`], columns: ['result'], rows: [['failed']] }];
      }
      for (const table of tables) {
        const rendered = renderTable(table);
        console.log(rendered);
        sections.push(rendered);
      }
      console.log(`(${scenario.key} took ${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    }
    if (output) {
      const document = [
        '# Benchmarks',
        '',
        `Written by \`npm run bench${mode === 'quick' ? ' -- --quick' : ''}\` on ${new Date().toISOString()} (${mode} mode).`,
        'Each system ran alone, one after another, on the same PostgreSQL server, with the same item counts.',
        '',
        ...environment,
        // Other work on the machine moves every figure; say how busy it was.
        `- Load average (1 min) at the start: ${loadAtStart.toFixed(1)}, at the end: ${(loadavg()[0] ?? NaN).toFixed(1)} ` +
          `(the run took ${((Date.now() - startedAt) / 60_000).toFixed(0)} min; anything above the core count means processes outside the benchmark were competing for the CPU)`,
        '',
        ...sections,
      ].join('\n');
      await writeFile(output, document);
      console.log(`wrote ${output}`);
    }
  } finally {
    await server.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
