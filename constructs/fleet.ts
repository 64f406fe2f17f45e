import { type App, Chart } from 'cdk8s';
import type { Precision, Spec } from '../api/types.ts';
import type { Plan } from '../planner/types.ts';
import { ArgoCdApplication } from './argocd-application.ts';
import { FleetServing } from './fleet-serving.ts';
import { type FluxStage, FluxSync } from './flux-sync.ts';
import { MANAGED_BY, MANAGED_BY_LABEL } from './labels.ts';
import { FleetMonitoring } from './monitoring.ts';
import { FleetNamespaces } from './namespaces.ts';
import { NodePartitioning } from './node-partitioning.ts';
import { PriorityClasses } from './priority-classes.ts';
import { applySyncWave } from './sync-wave.ts';

export interface FleetChartsInput {
  readonly spec: Spec;
  readonly plan: Plan;
  /** Resolved `--max-model-len` per model name. */
  readonly maxModelLen: ReadonlyMap<string, number>;
  /**
   * vLLM flags selecting a model's precision (dtype, quantization, KV-cache dtype), e.g. sizing's
   * `engineFlags` bound to the model's catalog entry.
   */
  readonly engineFlags: (model: string, precision: Precision) => readonly string[];
}

/**
 * The GitOps stages, in apply order. A chart id is the top-level folder of `dist/`, so renaming
 * one moves every file under it. Argo CD orders by the waves (one Application for the tree);
 * Flux by one Kustomization per folder, each depending on the one before.
 */
export const STAGES = {
  namespaces: { id: 'namespaces', wave: 0 },
  nodeSetup: { id: 'node-setup', wave: 1 },
  /** The ServingRuntime and the model ServiceAccount go first, the models after. */
  serving: { id: 'serving', runtimeWave: 2, modelsWave: 3 },
  /**
   * Only when the Fleet enables monitoring. It waits for the namespaces alone, not for node setup or
   * serving to be healthy: alerts must be in place exactly when partitioning or models are broken.
   */
  monitoring: { id: 'monitoring', wave: 1, after: 'namespaces' },
} as const;

/** Applied once by a human (`kubectl apply -R -f dist/bootstrap`); excluded from the synced tree. */
export const BOOTSTRAP_CHART_ID = 'bootstrap';

/** Flux waits this long for a stage: repartitioning drains nodes, large models load for minutes. */
const STAGE_TIMEOUT = '30m';

const ISVC_READY = {
  apiVersion: 'serving.kserve.io/v1beta1',
  kind: 'InferenceService',
  current: "status.conditions.exists(e, e.type == 'Ready' && e.status == 'True')",
} as const;

/**
 * Builds the fleet's charts into `app`: one chart per stage, plus `bootstrap` when the Fleet asks
 * for Argo CD or Flux. Charts are flat (no nesting, no dependencies, so cdk8s adds no index
 * prefixes to file names), carry no chart namespace (cluster-scoped objects stay namespace-free;
 * each object sets its own), and every object has an explicit name.
 */
export function buildFleetCharts(app: App, input: FleetChartsInput): void {
  const { fleet } = input.spec;
  const chart = (id: string): Chart =>
    new Chart(app, id, { disableResourceNameHashes: true, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } });

  const namespaces = chart(STAGES.namespaces.id);
  new FleetNamespaces(namespaces, 'Namespaces', { modelNamespace: fleet.spec.namespace, systemNamespace: fleet.spec.systemNamespace });
  new PriorityClasses(namespaces, 'PriorityClasses');
  applySyncWave(namespaces, STAGES.namespaces.wave);

  const nodeSetup = chart(STAGES.nodeSetup.id);
  new NodePartitioning(nodeSetup, 'NodePartitioning', {
    namespace: fleet.spec.systemNamespace,
    modelNamespace: fleet.spec.namespace,
    image: fleet.spec.images.partitioner,
    pools: input.spec.pools,
    nodes: input.plan.nodes,
    replicas: input.plan.replicas,
    deviceResourceNaming: fleet.spec.deviceResourceNaming,
    isolation: fleet.spec.isolation,
    backend: fleet.spec.partitioning.backend,
    devicePluginNamespace: fleet.spec.partitioning.gpuOperator.namespace,
    deviceConfig: fleet.spec.partitioning.gpuOperator.deviceConfig,
    gpuClientSystemdServices: fleet.spec.partitioning.gpuOperator.gpuClientSystemdServices,
    maxUnavailableNodes: fleet.spec.partitioning.maxUnavailableNodes,
  });
  applySyncWave(nodeSetup, STAGES.nodeSetup.wave);

  const serving = new FleetServing(chart(STAGES.serving.id), 'Serving', input);
  applySyncWave(serving.runtime, STAGES.serving.runtimeWave);
  applySyncWave(serving.models, STAGES.serving.modelsWave);

  const monitored = fleet.spec.monitoring.enabled;
  if (monitored) {
    const monitoring = chart(STAGES.monitoring.id);
    new FleetMonitoring(monitoring, 'Monitoring', { spec: input.spec, plan: input.plan });
    applySyncWave(monitoring, STAGES.monitoring.wave);
  }

  const { argocd, flux } = fleet.spec.gitops;
  if (!argocd && !flux) return;
  const bootstrap = chart(BOOTSTRAP_CHART_ID);
  if (argocd) {
    new ArgoCdApplication(bootstrap, 'ArgoCd', {
      name: fleet.metadata.name,
      namespace: argocd.namespace,
      project: argocd.project,
      repoURL: argocd.repoURL,
      revision: argocd.revision,
      path: treePath(argocd.path),
      exclude: `${BOOTSTRAP_CHART_ID}/*`,
    });
  }
  if (flux) {
    const stages: FluxStage[] = [
      { id: STAGES.namespaces.id },
      { id: STAGES.nodeSetup.id, timeout: STAGE_TIMEOUT },
      { id: STAGES.serving.id, timeout: STAGE_TIMEOUT, healthCheckExprs: [ISVC_READY] },
      ...(monitored ? [{ id: STAGES.monitoring.id, after: STAGES.monitoring.after }] : []),
    ];
    new FluxSync(bootstrap, 'Flux', {
      name: fleet.metadata.name,
      namespace: flux.namespace,
      interval: flux.interval,
      repoURL: flux.repoURL,
      revision: flux.revision,
      path: treePath(flux.path),
      stages,
    });
  }
}

/** `./dist/` → `dist`; the repository root is `.`. */
function treePath(path: string): string {
  return path.replace(/^\.\//, '').replace(/\/+$/, '') || '.';
}
