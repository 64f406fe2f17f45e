import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { type DashboardModel, encodePng, renderLayout } from './dashboard-png.ts';

/**
 * Renders the panel layout of every dashboard in a synthesized tree to `<out>/dashboard-<kind>.png`:
 * `node --import tsx scripts/render-dashboards.ts [--dist dist] [--out docs]` (`npm run dashboards`).
 * It reads what ships (the sidecar ConfigMaps or GrafanaDashboards under `<dist>/monitoring/`), so
 * the pictures show exactly the committed dashboards; run it after `synth` when they change.
 */

interface Shipped extends DashboardModel {
  readonly tags?: readonly string[];
}

/** Every dashboard JSON in the tree's monitoring folder, keyed by its kind (the tag after `aim-gpu-sharing`). */
export function shippedDashboards(dist: string): Map<string, Shipped> {
  const dir = path.join(dist, 'monitoring');
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.yaml')).sort();
  const found = new Map<string, Shipped>();
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(path.join(dir, file), 'utf8'))) {
      const object = doc.toJS() as { kind?: string; data?: Record<string, string>; spec?: { json?: string } };
      const texts =
        object.kind === 'ConfigMap' ? Object.entries(object.data ?? {}).filter(([key]) => key.endsWith('.json')).map(([, v]) => v)
        : object.kind === 'GrafanaDashboard' && object.spec?.json ? [object.spec.json]
        : [];
      for (const text of texts) {
        const dashboard = JSON.parse(text) as Shipped;
        const [project, kind] = dashboard.tags ?? [];
        if (project === 'aim-gpu-sharing' && kind) found.set(kind, dashboard);
      }
    }
  }
  return found;
}

function option(args: readonly string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const dist = option(args, '--dist', 'dist');
  const out = option(args, '--out', 'docs');
  const dashboards = shippedDashboards(dist);
  if (dashboards.size === 0) {
    console.error(`${dist}/monitoring: no aim-gpu-sharing dashboard found (is monitoring.grafana none?)`);
    process.exit(1);
  }
  mkdirSync(out, { recursive: true });
  for (const [kind, dashboard] of dashboards) {
    const file = path.join(out, `dashboard-${kind}.png`);
    writeFileSync(file, encodePng(renderLayout(dashboard)));
    console.log(`${file}: ${dashboard.panels.length} panels`);
  }
}
