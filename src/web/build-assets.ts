/**
 * The last step of `npm run build` (run compiled, as `node dist/web/build-assets.js`): bundles the
 * dashboard once into dist/web/assets, so the compiled server and the production image serve files
 * and need neither esbuild nor the client sources at run time.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildDashboard, PREBUILT_ASSETS } from './bundle.js';

const bundle = await buildDashboard();
await mkdir(PREBUILT_ASSETS, { recursive: true });
await writeFile(path.join(PREBUILT_ASSETS, 'dashboard.js'), bundle.script);
await writeFile(path.join(PREBUILT_ASSETS, 'dashboard.css'), bundle.style);
console.log(`dashboard bundled into ${PREBUILT_ASSETS} (${bundle.script.length} + ${bundle.style.length} bytes)`);
