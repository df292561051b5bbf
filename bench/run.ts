/**
 * `npm run bench` (full) and `npm run bench -- --quick` (a smoke run in CI-sized time):
 * Tickler against graphile-worker, pg-boss and PostGraphile on the same PostgreSQL, one system at a
 * time, same item counts. Prints one Markdown table per scenario and writes them to BENCHMARKS.md.
 *
 *   npm run bench -- --quick --only lateness,burst
 *
 * Each scenario's tables are written as one block opened by `<!-- scenario KEY: TIME (MODE) -->`. With
 * `--only`, the blocks of the scenarios not run are kept from the existing BENCHMARKS.md, each with
 * its own time, so a rerun of one scenario does not throw the others' figures away.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createContext, type Mode } from './lib/context.js';
import { renderTable, type Table } from './lib/report.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const mode: Mode = args.includes('--quick') ? 'quick' : 'full';
  const onlyIndex = args.indexOf('--only');
  const only = onlyIndex >= 0 ? new Set((args[onlyIndex + 1] ?? '').split(',')) : undefined;
  const output = args.includes('--no-write') ? undefined : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../BENCHMARKS.md');
  // Before anything from src/ is loaded: the logger reads LOG_LEVEL once, when it is created.
  process.env.LOG_LEVEL ??= 'warn';
  const { describeEnvironment, startBenchServer } = await import('./lib/database.js');
  const { SCENARIOS } = await import('./scenarios/all.js');

  const server = await startBenchServer();
  const context = createContext(mode, server);
  const blocks = new Map<string, string>();
  const loadAtStart = loadavg()[0] ?? NaN;
  const startedAt = Date.now();
  try {
    const environment = await describeEnvironment(server);
    console.log(environment.join('\n'), '\n');
    for (const scenario of SCENARIOS) {
      if (only && !only.has(scenario.key)) continue;
      console.log(`running ${scenario.key} (${mode})...`);
      const started = Date.now();
      const loadAtScenarioStart = loadavg()[0] ?? NaN;
      let tables: Table[];
      try {
        tables = await scenario.run(context);
      } catch (error) {
        tables = [{ title: scenario.title, notes: [`FAILED: ${error instanceof Error ? error.stack ?? error.message : String(error)}`], columns: ['result'], rows: [['failed']] }];
      }
      const rendered = tables.map(renderTable);
      for (const table of rendered) console.log(table);
      // Each block says how busy the machine was while it ran: the figures move with that.
      const busy = `_Ran ${new Date(started).toISOString()} for ${((Date.now() - started) / 1000).toFixed(0)} s (${mode} mode); load average (1 min) ${loadAtScenarioStart.toFixed(1)} at its start on ${cpus().length} cores._`;
      blocks.set(scenario.key, [blockMarker(scenario.key, new Date().toISOString(), mode), '', busy, '', ...rendered].join('\n'));
      console.log(`(${scenario.key} took ${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    }
    if (output) {
      const existing = await readFile(output, 'utf8').catch(() => '');
      const kept = only ? readBlocks(existing) : new Map<string, string>();
      // Hand-written notes on a scenario (analyses, per-lever runs) survive every rerun, full or not.
      const notes = readNotes(existing);
      const sections = SCENARIOS.flatMap((scenario) => [blocks.get(scenario.key) ?? kept.get(scenario.key), notes.get(scenario.key)])
        .filter((block): block is string => block !== undefined);
      const document = [
        '# Benchmarks',
        '',
        `Written by \`npm run bench${mode === 'quick' ? ' -- --quick' : ''}${only ? ` -- --only ${[...only].join(',')}` : ''}\` on ${new Date().toISOString()} (${mode} mode)` +
          (only ? `; the other scenarios' tables are kept from earlier runs: ${describeKept(kept, blocks)}.` : '.'),
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

const MARKER = /^<!-- scenario (\S+): (\S+) \((quick|full)\) -->$/m;

function blockMarker(key: string, time: string, mode: Mode): string {
  return `<!-- scenario ${key}: ${time} (${mode}) -->`;
}

/** "idle (2026-…, full), lateness (…)": the kept blocks and when each was run. */
function describeKept(kept: ReadonlyMap<string, string>, rerun: ReadonlyMap<string, string>): string {
  const entries = [...kept].filter(([key]) => !rerun.has(key));
  if (entries.length === 0) return 'none';
  return entries.map(([key, block]) => {
    const match = MARKER.exec(block);
    return `${key} (${match?.[2] ?? 'time unknown'}, ${match?.[3] ?? 'mode unknown'})`;
  }).join(', ');
}

/**
 * A hand-written block about a scenario, written after that scenario's generated block and kept by
 * every run: `<!-- notes api: kept by npm run bench -->` up to the next marker of either kind.
 */
const NOTES_MARKER = /^<!-- notes (\S+): kept by npm run bench -->$/m;

/** Blocks of an existing BENCHMARKS.md that start with `marker`, by key (each runs until the next marker of either kind). */
function readMarked(document: string, marker: RegExp): Map<string, string> {
  const blocks = new Map<string, string>();
  const any = new RegExp(`${MARKER.source}|${NOTES_MARKER.source}`, 'gm');
  const starts = [...document.matchAll(any)];
  starts.forEach((match, index) => {
    const own = marker.exec(match[0]);
    if (own === null) return;
    const end = starts[index + 1]?.index ?? document.length;
    blocks.set(own[1] as string, document.slice(match.index, end).trimEnd() + '\n');
  });
  return blocks;
}

/** The generated scenario blocks, by key. */
function readBlocks(document: string): Map<string, string> {
  return readMarked(document, MARKER);
}

/** The hand-written notes, by the key of the scenario they follow. */
function readNotes(document: string): Map<string, string> {
  return readMarked(document, NOTES_MARKER);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
