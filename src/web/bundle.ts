/**
 * Builds the dashboard's browser code (src/web/client, TypeScript + Lit + graphql-ws) into one ES
 * module with esbuild, in memory, once per process. Everything comes from our own node_modules:
 * the page loads no script, style or font from anywhere but this server (no CDN).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export interface DashboardBundle {
  /** The ES module the page loads from /assets/dashboard.js. */
  script: string;
  /** The stylesheet of /assets/dashboard.css. */
  style: string;
}

/** The folder holding package.json: this file runs from src/web (tsx) or from a compiled copy below dist/. */
function packageRoot(): string {
  let folder = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(folder, 'package.json'))) {
    const parent = path.dirname(folder);
    if (parent === folder) throw new Error('cannot find the package root of the dashboard sources');
    folder = parent;
  }
  return folder;
}

/**
 * Bundles src/web/client/main.ts and its stylesheet. Takes about a second on a small machine, so
 * the server starts it once at creation and every request waits on the same promise.
 */
export async function buildDashboard(): Promise<DashboardBundle> {
  const clientDir = path.join(packageRoot(), 'src', 'web', 'client');
  const result = await build({
    entryPoints: [path.join(clientDir, 'main.ts'), path.join(clientDir, 'dashboard.css')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    outdir: 'out',
    tsconfig: path.join(clientDir, 'tsconfig.json'),
    logLevel: 'silent',
  });
  const script = result.outputFiles.find((file) => file.path.endsWith('.js'))?.text;
  const style = result.outputFiles.find((file) => file.path.endsWith('.css'))?.text;
  if (script === undefined || style === undefined) throw new Error('the dashboard bundle is missing its script or stylesheet');
  return { script, style };
}
