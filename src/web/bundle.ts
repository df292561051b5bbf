/**
 * The dashboard's browser code (src/web/client, TypeScript + Lit + graphql-ws) as one ES module and
 * one stylesheet. `npm run build` bundles them with esbuild into dist/web/assets (see build-assets.ts),
 * and the compiled server serves those files; run from source (tsx, tests) there are none next to
 * this module, so esbuild bundles in memory on first request. Everything comes from our own
 * node_modules: the page loads no script, style or font from anywhere but this server (no CDN).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** Where `npm run build` puts the bundle: beside the compiled form of this module (dist/web/assets). */
export const PREBUILT_ASSETS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'assets');

/** The prebuilt bundle when there is one, else a fresh one from the sources. */
export async function loadDashboard(): Promise<DashboardBundle> {
  try {
    const [script, style] = await Promise.all([
      readFile(path.join(PREBUILT_ASSETS, 'dashboard.js'), 'utf8'),
      readFile(path.join(PREBUILT_ASSETS, 'dashboard.css'), 'utf8'),
    ]);
    return { script, style };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return buildDashboard();
  }
}

/**
 * Bundles src/web/client/main.ts and its stylesheet; takes about a second on a small machine.
 * esbuild (a development dependency) is loaded only here: a production image serves the prebuilt files.
 */
export async function buildDashboard(): Promise<DashboardBundle> {
  const { build } = await import('esbuild');
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
