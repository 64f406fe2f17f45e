import { describe, expect, it } from 'vitest';
import { useColour } from '../../cli/commands.ts';
import { GITHUB_COMMENT_LIMIT, renderReviewMarkdown, renderReviewText } from '../../review/render.ts';
import { type ReviewDiff, reviewChange } from '../../review/review.ts';
import { withRollouts } from '../../planner/rollout.ts';
import { handPlan } from '../planner/rollout-fixtures.ts';
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

describe('moves in the review', () => {
  it('shows how each move rolls out, and counts only a replica that stops first as down', () => {
    const inputs = new Map([['a', 'i'], ['b', 'i'], ['c', 'i']]);
    const base = withRollouts(handPlan({ n1: 'CPX-NPS4', n2: 'CPX-NPS4' }, { 'a#0': 'n1:0.0', 'b#0': 'n1:0.1', 'c#0': 'n1:0.2' }), { servingInputs: inputs, minAvailable: new Map() });
    // a and b swap partitions (a cycle: one must stop first); c moves to a free partition on n2.
    const next = withRollouts(handPlan({ n1: 'CPX-NPS4', n2: 'CPX-NPS4' }, { 'a#0': 'n1:0.1', 'b#0': 'n1:0.0', 'c#0': 'n2:0.0' }), {
      previous: base,
      servingInputs: inputs,
      minAvailable: new Map(),
    });
    const diff = reviewChange({ base, next, baseFiles: new Map(), nextFiles: new Map(), priorities: new Map() });
    expect(diff.models.map((m) => `${m.model} up ${m.upDuring} of ${m.before}: ${m.changes.join(', ')}`)).toEqual(['a up 0 of 1: moved', 'b up 1 of 1: moved', 'c up 1 of 1: moved']);
    const text = renderReviewText(diff, next, { colour: false });
    expect(text).toContain('~ a#0  moves n1[0.0] → n1[0.1] (stops before its replacement starts: its new partitions are held by b#0, whose moves wait for its own partitions');
    expect(text).toContain('~ b#0  moves n1[0.1] → n1[0.0] (new pod Ready before the old one stops)');
    expect(text).toContain('~ c#0  moves n1[0.2] → n2[0.0] (new pod Ready before the old one stops)');
  });
});
