import { plural } from '../api/words.ts';
import { summaryLine } from '../planner/render.ts';
import type { Plan } from '../planner/types.ts';
import type { ReviewDiff } from './review.ts';


type Sign = '+' | '-' | '~' | '!';

interface Entry {
  readonly sign: Sign;
  readonly subject: string;
  readonly detail: string;
}

interface Section {
  readonly title: string;
  readonly entries: readonly Entry[];
}

const arrow = (a: number, b: number) => (a === b ? `${a}` : `${a} → ${b}`);

/** The figures a reviewer reads first. */
function headline(diff: ReviewDiff): string[] {
  const { plan } = diff;
  const cap = plan.capacity;
  const restarting = new Set(diff.restarts.flatMap((g) => g.replicas)).size;
  return [
    `capacity ${arrow(cap.before.nodes, cap.after.nodes)} nodes, ${arrow(cap.before.gpus, cap.after.gpus)} GPUs, ${arrow(cap.before.partitions, cap.after.partitions)} partitions`,
    `GPUs used ${arrow(plan.gpusUsed.before, plan.gpusUsed.after)} (lower bound ${arrow(plan.lowerBound.before, plan.lowerBound.after)})`,
    `replicas ${plan.added.length + plan.nowScheduled.length} added, ${plan.removed.length} removed, ${plan.moved.length} moved, ` +
      `${restarting} restarted in place, ${plan.unschedulable.filter((u) => u.status === 'evicted').length} evicted; ` +
      `${plural(plan.repartitioned.length, 'node')} repartitioned; ${plan.unschedulable.length} unschedulable`,
  ];
}

/** How a move rolls out, as the plan decided (planner/rollout.ts). */
function moveRollout(move: ReviewDiff['plan']['moved'][number], plan: ReviewDiff['plan']): string {
  const drained = plan.repartitioned.find((r) => r.evicts.includes(move.id));
  if (drained) return `evicted by ${drained.node}'s drain, back once it is repartitioned`;
  if (move.rollout === 'surge') return 'new pod Ready before the old one stops';
  return move.note ?? 'old pod stops first';
}

function sections(diff: ReviewDiff): Section[] {
  const { plan } = diff;
  return [
    {
      title: 'Nodes',
      entries: [
        ...plan.nodes.added.map((n) => ({ sign: '+' as const, subject: n.node, detail: `${n.pool} (${n.gpu}, ${plural(n.gpus, 'GPU')}), ${n.profile}` })),
        ...plan.nodes.removed.map((n) => ({ sign: '-' as const, subject: n.node, detail: `${n.pool} (${n.gpu}, ${plural(n.gpus, 'GPU')}), ${n.profile}` })),
      ],
    },
    {
      title: 'Repartitions (the node is drained through the disruption budgets once its moves are Ready)',
      entries: plan.repartitioned.map((r) => ({
        sign: '!' as const,
        subject: r.node,
        detail:
          `${r.from} → ${r.to}; evicts ${r.evicts.length ? r.evicts.join(', ') : 'nothing'}` +
          (r.movesOff.length ? `; first moves off ${r.movesOff.join(', ')}` : ''),
      })),
    },
    {
      title: 'Restarts (the replicas of one line restart together)',
      entries: [
        ...diff.restarts.map((g) => ({
          sign: '~' as const,
          subject: g.resource,
          detail: `${g.replicas.length ? g.replicas.join(', ') : 'no running replica'}: ${g.changes.join('; ')}`,
        })),
        ...diff.rollouts.map((r) => ({ sign: '~' as const, subject: r.resource, detail: `rolls its pods: ${r.changes.join('; ')}` })),
      ],
    },
    {
      title: 'Replicas',
      entries: [
        ...plan.added.map((r) => ({ sign: '+' as const, subject: r.id, detail: `on ${r.at}` })),
        ...plan.nowScheduled.map((r) => ({ sign: '+' as const, subject: r.id, detail: `on ${r.at} (was unschedulable)` })),
        ...plan.removed.map((r) => ({ sign: '-' as const, subject: r.id, detail: `from ${r.from}` })),
        ...plan.moved.map((r) => ({
          sign: '~' as const,
          subject: r.id,
          detail: `moves ${r.from} → ${r.to} (${moveRollout(r, plan)})${r.changes.length ? `; ${r.changes.join('; ')}` : ''}`,
        })),
      ],
    },
    {
      title: 'Unschedulable',
      entries: plan.unschedulable.map((u) => ({
        sign: '!' as const,
        subject: u.id,
        detail: u.status === 'evicted' ? `evicted from ${u.from}: ${u.cause}` : `${u.status === 'new' ? 'new' : 'still'}: ${u.reason}`,
      })),
    },
    {
      title: 'Other changes (no pod restarts)',
      entries: diff.configuration
        .filter((c) => c.change === 'changed')
        .map((c) => ({ sign: '~' as const, subject: c.resource, detail: c.detail ?? 'changed' })),
    },
    {
      title: 'Files',
      entries: diff.files.map((f) => ({ sign: f.change === 'added' ? ('+' as const) : f.change === 'removed' ? ('-' as const) : ('~' as const), subject: f.path, detail: '' })),
    },
  ].filter((s) => s.entries.length > 0);
}

function modelRows(diff: ReviewDiff): string[][] {
  return diff.models.map((m) => [m.model, m.priority ?? '—', arrow(m.before, m.after), `${m.upDuring} of ${m.before}`, m.changes.join(', ') || '—']);
}

// ------------------------------------------------------------------------------------------ text

const COLOURS: Record<Sign | 'bold' | 'warn', [string, string]> = {
  '+': ['\x1b[32m', '\x1b[39m'],
  '-': ['\x1b[31m', '\x1b[39m'],
  '~': ['\x1b[33m', '\x1b[39m'],
  '!': ['\x1b[1;31m', '\x1b[22;39m'],
  bold: ['\x1b[1m', '\x1b[22m'],
  warn: ['\x1b[33m', '\x1b[39m'],
};

export interface TextOptions {
  /** ANSI colours (the CLI decides: a terminal, NO_COLOR, FORCE_COLOR). */
  readonly colour: boolean;
}

/** The diff for a terminal: terraform-style signs, one change a line, sections in the order they happen. */
export function renderReviewText(diff: ReviewDiff, plan: Plan, options: TextOptions): string {
  const paint = (style: keyof typeof COLOURS, text: string) => (options.colour ? `${COLOURS[style][0]}${text}${COLOURS[style][1]}` : text);
  const lines = [summaryLine(plan), ...headline(diff)];
  if (!diff.changed) return [...lines, 'No changes.'].join('\n') + '\n';
  for (const d of diff.diagnostics) lines.push(paint('warn', d));
  for (const w of diff.warnings) lines.push(paint('warn', `warning: ${w}`));
  const rows = modelRows(diff);
  if (rows.length) {
    lines.push('', paint('bold', 'Models (replicas, and how many stay up during the change)'));
    const header = ['model', 'priority', 'replicas', 'up during', 'changes'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const row of [header, ...rows]) lines.push('  ' + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
  }
  for (const section of sections(diff)) {
    lines.push('', paint('bold', section.title));
    for (const e of section.entries) lines.push(`  ${paint(e.sign, e.sign)} ${e.subject}${e.detail ? `  ${e.detail}` : ''}`);
  }
  return lines.join('\n') + '\n';
}

// -------------------------------------------------------------------------------------- markdown

/** GitHub rejects an issue or pull-request comment longer than this many characters. */
export const GITHUB_COMMENT_LIMIT = 65_536;

export interface MarkdownOptions {
  /** Where the full diff is when this one is cut to fit (a CI artifact, a job summary). */
  readonly fullDiffUrl?: string;
  readonly limit?: number;
}

const escapeCell = (text: string) => text.replace(/\|/g, '\\|');

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`, ...rows.map((r) => `| ${r.map(escapeCell).join(' | ')} |`)];
}

function folded(title: string, body: readonly string[]): string[] {
  return ['<details>', `<summary>${title}</summary>`, '', ...body, '', '</details>', ''];
}

function diffBlock(entries: readonly Entry[]): string[] {
  // GitHub colours a diff block's lines by their first character; `~` gets none, so changes show as `!`.
  return ['```diff', ...entries.map((e) => `${e.sign === '~' ? '!' : e.sign} ${e.subject}${e.detail ? `  ${e.detail}` : ''}`), '```'];
}

/**
 * The diff CI posts on a pull request: the summary and warnings first, the details folded, and
 * the whole cut to stay under GitHub's comment limit, with a pointer to the full diff.
 */
export function renderReviewMarkdown(diff: ReviewDiff, plan: Plan, options: MarkdownOptions = {}): string {
  const limit = options.limit ?? GITHUB_COMMENT_LIMIT;
  const head = [`### aim-gpu plan: ${diff.changed ? 'changes' : 'no changes'}`, '', `${summaryLine(plan)}.`, '', ...headline(diff).map((h) => `- ${h}`), ''];
  const warnings = [...diff.warnings, ...diff.diagnostics.map((d) => `\`${d}\``)];
  if (warnings.length) head.push('> [!WARNING]', ...warnings.map((w) => `> - ${w}`), '');
  if (!diff.changed) return [...head, 'No changes.'].join('\n') + '\n';
  const rows = modelRows(diff);
  const pointer = `The diff was cut to fit a comment; the full diff: ${options.fullDiffUrl ?? '`npx aim-gpu plan --base <base> --format markdown`, or this run\'s `plan-diff` artifact'}.`;
  const body: string[] = [];
  let cut = false;
  if (rows.length) {
    // A fleet of thousands of models could fill the comment with this table alone: keep half the room.
    const header = ['model', 'priority', 'replicas', 'up during the change', 'changes'];
    let shown = rows;
    while (shown.length > 1 && table(header, shown).join('\n').length > limit / 2) shown = shown.slice(0, Math.ceil(shown.length / 2));
    head.push(...table(header, shown), '');
    if (shown.length < rows.length) {
      cut = true;
      head.push(`${rows.length - shown.length} more models not shown.`, '');
    }
  }
  for (const section of sections(diff)) {
    const title = `${section.title}: ${section.entries.length}`;
    const full = folded(title, diffBlock(section.entries));
    const used = [...head, ...body].join('\n').length;
    const room = limit - used - pointer.length - 200;
    if (full.join('\n').length <= room) {
      body.push(...full);
      continue;
    }
    // Keep as many entries as fit, then say how many were left out.
    cut = true;
    const kept: Entry[] = [];
    for (const e of section.entries) {
      if (folded(title, diffBlock([...kept, e])).join('\n').length + 80 > room) break;
      kept.push(e);
    }
    if (kept.length) body.push(...folded(`${title} (${section.entries.length - kept.length} not shown)`, diffBlock(kept)));
    else body.push(`${title} (not shown)`, '');
  }
  if (cut) body.push(`**${pointer}**`, '');
  return [...head, ...body].join('\n').trimEnd() + '\n';
}
