import { deflateSync, inflateSync } from 'node:zlib';
import { FONT8X8, FONT8X8_FIRST } from './font8x8.ts';

/**
 * Draws a Grafana dashboard's panel layout (grid, titles, panel types) as a PNG, with nothing but
 * Node: an RGB raster, an 8×8 bitmap font and a PNG encoder on `node:zlib`. A picture of where each
 * panel sits and what it is, not of data: it works offline, on any machine, byte for byte the same.
 */

export interface Raster {
  readonly width: number;
  readonly height: number;
  /** RGB, 3 bytes a pixel, rows top to bottom. */
  readonly pixels: Uint8Array;
}

type Rgb = readonly [number, number, number];

export const COLORS = {
  background: [24, 27, 31],
  panel: [34, 37, 43],
  border: [88, 94, 104],
  title: [230, 232, 235],
  row: [110, 159, 255],
  muted: [142, 148, 158],
  series: [115, 191, 105],
  plan: [242, 204, 12],
  threshold: [242, 73, 92],
} as const satisfies Record<string, Rgb>;

/** Pixels per grid column (Grafana's grid is 24 columns wide) and per grid row unit. */
export const CELL_WIDTH = 48;
export const CELL_HEIGHT = 28;
export const MARGIN = 16;
/** Height of the dashboard title band above the grid. */
export const HEADER = 40;
const GAP = 4;
const GLYPH = 8;

class Canvas implements Raster {
  readonly pixels: Uint8Array;

  constructor(readonly width: number, readonly height: number, background: Rgb) {
    this.pixels = new Uint8Array(width * height * 3);
    this.fill(0, 0, width, height, background);
  }

  fill(x: number, y: number, w: number, h: number, color: Rgb): void {
    for (let row = Math.max(0, y); row < Math.min(this.height, y + h); row++) {
      for (let col = Math.max(0, x); col < Math.min(this.width, x + w); col++) this.pixels.set(color, (row * this.width + col) * 3);
    }
  }

  outline(x: number, y: number, w: number, h: number, color: Rgb): void {
    this.fill(x, y, w, 1, color);
    this.fill(x, y + h - 1, w, 1, color);
    this.fill(x, y, 1, h, color);
    this.fill(x + w - 1, y, 1, h, color);
  }

  /** Bresenham's line; `dash` draws `dash` pixels on, `dash` off. */
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, dash = 0): void {
    const dx = Math.abs(x1 - x0);
    const dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1;
    const sy = y0 < y1 ? 1 : -1;
    let err = dx + dy;
    for (let step = 0; ; step++) {
      if (!dash || Math.floor(step / dash) % 2 === 0) this.fill(x0, y0, 1, 1, color);
      if (x0 === x1 && y0 === y1) return;
      const e2 = 2 * err;
      if (e2 >= dy) { err += dy; x0 += sx; }
      if (e2 <= dx) { err += dx; y0 += sy; }
    }
  }

  /** Text in the 8×8 font at `scale`, cut with `~` to `maxWidth` pixels; characters outside ASCII print as `?`. */
  text(x: number, y: number, value: string, color: Rgb, scale = 1, maxWidth = Infinity): void {
    const fits = Math.max(0, Math.floor(maxWidth / (GLYPH * scale)));
    const shown = value.length > fits ? `${value.slice(0, Math.max(0, fits - 1))}~` : value;
    [...shown].forEach((char, i) => {
      const code = char.charCodeAt(0);
      const glyph = FONT8X8[code - FONT8X8_FIRST] ?? FONT8X8['?'.charCodeAt(0) - FONT8X8_FIRST]!;
      for (let row = 0; row < GLYPH; row++) {
        const bits = parseInt(glyph.slice(row * 2, row * 2 + 2), 16);
        for (let col = 0; col < GLYPH; col++) {
          if ((bits >> col) & 1) this.fill(x + (i * GLYPH + col) * scale, y + row * scale, scale, scale, color);
        }
      }
    });
  }
}

interface GridPos { readonly x: number; readonly y: number; readonly w: number; readonly h: number }
interface Panel {
  readonly type: string;
  readonly title?: string;
  readonly gridPos: GridPos;
  readonly targets?: ReadonlyArray<{ legendFormat?: string }>;
  readonly fieldConfig?: { defaults?: { custom?: { thresholdsStyle?: { mode?: string } } } };
}
export interface DashboardModel { readonly title: string; readonly panels: readonly Panel[] }

/** The pixel box of a grid position. */
export function panelBox(pos: GridPos): { x: number; y: number; w: number; h: number } {
  return { x: MARGIN + pos.x * CELL_WIDTH, y: HEADER + MARGIN + pos.y * CELL_HEIGHT, w: pos.w * CELL_WIDTH - GAP, h: pos.h * CELL_HEIGHT - GAP };
}

/** A sketch of the visualization inside `box` (below the title), so the panel type reads at a glance. */
function sketch(canvas: Canvas, panel: Panel, box: { x: number; y: number; w: number; h: number }): void {
  const x = box.x + 10;
  const y = box.y + 26;
  const w = box.w - 20;
  const h = box.h - 48;
  if (w < 8 || h < 8) return;
  if (panel.type === 'timeseries') {
    canvas.line(x, y + h, x + w, y + h, COLORS.muted);
    canvas.line(x, y, x, y + h, COLORS.muted);
    const points = 12;
    for (let i = 0; i < points; i++) {
      const wave = (k: number) => y + Math.round(h * (0.55 + 0.3 * Math.sin(k * 1.3) * Math.cos(k * 0.4)));
      canvas.line(x + Math.round((i * w) / points), wave(i), x + Math.round(((i + 1) * w) / points), wave(i + 1), COLORS.series);
    }
    if (panel.targets?.some((t) => t.legendFormat?.startsWith('plan'))) canvas.line(x, y + Math.round(h * 0.2), x + w, y + Math.round(h * 0.2), COLORS.plan, 6);
    if (panel.fieldConfig?.defaults?.custom?.thresholdsStyle?.mode === 'line') canvas.line(x, y + Math.round(h * 0.12), x + w, y + Math.round(h * 0.12), COLORS.threshold);
  } else if (panel.type === 'table') {
    const rows = Math.min(6, Math.floor(h / 14));
    for (let r = 0; r <= rows; r++) canvas.line(x, y + r * 14, x + w, y + r * 14, r === 1 ? COLORS.title : COLORS.muted);
    for (let c = 0; c <= 3; c++) canvas.line(x + Math.round((c * w) / 3), y, x + Math.round((c * w) / 3), y + rows * 14, COLORS.muted);
  } else if (panel.type === 'bargauge') {
    const bars = Math.min(5, Math.floor(h / 14));
    for (let b = 0; b < bars; b++) canvas.fill(x, y + b * 14, Math.round(w * (0.85 - b * 0.15)), 9, COLORS.series);
  } else if (panel.type === 'stat') {
    // One big value per query, named by its legend (no data is drawn, so no number).
    const legends = (panel.targets ?? []).map((t) => t.legendFormat ?? '');
    legends.forEach((legend, v) => {
      const left = x + Math.round((v * w) / legends.length);
      canvas.fill(left, y + Math.round(h / 2) - 14, 24, 24, COLORS.series);
      canvas.text(left, y + Math.round(h / 2) + 16, legend, COLORS.muted, 1, Math.round(w / legends.length) - 8);
    });
  }
}

/** Draws the dashboard's title, every row as a labelled rule, and every panel as a box with its title and type. */
export function renderLayout(dashboard: DashboardModel): Raster {
  const bottom = Math.max(0, ...dashboard.panels.map((p) => p.gridPos.y + p.gridPos.h));
  const canvas = new Canvas(2 * MARGIN + 24 * CELL_WIDTH, HEADER + 2 * MARGIN + bottom * CELL_HEIGHT, COLORS.background);
  canvas.text(MARGIN, 12, dashboard.title, COLORS.title, 2, canvas.width - 2 * MARGIN);
  for (const panel of dashboard.panels) {
    const box = panelBox(panel.gridPos);
    if (panel.type === 'row') {
      canvas.text(box.x, box.y + 8, panel.title ?? '', COLORS.row, 1, box.w);
      canvas.fill(box.x, box.y + box.h - 4, box.w, 1, COLORS.row);
      continue;
    }
    canvas.fill(box.x, box.y, box.w, box.h, COLORS.panel);
    canvas.outline(box.x, box.y, box.w, box.h, COLORS.border);
    canvas.text(box.x + 8, box.y + 8, panel.title ?? '', COLORS.title, 1, box.w - 16);
    sketch(canvas, panel, box);
    canvas.text(box.x + 8, box.y + box.h - 16, panel.type, COLORS.muted, 1, box.w - 16);
  }
  return canvas;
}

// ------------------------------------------------------------------------------------ PNG

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), body.length + 4);
  return out;
}

/** A PNG (PNG spec, ISO/IEC 15948): 8-bit RGB, no interlace, every scanline with filter 0 (none). */
export function encodePng(raster: Raster): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(raster.width, 0);
  header.writeUInt32BE(raster.height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const stride = raster.width * 3;
  const scanlines = Buffer.alloc((stride + 1) * raster.height);
  for (let row = 0; row < raster.height; row++) scanlines.set(raster.pixels.subarray(row * stride, (row + 1) * stride), row * (stride + 1) + 1);
  return Buffer.concat([SIGNATURE, chunk('IHDR', header), chunk('IDAT', deflateSync(scanlines, { level: 9 })), chunk('IEND', new Uint8Array())]);
}

/** Reads back what `encodePng` writes (8-bit RGB, filter 0), checking every chunk's CRC. */
export function decodePng(png: Buffer): Raster {
  if (!png.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG');
  let offset = 8;
  let width = 0;
  let height = 0;
  const data: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const body = png.subarray(offset + 8, offset + 8 + length);
    if (crc32(png.subarray(offset + 4, offset + 8 + length)) !== png.readUInt32BE(offset + 8 + length)) throw new Error(`bad CRC in ${type}`);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      if (body[8] !== 8 || body[9] !== 2 || body[12] !== 0) throw new Error('only 8-bit RGB without interlace is read');
    }
    if (type === 'IDAT') data.push(body);
    offset += length + 12;
  }
  const scanlines = inflateSync(Buffer.concat(data));
  const stride = width * 3;
  const pixels = new Uint8Array(stride * height);
  for (let row = 0; row < height; row++) {
    if (scanlines[row * (stride + 1)] !== 0) throw new Error('only filter 0 is read');
    pixels.set(scanlines.subarray(row * (stride + 1) + 1, (row + 1) * (stride + 1)), row * stride);
  }
  return { width, height, pixels };
}
