import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CELL_HEIGHT, CELL_WIDTH, COLORS, decodePng, encodePng, HEADER, MARGIN, panelBox, renderLayout } from '../../scripts/dashboard-png.ts';
import { shippedDashboards } from '../../scripts/render-dashboards.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const shipped = shippedDashboards(`${ROOT}dist`);
const pixel = (raster: { width: number; pixels: Uint8Array }, x: number, y: number) => [...raster.pixels.subarray((y * raster.width + x) * 3, (y * raster.width + x) * 3 + 3)];

describe('dashboard layout pictures', () => {
  it('finds the three dashboards the default specs ship', () => {
    expect([...shipped.keys()].sort()).toEqual(['capacity', 'fleet', 'serving']);
  });

  it.each(['fleet', 'serving', 'capacity'])('docs/dashboard-%s.png is the current layout of the shipped dashboard (npm run dashboards)', (kind) => {
    const committed = decodePng(readFileSync(`${ROOT}docs/dashboard-${kind}.png`));
    const fresh = renderLayout(shipped.get(kind)!);
    expect([committed.width, committed.height]).toEqual([fresh.width, fresh.height]);
    expect(Buffer.from(committed.pixels).equals(Buffer.from(fresh.pixels))).toBe(true);
  });

  it('draws the grid to scale: every panel a bordered box where its grid position says, rows as rules', () => {
    const dashboard = shipped.get('serving')!;
    const raster = renderLayout(dashboard);
    const bottom = Math.max(...dashboard.panels.map((p) => p.gridPos.y + p.gridPos.h));
    expect([raster.width, raster.height]).toEqual([2 * MARGIN + 24 * CELL_WIDTH, HEADER + 2 * MARGIN + bottom * CELL_HEIGHT]);
    for (const panel of dashboard.panels) {
      const box = panelBox(panel.gridPos);
      if (panel.type === 'row') {
        expect(pixel(raster, box.x + box.w - 1, box.y + box.h - 4), panel.title).toEqual([...COLORS.row]);
        continue;
      }
      expect(pixel(raster, box.x, box.y), panel.title).toEqual([...COLORS.border]);
      expect(pixel(raster, box.x + box.w - 1, box.y + box.h - 1), panel.title).toEqual([...COLORS.border]);
      expect(pixel(raster, box.x + box.w - 3, box.y + 3), panel.title).toEqual([...COLORS.panel]);
    }
  });

  it('writes its title text in the title colour', () => {
    const raster = renderLayout({ title: 'I', panels: [] });
    const lit = Array.from({ length: 16 }, (_, row) => Array.from({ length: 16 }, (_, col) => pixel(raster, MARGIN + col, 12 + row)))
      .flat()
      .filter((p) => p.join() === COLORS.title.join());
    expect(lit.length).toBeGreaterThan(10);
  });

  it('encodes a PNG that reads back pixel for pixel, and notices a damaged chunk', () => {
    const raster = renderLayout(shipped.get('capacity')!);
    const png = encodePng(raster);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const back = decodePng(png);
    expect([back.width, back.height]).toEqual([raster.width, raster.height]);
    expect(Buffer.from(back.pixels).equals(Buffer.from(raster.pixels))).toBe(true);
    const damaged = Buffer.from(png);
    damaged[40] = damaged[40]! ^ 0xff;
    expect(() => decodePng(damaged)).toThrow(/bad CRC/);
  });
});
