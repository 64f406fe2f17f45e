import { parse } from 'yaml';
import { MODEL_LABEL, REPLICA_LABEL } from '../constructs/labels.ts';
import { replicaId } from '../planner/moved.ts';
import type { FileChange, Files } from './files.ts';

/** The fields of a Kubernetes object the review reads. */
interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
  };
  readonly spec?: Record<string, unknown>;
}

/** A changed object whose change replaces running pods. */
export interface PodRestart {
  /** `Kind namespace/name`. */
  readonly resource: string;
  readonly kind: string;
  readonly name: string;
  /** Model and node of an InferenceService (its `gpusharing.aim/model` label, its host selector). */
  readonly model?: string;
  readonly node?: string;
  /** The replica an InferenceService serves (its model and `gpusharing.aim/replica` labels; absent before 0.3). */
  readonly replica?: string;
  /** ServingRuntime name an InferenceService runs on, or the runtime that changed. */
  readonly runtime?: string;
  /** What changed, in words: `args: -a +b`, `env: FOO`, `priority aim-medium → aim-high`, … */
  readonly changes: readonly string[];
}

/** A changed object whose change restarts nothing (a Service, alert rules, a dashboard, …). */
export interface ConfigChange {
  readonly resource: string;
  readonly path: string;
  readonly change: FileChange['change'];
  /** What changed, where the review can say it (`pods 4 → 6`). */
  readonly detail?: string;
}

export interface ManifestChanges {
  readonly restarts: readonly PodRestart[];
  readonly other: readonly ConfigChange[];
}

function read(text: string | undefined): KubeObject | undefined {
  if (text === undefined) return undefined;
  try {
    const object = parse(text) as KubeObject | null;
    return object && typeof object === 'object' && typeof object.kind === 'string' ? object : undefined;
  } catch {
    return undefined;
  }
}

function resourceName(object: KubeObject): string {
  const { name, namespace } = object.metadata ?? {};
  return `${object.kind} ${namespace ? `${namespace}/` : ''}${name}`;
}

const json = (value: unknown) => JSON.stringify(value ?? null);

/**
 * The part of an object that, when it changes, replaces its pods. An InferenceService's predictor
 * is its pod spec, except the replica counts (scaling adds or removes pods, it restarts none) and
 * the rollout strategy (the Deployment's, not its pods'); a
 * ServingRuntime's containers are merged into every pod that runs on it (KServe); the workload
 * kinds' pod template (`spec.template`), as Kubernetes rolls out on any template change.
 */
function podShape(object: KubeObject): Record<string, unknown> | undefined {
  const spec = object.spec ?? {};
  switch (object.kind) {
    case 'InferenceService': {
      const { minReplicas: _min, maxReplicas: _max, deploymentStrategy: _strategy, ...predictor } = (spec.predictor ?? {}) as Record<string, unknown>;
      return predictor;
    }
    case 'ServingRuntime': {
      const { supportedModelFormats: _formats, multiModel: _multi, ...runtime } = spec;
      return runtime;
    }
    case 'DaemonSet':
    case 'Deployment':
    case 'StatefulSet':
      return spec.template as Record<string, unknown> | undefined;
    default:
      return undefined;
  }
}

/** The container an InferenceService or ServingRuntime runs (the model container). */
function container(kind: string | undefined, shape: Record<string, unknown>): Record<string, unknown> {
  if (kind === 'InferenceService') return (shape.model ?? {}) as Record<string, unknown>;
  if (kind === 'ServingRuntime') return ((shape.containers as unknown[] | undefined)?.[0] ?? {}) as Record<string, unknown>;
  const spec = (shape.spec ?? {}) as Record<string, unknown>;
  return ((spec.containers as unknown[] | undefined)?.[0] ?? {}) as Record<string, unknown>;
}

/**
 * `args: --gpu-memory-utilization 0.92 → 0.61, +--quantization=fp8, -x`: a `--flag=value` present
 * on both sides shows as a value change, anything else as added (+) or removed (-).
 */
function listChange(label: string, before: unknown, after: unknown): string | undefined {
  const a = ((before as unknown[] | undefined) ?? []).map((x) => (typeof x === 'string' ? x : json(x)));
  const b = ((after as unknown[] | undefined) ?? []).map((x) => (typeof x === 'string' ? x : json(x)));
  if (json(a) === json(b)) return undefined;
  const flag = (x: string) => (/^--[^=]+=/.test(x) ? x.slice(0, x.indexOf('=')) : undefined);
  const gone = a.filter((x) => !b.includes(x));
  const come = b.filter((x) => !a.includes(x));
  const parts: string[] = [];
  for (const x of gone) {
    const same = come.find((y) => flag(y) !== undefined && flag(y) === flag(x));
    if (same) parts.push(`${flag(x)} ${x.slice(flag(x)!.length + 1)} → ${same.slice(flag(same)!.length + 1)}`);
    else parts.push(`-${x}`);
  }
  for (const y of come) if (!gone.some((x) => flag(x) !== undefined && flag(x) === flag(y))) parts.push(`+${y}`);
  return `${label}: ${parts.join(', ') || 'reordered'}`;
}

function envChange(before: unknown, after: unknown): string | undefined {
  const byName = (env: unknown) => new Map(((env as { name: string }[] | undefined) ?? []).map((e) => [e.name, json(e)]));
  const a = byName(before);
  const b = byName(after);
  const names = [...new Set([...a.keys(), ...b.keys()])].filter((n) => a.get(n) !== b.get(n)).sort();
  return names.length ? `env: ${names.map((n) => (!a.has(n) ? `+${n}` : !b.has(n) ? `-${n}` : `~${n}`)).join(' ')}` : undefined;
}

function resourcesChange(before: unknown, after: unknown): string | undefined {
  const requests = (r: unknown) => ((r as { requests?: Record<string, string> } | undefined)?.requests ?? {}) as Record<string, string>;
  const a = requests(before);
  const b = requests(after);
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).sort();
  if (keys.length) return `resources: ${keys.map((k) => `${k} ${a[k] ?? '—'} → ${b[k] ?? '—'}`).join(', ')}`;
  return json(before) === json(after) ? undefined : 'resources: limits';
}

/** What differs between two pod shapes of one object, in words a reviewer reads. */
function describeChanges(kind: string | undefined, before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const a = container(kind, before);
  const b = container(kind, after);
  const changes = [
    a.image !== b.image ? `image ${String(a.image ?? '—')} → ${String(b.image ?? '—')}` : undefined,
    listChange('command', a.command, b.command),
    listChange('args', a.args, b.args),
    envChange(a.env, b.env),
    resourcesChange(a.resources, b.resources),
    a.storageUri !== b.storageUri ? `weights ${String(a.storageUri ?? '—')} → ${String(b.storageUri ?? '—')}` : undefined,
  ].filter((c): c is string => c !== undefined);
  const containerKeys = new Set(['image', 'command', 'args', 'env', 'resources', 'storageUri']);
  const otherContainer = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !containerKeys.has(k) && json(a[k]) !== json(b[k]));
  if (otherContainer.length) changes.push(`container ${otherContainer.sort().join(', ')}`);
  const podLevel = kind === 'InferenceService' || kind === 'ServingRuntime' ? { ...before } : { ...((before.spec ?? {}) as Record<string, unknown>) };
  const podLevelAfter = kind === 'InferenceService' || kind === 'ServingRuntime' ? { ...after } : { ...((after.spec ?? {}) as Record<string, unknown>) };
  for (const skip of ['model', 'containers', 'spec']) {
    delete podLevel[skip];
    delete podLevelAfter[skip];
  }
  for (const key of [...new Set([...Object.keys(podLevel), ...Object.keys(podLevelAfter)])].sort()) {
    if (json(podLevel[key]) === json(podLevelAfter[key])) continue;
    if (key === 'priorityClassName') changes.push(`priority ${String(podLevel[key] ?? '—')} → ${String(podLevelAfter[key] ?? '—')}`);
    else changes.push(key);
  }
  if (kind !== 'InferenceService' && kind !== 'ServingRuntime' && json(before.metadata) !== json(after.metadata)) {
    const annotations = (m: unknown) => ((m as { annotations?: Record<string, string> } | undefined)?.annotations ?? {}) as Record<string, string>;
    const a2 = annotations(before.metadata);
    const b2 = annotations(after.metadata);
    const keys = [...new Set([...Object.keys(a2), ...Object.keys(b2)])].filter((k) => a2[k] !== b2[k]).sort();
    changes.push(keys.length ? `pod annotations: ${keys.join(', ')}` : 'pod metadata');
  }
  return changes.length ? changes : ['pod spec'];
}

/**
 * What a change that restarts nothing changes, where one number says it: `pods 4 → 6` when an
 * InferenceService only scales, `minAvailable 1 → 2` when a PodDisruptionBudget changes.
 */
function changeDetail(before: KubeObject | undefined, after: KubeObject | undefined): string | undefined {
  const figures: Record<string, [string, (o: KubeObject | undefined) => unknown]> = {
    InferenceService: ['pods', (o) => (o?.spec?.predictor as { minReplicas?: number } | undefined)?.minReplicas],
    PodDisruptionBudget: ['minAvailable', (o) => o?.spec?.minAvailable],
  };
  const figure = figures[after?.kind ?? ''];
  if (!figure || before?.kind !== after?.kind) return undefined;
  const [label, read] = figure;
  const a = read(before);
  const b = read(after);
  return a !== undefined && b !== undefined && a !== b ? `${label} ${String(a)} → ${String(b)}` : undefined;
}

/**
 * The manifest changes between two output trees: which objects replace running pods (and why), and
 * which change without restarting anything. Files that are not Kubernetes objects (the plan) are
 * left to the plan diff.
 */
export function manifestChanges(before: Files, after: Files, files: readonly FileChange[]): ManifestChanges {
  const restarts: PodRestart[] = [];
  const other: ConfigChange[] = [];
  for (const file of files) {
    // Manifests are YAML; the plan and its markdown are the plan diff's.
    if (!/\.ya?ml$/.test(file.path)) continue;
    const old = read(before.get(file.path));
    const now = read(after.get(file.path));
    const object = now ?? old;
    if (!object) continue;
    const oldShape = old && podShape(old);
    const newShape = now && podShape(now);
    if (file.change === 'changed' && oldShape && newShape && json(oldShape) !== json(newShape)) {
      const labels = object.metadata?.labels ?? {};
      const shape = newShape as { nodeSelector?: Record<string, string>; model?: { runtime?: string } };
      restarts.push({
        resource: resourceName(object),
        kind: object.kind!,
        name: object.metadata?.name ?? '',
        ...(object.kind === 'InferenceService' && {
          model: labels[MODEL_LABEL],
          node: shape.nodeSelector?.['kubernetes.io/hostname'],
          replica: labels[REPLICA_LABEL] === undefined ? undefined : replicaId(labels[MODEL_LABEL] ?? '', Number(labels[REPLICA_LABEL])),
          runtime: shape.model?.runtime,
        }),
        ...(object.kind === 'ServingRuntime' && { runtime: object.metadata?.name }),
        changes: describeChanges(object.kind, oldShape, newShape),
      });
    } else {
      const detail = file.change === 'changed' ? changeDetail(old, now) : undefined;
      other.push({ resource: resourceName(object), path: file.path, change: file.change, ...(detail && { detail }) });
    }
  }
  return { restarts, other };
}
