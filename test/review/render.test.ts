import { describe, expect, it } from 'vitest';
import { useColour } from '../../cli/commands.ts';
import { GITHUB_COMMENT_LIMIT, renderReviewMarkdown, renderReviewText } from '../../review/render.ts';
import type { ReviewDiff } from '../../review/review.ts';
import { runScenario } from './scenario.ts';

describe('markdown for a pull-request comment', { timeout: 60_000 }, () => {
  it('stays under GitHub\'s comment limit, summary and warnings intact, with a pointer to the full diff', async () => {
    const { diff, next } = await runScenario('forced-repartition');
    // A change touching thousands of files: the forced-repartition review with its file list grown.
    const files = Array.from({ length: 5000 }, (_, i) => ({ change: 'changed' as const, path: `serving/aim-models/inferenceservice-model-${i}-node-${i % 64}.yaml` }));
    const huge: ReviewDiff = { ...diff, files };
    const full = renderReviewMarkdown(huge, next, { limit: Number.MAX_SAFE_INTEGER });
    expect(full.length).toBeGreaterThan(GITHUB_COMMENT_LIMIT);
    const cut = renderReviewMarkdown(huge, next, { fullDiffUrl: 'https://ci.example.com/run/7#artifacts' });
    expect(cut.length).toBeLessThan(GITHUB_COMMENT_LIMIT);
    expect(cut.startsWith(full.slice(0, full.indexOf('<details>')))).toBe(true);
    expect(cut).toContain('> [!WARNING]');
    expect(cut).toContain('The diff was cut to fit a comment; the full diff: https://ci.example.com/run/7#artifacts.');
    expect(cut).toMatch(/<summary>Files: 5000 \(\d+ not shown\)<\/summary>/);
    // Sections before the cut are whole.
    expect(cut).toContain('! chat#1  evicted from node-b[0.1]: preempted by big, priority critical');
    // Without the cut, no pointer.
    expect(renderReviewMarkdown(diff, next)).not.toContain('cut to fit');
  });
});

describe('colour', () => {
  it('follows the terminal, NO_COLOR and FORCE_COLOR', () => {
    expect(useColour({ isTTY: true }, {})).toBe(true);
    expect(useColour({ isTTY: false }, {})).toBe(false);
    expect(useColour({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(useColour({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(useColour({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(useColour({ isTTY: false }, { FORCE_COLOR: '' })).toBe(true);
    expect(useColour({ isTTY: true }, { FORCE_COLOR: '0' })).toBe(false);
    expect(useColour({ isTTY: false }, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(true);
  });

  it('paints signs and headings only when asked', { timeout: 60_000 }, async () => {
    const { diff, next } = await runScenario('scale-down');
    const plain = renderReviewText(diff, next, { colour: false });
    const painted = renderReviewText(diff, next, { colour: true });
    expect(painted).toContain('\x1b[31m-\x1b[39m chat#1');
    expect(painted.replace(/\x1b\[[0-9;]*m/g, '')).toBe(plain);
  });
});
