/** Markdown tables for the terminal and for BENCHMARKS.md. */

export interface Table {
  title: string;
  /** What was measured and how, in a sentence or two; settings of every system compared. */
  notes: string[];
  columns: string[];
  rows: string[][];
  /** Markdown printed after the table (query plans, say). */
  appendix?: string[];
}

export function renderTable(table: Table): string {
  const widths = table.columns.map((column, index) => Math.max(column.length, ...table.rows.map((row) => (row[index] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join(' | ')} |`;
  return [
    `### ${table.title}`,
    '',
    ...table.notes.map((note) => `${note}  `),
    ...(table.notes.length > 0 ? [''] : []),
    line(table.columns),
    `| ${widths.map((width) => '-'.repeat(width)).join(' | ')} |`,
    ...table.rows.map(line),
    '',
    ...(table.appendix && table.appendix.length > 0 ? [...table.appendix, ''] : []),
  ].join('\n');
}
