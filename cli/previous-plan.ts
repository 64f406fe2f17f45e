import { parseDocument } from 'yaml';
import { diagnostic } from '../api/diagnostics.ts';
import { ioErrorMessage, readBoundedFile } from '../api/read-file.ts';
import type { Diagnostic, SourceLocation } from '../api/types.ts';
import type { Plan } from '../planner/types.ts';
import { MAX_PLAN_BYTES } from './out-dir.ts';

/**
 * The previous plan (the one the planner keeps replicas stable against), read from the output
 * tree on disk or in git (outputs.ts). A plan.json that is not a plan — git conflict markers, broken JSON, a wrong shape —
 * is a positioned warning and the run plans from scratch: the file is output, and the run that
 * warns is the one that rewrites it.
 */
export interface PreviousPlan {
  readonly plan?: Plan;
  readonly diagnostics: readonly Diagnostic[];
}

/** A plan file on disk, read with a bound; one that cannot be read or is not a plan is a warning. */
export function readPlanFile(file: string): PreviousPlan {
  let read;
  try {
    read = readBoundedFile(file, MAX_PLAN_BYTES);
  } catch (error) {
    const message = ioErrorMessage(error);
    if (message === undefined) throw error;
    return scratch({ file, line: 1, col: 1 }, `cannot be read: ${message}`);
  }
  if ('text' in read) return parsePlan(file, read.text);
  return scratch({ file, line: 1, col: 1 }, 'tooBig' in read ? `is over the limit of ${MAX_PLAN_BYTES} bytes` : `is ${read.notAFile}`);
}

/** Parses and checks a plan text; `file` names it in messages. Pure. */
export function parsePlan(file: string, text: string): PreviousPlan {
  const conflict = /^(<{7}|={7}|>{7})( |$)/m.exec(text);
  if (conflict) return scratch(locate(file, text, conflict.index), 'holds git merge conflict markers');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return scratch(jsonErrorAt(file, text), `is not valid JSON (${(error as Error).message.split('\n')[0]})`);
  }
  const problem = planShape(value, '');
  if (problem !== undefined) return scratch({ file, line: 1, col: 1 }, `is not a plan: ${problem}`);
  return { plan: value as Plan, diagnostics: [] };
}

function scratch(at: SourceLocation, why: string): PreviousPlan {
  return { diagnostics: [diagnostic(at, 'warning', '', `${why}; planning from scratch, without keeping replicas where they were`)] };
}

function locate(file: string, text: string, offset: number): SourceLocation {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { file, line, col: offset - before.lastIndexOf('\n') };
}

/** Where JSON parsing fails, found with the YAML parser (JSON is YAML; its positions do not depend on the Node version). */
function jsonErrorAt(file: string, text: string): SourceLocation {
  const errors = parseDocument(text, { prettyErrors: false }).errors;
  return errors[0] ? locate(file, text, errors[0].pos[0]) : { file, line: 1, col: 1 };
}

type Shape = (value: unknown, path: string) => string | undefined;

const string: Shape = (v, p) => (typeof v === 'string' ? undefined : `${p}: expected a string`);
const number: Shape = (v, p) => (typeof v === 'number' && Number.isFinite(v) ? undefined : `${p}: expected a number`);
const index: Shape = (v, p) => (Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : `${p}: expected an index (an integer ≥ 0)`);
const literal =
  (expected: string): Shape =>
  (v, p) =>
    v === expected ? undefined : `${p}: expected "${expected}"`;
const optional =
  (shape: Shape): Shape =>
  (v, p) =>
    v === undefined ? undefined : shape(v, p);

function list(item: Shape, itemIndexed = false): Shape {
  return (v, p) => {
    if (!Array.isArray(v)) return `${p}: expected an array`;
    for (const [i, element] of v.entries()) {
      const problem = item(element, `${p}[${i}]`);
      if (problem !== undefined) return problem;
      // GPUs and partitions are listed by index: the planner looks them up by position.
      if (itemIndexed && (element as { index: number }).index !== i) return `${p}[${i}].index: expected ${i}`;
    }
    return undefined;
  };
}

function object(fields: Readonly<Record<string, Shape>>): Shape {
  return (v, p) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return `${p || 'the file'}: expected an object`;
    for (const [key, shape] of Object.entries(fields)) {
      const problem = shape((v as Record<string, unknown>)[key], p ? `${p}.${key}` : key);
      if (problem !== undefined) return problem;
    }
    return undefined;
  };
}

const profile = object({ compute: string, memory: string });
const partitionRef = object({ gpu: index, partition: index });

/** The fields the planner and the plan diff read, and partition references that point at partitions of the plan. */
function planShape(value: unknown, path: string): string | undefined {
  const shape = object({
    apiVersion: literal('gpusharing.aim/v1alpha1'),
    kind: literal('Plan'),
    nodes: list(
      object({
        name: string,
        gpu: string,
        profile,
        gpus: list(object({ index, profile, partitions: list(object({ index, memoryGiB: number, replica: optional(string) }), true) }), true),
      }),
    ),
    replicas: list(
      object({ id: string, model: string, node: string, precision: string, tensorParallel: index, partitions: list(partitionRef) }),
    ),
    unschedulable: list(object({ id: string, model: string, reason: string })),
    summary: object({ gpusUsed: number }),
  });
  const problem = shape(value, path);
  if (problem !== undefined) return problem;
  const plan = value as Plan;
  const nodes = new Map(plan.nodes.map((n) => [n.name, n]));
  for (const [r, replica] of plan.replicas.entries()) {
    const node = nodes.get(replica.node);
    if (!node) return `replicas[${r}].node: no node "${replica.node}" in the plan`;
    for (const [i, ref] of replica.partitions.entries()) {
      if (node.gpus[ref.gpu]?.partitions[ref.partition] === undefined) {
        return `replicas[${r}].partitions[${i}]: node ${node.name} has no partition ${ref.gpu}.${ref.partition}`;
      }
    }
  }
  return undefined;
}
